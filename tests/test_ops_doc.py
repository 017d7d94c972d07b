"""docs/ops.md is the registry's op table as `edgekd ops --markdown` prints it."""
from __future__ import annotations

from pathlib import Path

from edgekd.cli import main
from edgekd.ops_table import ops_markdown, op_rows
from edgekd.registry import OP_SPECS

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"


def test_docs_ops_md_is_current():
    assert DOC.read_text() == ops_markdown(), \
        "docs/ops.md is stale: run `python -m edgekd.cli ops --markdown > docs/ops.md`"


def test_every_registered_op_is_listed_with_what_reads_it(capsys):
    assert [r["op"] for r in op_rows()] == sorted(OP_SPECS)
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "SPLIT_V" in out and "ekd_copy_s8" in out and "REQUANTIZE" in out
