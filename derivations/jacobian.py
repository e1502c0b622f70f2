"""The normalisation-Jacobian route of the hand-written backward, against the dcos route.

The implementation never forms dcos/dx: it normalises x and W (u = v/|v|), multiplies, and
in the backward applies the Jacobian of v -> v/|v|, ``J(v) = (I - u uᵀ)/|v|``, to the
gradient of the normalised vectors.  These proofs say that route is the same mathematics as
the ``dcos/dx = (Ŵ - cos θ x̂)/|x|`` route the derivations use, in any dimension D, entry by
entry, with the true norms.  Proof names start with ``common-``: they hold for every
normalising head.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import equations
from derivations.common import (
    DIM,
    J_ANY,
    K_ANY,
    W_ANY,
    X_ANY,
    Proof,
    indexed_dot,
    indexed_norm,
    indexed_sum,
    is_zero_within,
)

REF = equations.NORMALISE.label
DETAIL = "any dimension D: entries (j, k), 1 <= j, k <= D, with the norms as sums over 1..D"


def normalise_jacobian(v: sp.IndexedBase, j, k) -> sp.Expr:
    """Entry (j, k) of ``(I - u uᵀ)/|v|`` with ``u = v/|v|``, as the implementation applies it."""
    norm = indexed_norm(v)
    return (sp.KroneckerDelta(j, k) - v[j] * v[k] / norm**2) / norm


def _jacobian_proof() -> Proof:
    exact = sp.diff(X_ANY[J_ANY] / indexed_norm(X_ANY), X_ANY[K_ANY])
    return Proof(
        "common-normalise-jacobian",
        REF,
        r"\frac{\partial (v / \lVert v \rVert)}{\partial v} = "
        r"\left(I - u u^{T}\right) / \lVert v \rVert, \quad u = v / \lVert v \rVert",
        is_zero_within(exact - normalise_jacobian(X_ANY, J_ANY, K_ANY), DIM, J_ANY, K_ANY),
        f"{DETAIL}: d(x_j/|x|)/dx_k minus entry (j, k) of (I - u uᵀ)/|x| is 0",
    )


def _symmetric_proof() -> Proof:
    return Proof(
        "common-normalise-jacobian-symmetric",
        REF,
        "J^{T} = J",
        is_zero_within(
            normalise_jacobian(X_ANY, J_ANY, K_ANY) - normalise_jacobian(X_ANY, K_ANY, J_ANY),
            DIM,
            J_ANY,
            K_ANY,
        ),
        f"{DETAIL}: J_jk - J_kj is 0: the chain rule applies Jᵀ, which is J, so a literal "
        "transposition of J cannot be a bug; the planted 'transposed' mutant transposes the "
        "batched form instead (Uᵀ U over all rows in place of each row's u uᵀ)",
    )


def _route_proofs() -> list[Proof]:
    nx, nw = indexed_norm(X_ANY), indexed_norm(W_ANY)
    cos = indexed_dot(X_ANY, W_ANY) / (nx * nw)
    j = J_ANY

    def applied(v, other, other_norm):
        # (J(v)ᵀ û)_j = sum_k J_kj û_k, summed over the k of 1..D
        return indexed_sum(lambda k: normalise_jacobian(v, k, j) * other[k] / other_norm)

    dcos_dx = (W_ANY[j] / nw - cos * X_ANY[j] / nx) / nx
    dcos_dw = (X_ANY[j] / nx - cos * W_ANY[j] / nw) / nw
    detail = (f"{DETAIL}: component j of J(v) applied to the other unit vector minus the dcos "
              "route is 0")  # fmt: skip
    return [
        Proof(
            "common-normalise-route-equals-dcos-dx",
            REF,
            r"J(x)^{T} \hat W = (\hat W - \cos\theta \, \hat x) / \lVert x \rVert",
            is_zero_within(applied(X_ANY, W_ANY, nw) - dcos_dx, DIM, j),
            detail,
        ),
        Proof(
            "common-normalise-route-equals-dcos-dW",
            REF,
            r"J(W)^{T} \hat x = (\hat x - \cos\theta \, \hat W) / \lVert W \rVert",
            is_zero_within(applied(W_ANY, X_ANY, nx) - dcos_dw, DIM, j),
            detail,
        ),
    ]


@functools.cache
def proofs() -> list[Proof]:
    return [_jacobian_proof(), _symmetric_proof(), *_route_proofs()]
