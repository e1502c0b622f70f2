"""Independent SymPy statement of the margin-based softmax losses and their gradients.

One module per head holds the symbolic logits, the derived gradients and the proofs, and
declares itself (``KEY``, the oracle's ``PARAMS``, ``logit_spec`` taking the ``STRUCTURAL``
parameter if any, the index's ``EQUATIONS``): the registries below are built from those
declarations.
:mod:`derivations.oracle` lambdifies them into the float64 oracle the tests compare the
PyTorch implementation against; :mod:`derivations.render` writes ``reports/derivations.md``.
This package imports only numpy and sympy: never ``paper_repro`` or torch, so that the
comparison stays independent.
"""

from __future__ import annotations

from derivations import (
    arcface,
    asoftmax,
    bdlmcl,
    combined,
    common,
    equations,
    jacobian,
    lmcl,
    lsoftmax,
    softmax_ce,
)
from derivations.common import Proof

# the registry: a new head is one module and one entry here
MODULES = {
    module.KEY: module
    for module in (softmax_ce, lsoftmax, asoftmax, lmcl, arcface, bdlmcl, combined)
}
HEADS = tuple(MODULES)
# the equation index, in the order of the document: shared first, then head by head
SECTIONS: dict[str, tuple[equations.Equation, ...]] = {
    "common": equations.COMMON,
    **{key: module.EQUATIONS for key, module in MODULES.items()},
}
EQUATIONS = tuple(e for group in SECTIONS.values() for e in group)
BY_LABEL = {e.label: e for e in EQUATIONS}


def all_proofs() -> list[Proof]:
    """Every proof: the shared identities first, then each head's, in ``HEADS`` order."""
    shared = [*common.proofs(), *jacobian.proofs()]
    return [*shared, *(p for head in HEADS for p in MODULES[head].proofs())]


__all__ = [
    "BY_LABEL",
    "EQUATIONS",
    "HEADS",
    "MODULES",
    "SECTIONS",
    "Proof",
    "all_proofs",
    "equations",
]
