"""docs/supported.md is what `python -m edgekd.supported` prints today."""
from pathlib import Path

from edgekd.supported import supported_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "supported.md"


def test_supported_doc_is_current():
    assert DOC.read_text() == supported_markdown(), (
        "docs/supported.md is stale: run `python -m edgekd.supported > docs/supported.md`")


def test_edgekd_ops_lists_every_registered_op_and_what_reads_it(capsys):
    from edgekd.cli import main
    from edgekd.registry import OP_SPECS
    from edgekd.supported import op_rows

    assert [r["op"] for r in op_rows()] == list(OP_SPECS)
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "SPLIT_V" in out and "ekd_copy_s8" in out and "REQUANTIZE" in out
    assert main(["ops", "--markdown"]) == 0
    assert capsys.readouterr().out == supported_markdown()
