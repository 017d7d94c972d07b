"""The import graph of edgekd/ has no cycles: not between modules (imports inside
functions counted, they are loops all the same), and not between the packages (a
subpackage such as edgekd.reference, or a top-level module such as edgekd.registry),
so no import runs back up to a layer that imports the importer."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgekd"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the edgekd modules it imports (anywhere in its body)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if _type_checking(block)
                       for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                names = {f"{base}.{a.name}" for a in node.names}
                # ``from package import module`` needs the module; the package itself
                # is imported first in any case, as every module's parent is.
                found.update(names & set(modules) or {base})
                found.update(names & set(modules))
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _type_checking(node: ast.AST) -> bool:
    """An ``if TYPE_CHECKING:`` block: imports for annotations only, never run."""
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and \
        node.test.id == "TYPE_CHECKING"


def layer(module: str) -> str:
    """edgekd.<sub>: a subpackage or a top-level module."""
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    layers: dict[str, set[str]] = {}
    for module, targets in graph.items():
        # A package's __init__ re-exports its modules: it is the package's face, not a layer
        # of its own, so edgekd/__init__.py is left out.
        if module == "edgekd":
            continue
        layers.setdefault(layer(module), set()).update(
            layer(t) for t in targets if t != "edgekd" and layer(t) != layer(module))
    return layers


def test_no_module_imports_itself_back():
    assert cycles(imports()) == []


def test_no_package_imports_back_up():
    assert cycles(package_graph(imports())) == []
