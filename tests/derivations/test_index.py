"""The equation index names only things that exist: proofs, implementation, tests, anchors."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import derivations
from derivations import equations, render
from derivations.equations import Equation

ROOT = Path(__file__).resolve().parents[2]
PROOF_NAMES = {p.name for p in derivations.all_proofs()}


def resolves(name: str) -> bool:
    """``package.module:Attr.attr`` names an importable object."""
    module_name, _, attribute = name.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError:
        return False
    for part in attribute.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return callable(obj)


def _parametrize_ids(function) -> set[str]:
    ids = set()
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize":
            ids |= {str(i) for i in mark.kwargs.get("ids") or mark.args[1]}
    return ids


def test_exists(node_id: str) -> bool:
    """``path/test_file.py::test_function[param]`` names a collected test function (and, when
    given, one of its parametrize ids)."""
    path, _, rest = node_id.partition("::")
    function_name, _, param = rest.partition("[")
    if not (ROOT / path).is_file() or not function_name.startswith("test_"):
        return False
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    function = getattr(module, function_name, None)
    if function is None:
        return False
    return not param or param.rstrip("]") in _parametrize_ids(function)


test_exists.__test__ = False  # a helper, not a test


@pytest.mark.parametrize(
    "equation", derivations.EQUATIONS, ids=[e.key for e in derivations.EQUATIONS]
)
def test_every_entry_resolves(equation: Equation):
    groups = render.proofs_by_equation(derivations.all_proofs())
    assert groups[equation.label], f"{equation.label}: no proof cites it"
    assert equation.implementation and equation.tests
    for name in equation.implementation:
        assert resolves(name), f"{equation.key}: implementation {name} does not exist"
    for node in equation.tests:
        assert test_exists(node), f"{equation.key}: test {node} does not exist"


def test_every_proof_cites_an_indexed_equation():
    labels = set(derivations.BY_LABEL)
    assert len(labels) == len(derivations.EQUATIONS)
    assert len({e.key for e in derivations.EQUATIONS}) == len(derivations.EQUATIONS)
    for p in derivations.all_proofs():
        assert p.paper_ref in labels, f"{p.name} cites {p.paper_ref!r}, not in the index"


def test_rendered_index_links_every_equation_to_its_section():
    text = render.render()
    index = text.split("## Equation index", 1)[1].split("## Reading this document", 1)[0]
    for e in derivations.EQUATIONS:
        assert f'<a id="{render.anchor(e)}"></a>' in text, e.key
        row = next(line for line in index.splitlines() if line.startswith(f"| {e.label} |"))
        assert f"(#{render.anchor(e)})" in row
        for p in render.proofs_by_equation(derivations.all_proofs())[e.label]:
            assert f"`{p.name}`" in row


def test_labels_say_when_the_numbering_is_not_confirmed():
    """Only the numbers a source text confirms appear without the caveat."""
    confirmed = {"L-Softmax eq. 1", "L-Softmax eq. 4", "L-Softmax eq. 6", "L-Softmax eq. 7"}
    for e in derivations.EQUATIONS:
        if " eq. " in e.label or " eqs. " in e.label:
            assert e.label in confirmed or "not confirmed" in e.label, e.label


@pytest.mark.parametrize(
    "bogus",
    [
        "paper_repro.losses.functional:no_such_function",
        "paper_repro.no_such_module:psi",
        "paper_repro.losses.angular:math",
    ],
)
def test_a_missing_implementation_is_caught(bogus):
    assert not resolves(bogus)


@pytest.mark.parametrize(
    "bogus",
    [
        "tests/losses/test_against_sympy.py::test_no_such_test",
        "tests/losses/no_such_file.py::test_random_batches_match_sympy",
        f"{equations.T_MUTANT}[no-such-mutant]",
    ],
)
def test_a_missing_test_is_caught(bogus):
    assert not test_exists(bogus)
