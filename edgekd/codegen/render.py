"""Render a Graph into C sources: ``<name>.h``, ``<name>.c``, ``<name>_weights.c`` and a
CMake fragment ``<name>.cmake``, from the Jinja templates in ``templates/``.

Python decides everything here (parameters, offsets, symbol names, the text of every
number); the templates only lay the text out. The same graph always gives byte-identical
files: nothing depends on dict order, time, paths or the host.
"""
from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from edgekd.atomic import exchange
from edgekd.codegen.identifiers import (
    IdentifierScope, c_comment_name, c_identifier, reserved_model_name,
)
from edgekd.codegen.prepare import forget, layer_record
from edgekd.codegen.choice import generator_graph, plan_for
from edgekd.codegen.layers import (
    C_TYPES, LayerCode, WeightArray, arena_pointer, c_float, guard_weights, layer_code,
)
from edgekd.codegen.plan_check import check_plan
from edgekd.codegen.planner import ALIGNMENT, ARENA, INPUT, ArenaPlan, align_up
from edgekd.errors import EdgeKDError, GraphError
from edgekd.ir import Graph, Tensor
from edgekd.resources import TEMPLATES_DIR
from edgekd.shapes import graph_macs


@dataclass(frozen=True)
class BoundaryTensor:
    """The model's input or output as the header describes it."""

    name: str  # comment-safe model name of the tensor
    ctype: str
    shape: tuple[int, ...]
    size: int  # elements
    nbytes: int
    scale: str | None  # C float literal, None for a float tensor without quantization
    scale_exact: str | None  # the scale with 17 significant digits, for the comment
    zero_point: int | None


@dataclass(frozen=True)
class GeneratedModel:
    """Everything ``generate`` derived from the graph, for callers that need more than text."""

    name: str
    files: dict[str, str]
    graph: Graph  # as generated: residual ADDs fused, kernels chosen (codegen/choice.py)
    plan: ArenaPlan
    layers: list[LayerCode]
    weights: list[WeightArray]
    tensor_dtypes: dict[str, np.dtype]  # every activation tensor's numpy dtype
    tensor_shapes: dict[str, tuple[int, ...]]
    # The arena of a build without the Arm DSP extension (the host's, a Cortex-M3's):
    # the plan's, plus the scratch of kernels it calls past the plan's end (codegen/prepare.py).
    portable_arena_bytes: int = 0

    @property
    def weights_bytes(self) -> int:
        """Bytes of constants a build without target-specific kernels holds."""
        return sum(w.nbytes for w in self.weights if w.neutral)


def model_identifier(name: str) -> str:
    """``name`` if it is a valid C identifier to prefix the model's symbols, outside the
    runtime's namespace (identifiers.reserved_model_name), else an error."""
    if c_identifier(name) != name:
        raise EdgeKDError(f"model name {name!r} is not a C identifier; "
                          f"use e.g. {c_identifier(name, fallback='model')!r}")
    if reserved_model_name(name):
        raise EdgeKDError(f"model name {name!r} is reserved: names ekd, edgekd and those "
                          "beginning ekd_ or edgekd_ belong to the C runtime; choose another "
                          "(--name, or rename the file)")
    return name


def generate(graph: Graph, name: str, plan: ArenaPlan | None = None) -> dict[str, str]:
    """The C sources of ``graph`` as {filename: text}; ``name`` prefixes every symbol."""
    return generate_model(graph, name, plan).files


