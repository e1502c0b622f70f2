"""The rendered report is deterministic and the committed copy is current."""

from __future__ import annotations

from pathlib import Path

import sympy as sp

from derivations import render

REPORT = Path(__file__).resolve().parents[2] / "reports" / "derivations.md"


def test_report_is_current_and_deterministic():
    text = render.render()
    assert text == render.render()
    assert f"SymPy {sp.__version__}" in text.splitlines()[2]
    assert REPORT.read_text(encoding="utf-8") == text, (
        "reports/derivations.md is stale: run `python -m derivations.render`"
    )
