"""The rule for adding an op and a kernel (docs/design.md, "Adding an op"): everything about
an op is found from its registry entry and its kernel-table rows alone, where the rule
puts it, and nowhere else."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekd.codegen import kernel_table
from edgekd.registry import OP_SPECS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "runtime_c" / "src"
TEMPLATES = ROOT / "templates" / "layers"
# ekd_<op>[_<algo>]_s8[_<isa>] (the float kernels: _f32_s8, _s8_f32, _f32)
KERNEL_NAME = re.compile(r"ekd_[a-z0-9_]+?_(s8|f32)(_(mve|dsp|v6m))?")


def definitions(name: str) -> list[str]:
    """The runtime_c/src files that define C function ``name``."""
    pattern = re.compile(rf"^ekd_status {name}\(", re.MULTILINE)
    return sorted(f.name for f in SOURCES.glob("*.c") if pattern.search(f.read_text()))


def kernels_of(op: str) -> list[tuple[str, str]]:
    """(function, source) of every kernel the op's rows declare, fused entry points too."""
    pairs = []
    for row in kernel_table.rows_of(op):
        pairs.append((row.name, row.source))
        if row.fused:
            pairs.append((row.fused, row.source))
    return pairs


@pytest.mark.parametrize("op", sorted(OP_SPECS))
def test_each_op_is_where_the_rule_says(op):
    spec = OP_SPECS[op]
    module = spec.reference.__module__
    assert module.startswith("edgekd.reference."), f"{op}: reference in {module}"
    assert (TEMPLATES / f"{spec.template}.c.j2").is_file(), f"{op}: no template {spec.template}"
    if spec.c_kernel is None:
        assert not kernel_table.rows_of(op)
        return
    assert kernel_table.portable_row(op).name == spec.c_kernel
    for name, source in kernels_of(op):
        assert KERNEL_NAME.fullmatch(name), f"{name}: not ekd_<op>[_<algo>]_s8[_<isa>]"
        assert definitions(name) == [source], f"{name}: defined in {definitions(name)}"


def test_every_row_belongs_to_a_registry_op():
    assert {row.op for row in kernel_table.KERNELS} <= set(OP_SPECS)
    names = [row.name for row in kernel_table.KERNELS]
    assert len(names) == len(set(names)), "a kernel declared twice"
