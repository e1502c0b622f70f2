"""Independent SymPy statement of the margin-based softmax losses and their gradients.

One module per head (``HEADS`` -> ``MODULES``) holds the symbolic logits, the derived
gradients and the proofs; :mod:`derivations.oracle` lambdifies them into the float64 oracle
the tests compare the PyTorch implementation against; :mod:`derivations.render` writes
``reports/derivations.md``.  This package imports only numpy and sympy: never
``paper_repro`` or torch, so that the comparison stays independent.
"""

from __future__ import annotations

from derivations import (
    arcface,
    asoftmax,
    bdlmcl,
    common,
    equations,
    jacobian,
    lmcl,
    lsoftmax,
    softmax_ce,
)
from derivations.common import Proof

HEADS = ("softmax", "lsoftmax", "asoftmax", "lmcl", "arcface", "bdlmcl")
MODULES = {
    "softmax": softmax_ce,
    "lsoftmax": lsoftmax,
    "asoftmax": asoftmax,
    "lmcl": lmcl,
    "arcface": arcface,
    "bdlmcl": bdlmcl,
}


def all_proofs() -> list[Proof]:
    """Every proof: the shared identities first, then each head's, in ``HEADS`` order."""
    shared = [*common.proofs(), *jacobian.proofs()]
    return [*shared, *(p for head in HEADS for p in MODULES[head].proofs())]


__all__ = ["HEADS", "MODULES", "Proof", "all_proofs", "equations"]
