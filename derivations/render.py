"""Render every derivation and proof verdict to GitHub-flavoured Markdown.

    python -m derivations.render [--out reports/derivations.md]

All formulas are printed by ``sympy.latex`` from the objects the derivations and proofs
use; the output is deterministic (no timestamps), so regenerating gives an identical file.
The equation index at the top is generated from :mod:`derivations.equations` and the proofs'
``paper_ref``: one row per equation, its section, proofs, implementation and tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sympy as sp

from derivations import EQUATIONS, HEADS, MODULES, SECTIONS, all_proofs, jacobian
from derivations.common import Proof, Step
from derivations.equations import Equation

COMMAND = "python -m derivations.render --out reports/derivations.md"
DEFAULT_OUT = Path("reports/derivations.md")
PROOF_TEST = "tests/derivations/test_proofs.py::test_proof_holds"
SHARED_TITLE = "Shared identities"


def anchor(equation: Equation) -> str:
    return f"eq-{equation.key}"


def head_anchor(section: str) -> str:
    return f"section-{section}"


def proofs_by_equation(proofs: list[Proof]) -> dict[str, list[Proof]]:
    """Proofs grouped under the equation they cite, in proof order."""
    groups: dict[str, list[Proof]] = {e.label: [] for e in EQUATIONS}
    for p in proofs:
        groups.setdefault(p.paper_ref, []).append(p)
    return groups


def _verdict(proof: Proof) -> str:
    return "holds" if proof.holds else "**FAILS**"


def _code_list(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _index(groups: dict[str, list[Proof]]) -> list[str]:
    lines = [
        "| equation (as printed) | section | proofs (pytest ids) | implementation | tests |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in EQUATIONS:
        lines.append(
            f"| {e.label} | [{e.key}](#{anchor(e)}) | {_code_list(p.name for p in groups[e.label])}"
            f" | {_code_list(e.implementation)} | {_code_list(e.tests)} |"
        )
    return [*lines, ""]


def _proof_lines(proofs: list[Proof]) -> list[str]:
    lines = ["| proof | verdict |", "| --- | --- |"]
    lines += [f"| `{p.name}` | {_verdict(p)} |" for p in proofs]
    lines.append("")
    for p in proofs:
        lines += [f"- `{p.name}`: {_verdict(p)}", "", "$$", p.statement, "$$", ""]
        lines += [f"  How decided: {p.detail}.", ""]
    return lines


def _equation_section(e: Equation, proofs: list[Proof]) -> list[str]:
    return [
        f'<a id="{anchor(e)}"></a>',
        "",
        f"### {e.label}",
        "",
        f"{e.what}. Source: {e.checked}. Code: {_code_list(e.implementation)}. "
        f"Tests: {_code_list(e.tests)}.",
        "",
        *_proof_lines(proofs),
    ]


def _step_section(steps: list[Step]) -> list[str]:
    lines: list[str] = []
    number = 0
    for st in steps:
        if not st.latex:
            # A title-only step introduces a group of concrete steps.
            lines += [f"#### {st.title} ({st.paper_ref})", ""]
            continue
        number += 1
        lines += [f"{number}. **{st.title}** ({st.paper_ref})", "", "$$", st.latex, "$$", ""]
    return lines


def _titles() -> dict[str, str]:
    return {"common": SHARED_TITLE, **{h: MODULES[h].TITLE for h in HEADS}}


def _contents() -> list[str]:
    lines = [
        "- [Equation index](#equation-index)",
        "- [Reading this document](#reading-this-document)",
        "- [Summary](#summary)",
    ]
    for section, title in _titles().items():
        lines.append(f"- [{title}](#{head_anchor(section)})")
        lines += [f"  - [{e.label}](#{anchor(e)})" for e in SECTIONS[section]]
    return [*lines, ""]


def _summary(groups: dict[str, list[Proof]]) -> list[str]:
    lines = ["| section | proofs | holding |", "| --- | --- | --- |"]
    for section, title in _titles().items():
        proofs = [p for e in SECTIONS[section] for p in groups[e.label]]
        lines.append(f"| {title} | {len(proofs)} | {sum(p.holds for p in proofs)} |")
    return [*lines, ""]


_READING = [
    "Notation: $x$ is the feature, $W_j$ the weight row of class $j$, $y$ the label, "
    "$\\cos\\theta_j = W_j^T x / (\\lVert W_j \\rVert \\lVert x \\rVert)$. "
    "Every logit is a SymPy expression in $\\lVert x \\rVert$, $\\lVert W_j \\rVert$ and "
    "$\\cos\\theta_j$; its vector gradients follow from the scalar partials and the shared "
    "vector identities, and the loss gradient from $\\partial CE / \\partial f_j = "
    "p_j - \\mathbb{1}[j = y]$. A verdict is what SymPy computed; a failed proof is shown "
    "as **FAILS**, never forced.",
    "",
    f'- A proof\'s name is its pytest id: `pytest "{PROOF_TEST}[<name>]"` re-decides it.',
    "- Implementation names are `module:attribute` in `paper_repro`; tests are pytest node ids. "
    "`tests/derivations/test_index.py` resolves every name in the index, so a rename fails it.",
    "- Labels were checked against the source texts in `../shared/papers/` (blog posts; the "
    "formulas that were images are missing there). Each section says which text confirms its "
    "number; where none does, the label says *numbering not confirmed*. The walkthrough "
    "confirms L-Softmax eqs. 1, 4, 6, 7 and that eqs. 8-10 are the forward and backward for "
    "general m, not which of the three is which. No text prints a CosFace, SphereFace or "
    "ArcFace equation number: those labels keep this project's numbers, marked unconfirmed.",
    "- *Against printed forms* means the derived expression was compared with a closed form "
    "written as the paper prints it (L-Softmax eqs. 7-10 and the m = 2 example, as "
    "reconstructed: the source texts lost those images) or with numbers printed in the texts "
    "(the worked numbers). The A-Softmax, LMCL and ArcFace gradients, the λ-blended gradient "
    "and the normalisation-Jacobian route are closed forms written out here, not printed in "
    "any source. The remaining proofs are structural: reductions at m = 1 or 0, "
    "orthogonality, monotonicity, continuity, the ArcFace jump, BD-LMCL's bounds.",
    "",
]


def render() -> str:
    proofs = all_proofs()
    groups = proofs_by_equation(proofs)
    lines = [
        "# Derivations of the margin-based softmax losses",
        "",
        f"> Generated by `{COMMAND}` with SymPy {sp.__version__}. Do not edit by hand: "
        "change `derivations/` and regenerate.",
        "",
        "## Contents",
        "",
        *_contents(),
        "## Equation index",
        "",
        *_index(groups),
        "## Reading this document",
        "",
        *_READING,
        "## Summary",
        "",
        *_summary(groups),
        f'<a id="{head_anchor("common")}"></a>',
        "",
        f"## {SHARED_TITLE} (`derivations.common`, `{jacobian.__name__}`)",
        "",
        "Vector identities, the chain rule that turns scalar partials into vector gradients "
        "for any logit of the form F(|x|, |W_j|, cos θ_j), and the normalisation Jacobian "
        "the implementation's backward applies.",
        "",
    ]
    for e in SECTIONS["common"]:
        lines += _equation_section(e, groups[e.label])
    for head in HEADS:
        module = MODULES[head]
        lines += [
            f'<a id="{head_anchor(head)}"></a>',
            "",
            f"## {module.TITLE} (head `{head}`, `{module.__name__}`)",
            "",
            module.DESCRIPTION,
            "",
            "### Derivation",
            "",
            *_step_section(module.steps()),
        ]
        for e in SECTIONS[head]:
            lines += _equation_section(e, groups[e.label])
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown file to write")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(), encoding="utf-8")
    failed = [p.name for p in all_proofs() if not p.holds]
    print(f"wrote {args.out}" + (f"; FAILED proofs: {', '.join(failed)}" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
