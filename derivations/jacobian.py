"""The normalisation-Jacobian route of the hand-written backward, against the dcos route.

The implementation never forms dcos/dx: it normalises x and W (u = v/|v|), multiplies, and
in the backward applies the Jacobian of v -> v/|v|, ``J(v) = (I - u uᵀ)/|v|``, to the
gradient of the normalised vectors.  These proofs say that route is the same mathematics as
the ``dcos/dx = (Ŵ - cos θ x̂)/|x|`` route the derivations use, on explicit 3-vectors with
the true norms.  Proof names start with ``common-``: they hold for every normalising head.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import equations
from derivations.common import Proof, W, X, is_zero, vector_norm

REF = equations.NORMALISE.label


def normalise_jacobian(v: sp.Matrix) -> sp.Matrix:
    """``(I - u uᵀ)/|v|`` with ``u = v/|v|``, as the implementation applies it."""
    norm = vector_norm(v)
    u = v / norm
    return (sp.eye(v.shape[0]) - u * u.T) / norm


def _jacobian_proof() -> Proof:
    norm = vector_norm(X)
    return Proof(
        "common-normalise-jacobian",
        REF,
        r"\frac{\partial (v / \lVert v \rVert)}{\partial v} = "
        r"\left(I - u u^{T}\right) / \lVert v \rVert, \quad u = v / \lVert v \rVert",
        is_zero((X / norm).jacobian(X) - normalise_jacobian(X)),
        "explicit x in R^3, |x| = sqrt(x.x): sympy jacobian of x/|x| minus (I - u uᵀ)/|x| is 0",
    )


def _symmetric_proof() -> Proof:
    jac = normalise_jacobian(X)
    return Proof(
        "common-normalise-jacobian-symmetric",
        REF,
        "J^{T} = J",
        is_zero(jac - jac.T),
        "J - Jᵀ is 0: the chain rule applies Jᵀ, which is J, so a literal transposition of J "
        "cannot be a bug; the planted 'transposed' mutant transposes the batched form instead "
        "(Uᵀ U over all rows in place of each row's u uᵀ)",
    )


def _route_proofs() -> list[Proof]:
    nx, nw = vector_norm(X), vector_norm(W)
    x_hat, w_hat = X / nx, W / nw
    cos = x_hat.dot(w_hat)
    dcos_dx = (w_hat - cos * x_hat) / nx
    dcos_dw = (x_hat - cos * w_hat) / nw
    detail = (
        "explicit x, W in R^3 with true norms: J(v) applied to the other unit vector minus the "
        "dcos route is 0 component-wise"
    )
    return [
        Proof(
            "common-normalise-route-equals-dcos-dx",
            REF,
            r"J(x)^{T} \hat W = (\hat W - \cos\theta \, \hat x) / \lVert x \rVert",
            is_zero(normalise_jacobian(X).T * w_hat - dcos_dx),
            detail,
        ),
        Proof(
            "common-normalise-route-equals-dcos-dW",
            REF,
            r"J(W)^{T} \hat x = (\hat x - \cos\theta \, \hat W) / \lVert W \rVert",
            is_zero(normalise_jacobian(W).T * x_hat - dcos_dw),
            detail,
        ),
    ]


@functools.cache
def proofs() -> list[Proof]:
    return [_jacobian_proof(), _symmetric_proof(), *_route_proofs()]
