"""docs/supported.md is what `python -m edgekd.supported` prints today."""
from pathlib import Path

from edgekd.supported import supported_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "supported.md"


def test_supported_doc_is_current():
    assert DOC.read_text() == supported_markdown(), (
        "docs/supported.md is stale: run `python -m edgekd.supported > docs/supported.md`")