def generate_model(graph: Graph, name: str, plan: ArenaPlan | None = None) -> GeneratedModel:
    """As ``generate``, also returning the plan, layers and weights it used.

    ``plan`` overrides the planner and skips the plan's proof (tests use it to check that
    a wrong plan is caught); the planner's own plan is refused with ``InternalError``
    unless codegen/plan_check.py proves it safe.
    """
    name = model_identifier(name)
    graph.validate()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphError(f"graph {graph.name!r}: generated code supports one input and one "
                         f"output, the model has {len(graph.inputs)} and {len(graph.outputs)}")
    forget()  # the previous model's records
    graph = generator_graph(graph)
    if plan is None:
        plan = plan_for(graph)
        check_plan(graph, plan)
    weights: dict[str, WeightArray] = {}
    layers = [layer_code(graph, plan, index, node, name, weights)
              for index, node in enumerate(graph.nodes)]
    weight_list = guard_weights(layers, list(weights.values()))
    past = [layer_record(graph, node).past_plan_scratch for node in graph.nodes]
    portable_arena_bytes = plan.arena_bytes + align_up(max(past, default=0))
    context = {
        "name": name,
        "NAME": name.upper(),
        "source": c_comment_name(graph.name),
        "input": _boundary(graph.tensor(graph.inputs[0])),
        "output": _boundary(graph.tensor(graph.outputs[0])),
        "arena_bytes": plan.arena_bytes,
        "alignment": ALIGNMENT,
        "lower_bound": plan.lower_bound,
        "layers": layers,
        "weights": weight_list,
        "weights_bytes": sum(w.nbytes for w in weight_list if w.neutral),
        "macs": graph_macs(graph),
        "tensor_ids": _tensor_ids(plan, name),
        "arena_pointers": _arena_pointers(graph, plan),
        "poison_at_start": _poison_at_start(plan),
        "io_offsets": plan.io_offsets,
        "portable_arena_bytes": portable_arena_bytes,
        "past_layers": [i for i, nbytes in enumerate(past) if nbytes],
        "any_kernel": any(layer.kernel for layer in layers),
        "needs_string_h": any(layer.needs_memmove for layer in layers),
    }
    env = _environment()
    files = {
        f"{name}.h": env.get_template("model.h.j2").render(context),
        f"{name}.c": env.get_template("model.c.j2").render(context),
        f"{name}_weights.c": env.get_template("weights.c.j2").render(context),
        f"{name}.cmake": env.get_template("model.cmake.j2").render(context),
    }
    files = _stamped(files, name)
    activations = [graph.tensor(t) for t in plan.tensors]
    return GeneratedModel(name, files, graph, plan, layers, weight_list,
                          tensor_dtypes={t.name: np.dtype(t.dtype) for t in activations},
                          tensor_shapes={t.name: t.shape for t in activations},
                          portable_arena_bytes=portable_arena_bytes)


def _stamped(files: dict[str, str], name: str) -> dict[str, str]:
    """The files with one generation stamp (a hash of them all) defined in the header and
    checked by each C file: sources of two compiles mixed in one folder do not build."""
    digest = hashlib.sha256()
    for filename in sorted(files):
        digest.update(filename.encode() + b"\0" + files[filename].encode() + b"\0")
    macro = f"{name.upper()}_GENERATION"
    stamp = f"0x{digest.hexdigest()[:8]}u"
    guard = f"#define EDGEKD_MODEL_{name.upper()}_H\n"
    header = files[f"{name}.h"]
    stamped = {**files, f"{name}.h": header.replace(
        guard, f"{guard}\n/* This compile's stamp: every generated .c file checks it. */\n"
               f"#define {macro} {stamp}\n", 1)}
    check = (f"\n#if {macro} != {stamp}\n#error \"{name}.h and this file come from "
             f"different edgekd compiles: compile the model again\"\n#endif\n")
    for filename in (f"{name}.c", f"{name}_weights.c"):
        stamped[filename] = files[filename] + check
    return stamped


def write_sources(graph: Graph, out_dir: str | os.PathLike, name: str,
                  plan: ArenaPlan | None = None) -> GeneratedModel:
    """Generate and write the sources into ``out_dir``; returns what was generated.

    ``out_dir`` holds either the previous complete set of files or the new one, never a
    mix, whenever the process stops (``write_files``).
    """
    model = generate_model(graph, name, plan)
    write_files(model, out_dir)
    return model


STAGING_TAG = ".edgekd-staging."


def write_files(model: GeneratedModel, out_dir: str | os.PathLike) -> None:
    """Write generated files into ``out_dir``, as a whole.

    The files are written into a staging folder beside ``out_dir`` (named with this
    process's id), which then takes ``out_dir``'s place in one step: a rename where
    there is no ``out_dir`` yet, an atomic exchange (Linux renameat2) where it holds
    nothing but an earlier compile's files of this model, the old files then deleted.
    Where ``out_dir`` holds other files too (or the file system cannot exchange), each
    file is replaced by a rename, and the generation stamp every C file checks
    (``_stamped``) stops a mixed set from building. Staging folders left by killed
    compiles are deleted; compiles into one place at once each leave a complete set.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EdgeKDError(f"{out}: exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGING_TAG}{os.getpid()}.",
                                    dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would otherwise become out_dir's mode
    try:
        for filename, text in model.files.items():
            with open(staging / filename, "w", encoding="ascii") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
        if not out.exists():
            try:
                os.rename(staging, out)
                return
            except OSError:  # another compile made it first: replace its files below
                pass
        if set(os.listdir(out)) <= set(model.files) and exchange(staging, out):
            return  # the finally clause deletes the old files, now in staging
        for filename in model.files:
            os.replace(staging / filename, out / filename)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(out: Path) -> None:
    """Delete staging folders of ``out`` whose compile is no longer running."""
    prefix = f".{out.name}{STAGING_TAG}"
    for entry in out.parent.glob(f"{glob.escape(prefix)}*"):
        pid = entry.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["designated"] = designated_initializers
    return env


def designated_initializers(fields: list[tuple[str, int]], width: int = 76) -> list[str]:
    """``.field = value,`` items packed into lines of at most ``width`` characters."""
    lines: list[str] = []
    for item in (f".{name} = {value}," for name, value in fields):
        if lines and len(lines[-1]) + 1 + len(item) <= width:
            lines[-1] += " " + item
        else:
            lines.append(item)
    return lines


def _boundary(tensor: Tensor) -> BoundaryTensor:
    q = tensor.quant
    per_tensor = q is not None and q.scale.size == 1
    return BoundaryTensor(
        name=c_comment_name(tensor.name),
        ctype=C_TYPES[tensor.dtype],
        shape=tensor.shape,
        size=tensor.size,
        nbytes=tensor.nbytes,
        scale=c_float(q.scale[0]) if per_tensor else None,
        scale_exact=f"{float(np.float32(q.scale[0])):.17g}" if per_tensor else None,
        zero_point=int(q.zero_point[0]) if per_tensor else None,
    )


def _poison_at_start(plan: ArenaPlan) -> list[tuple[int, int]]:
    """(offset, bytes) of the arena to poison before the first layer: all of it but the
    input's place (the caller may have put the input there)."""
    if plan.arena_bytes == 0:
        return []
    if INPUT not in plan.io_offsets:
        return [(0, plan.arena_bytes)]
    start = plan.io_offsets[INPUT]
    end = start + align_up(sum(p.nbytes for p in plan.tensors.values()
                               if p.location == INPUT and p.alias_of is None))
    return [(a, b - a) for a, b in ((0, start), (end, plan.arena_bytes)) if b > a]


def _arena_pointers(graph: Graph, plan: ArenaPlan) -> list[tuple[str, str, int, str]]:
    """(C type, pointer name, offset, tensor name for the comment) of every arena tensor
    a layer reads or writes, in tensor id order: one named pointer each, declared once."""
    used = {n for node in graph.nodes for n in (*node.inputs, *node.outputs)
            if n and not graph.tensor(n).is_constant}
    pointers = []
    for p in sorted(plan.tensors.values(), key=lambda p: p.tensor_id):
        if p.location == ARENA and p.name in used:
            pointers.append((C_TYPES[graph.tensor(p.name).dtype], arena_pointer(p.tensor_id),
                             p.offset, c_comment_name(p.name)))
    return pointers


def _tensor_ids(plan: ArenaPlan, name: str) -> list[tuple[str, int]]:
    scope = IdentifierScope()
    prefix = f"{name.upper()}_TENSOR_"
    ids = sorted(plan.tensors.values(), key=lambda p: p.tensor_id)
    return [(scope.unique(p.name, prefix=prefix), p.tensor_id) for p in ids]


