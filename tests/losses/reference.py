"""Run a head through the package's public API and the SymPy oracle on the same float64 problem."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from derivations.oracle import evaluate
from paper_repro.losses import HEADS, functional

LOGITS = {name: cls.reference_logits for name, cls in HEADS.items()}  # the heads' declarations


def torch_evaluate(head: str, x, w, y, params: dict, device: str) -> dict[str, np.ndarray]:
    """Two paths through the package: the nn.Module in train mode (loss and gradients from
    the hand-written backward of `functional.margin_cross_entropy`), and the functional API
    (logits from autograd operations, cross-entropy and gradients by autograd)."""
    yt = torch.tensor(y, dtype=torch.int64, device=device)
    # the class itself, not make_head: it takes every constructor keyword (BD-LMCL's reading)
    module = HEADS[head](w.shape[1], w.shape[0], **params).to(device, torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(w))
    xt = torch.tensor(x, dtype=torch.float64, device=device, requires_grad=True)
    loss = module(xt, yt)
    grad_x, grad_w = torch.autograd.grad(loss, (xt, module.weight))

    wt = module.weight.detach().clone().requires_grad_(True)
    logits = LOGITS[head](xt, wt, yt, **params)
    functional_loss = (
        functional.bdlmcl_loss(xt, wt, yt, **params)
        if head == "bdlmcl"
        else F.cross_entropy(logits, yt)
    )
    functional_grad_x, functional_grad_w = torch.autograd.grad(functional_loss, (xt, wt))
    return {
        name: value.detach().cpu().numpy()
        for name, value in {
            "logits": logits,
            "loss": loss,
            "grad_x": grad_x,
            "grad_W": grad_w,
            "functional_loss": functional_loss,
            "functional_grad_x": functional_grad_x,
            "functional_grad_W": functional_grad_w,
        }.items()
    }


def sympy_evaluate(head: str, x, w, y, params: dict) -> dict[str, np.ndarray]:
    ev = evaluate(head, x, w, y, **params)
    return {
        "logits": ev.logits,
        "loss": np.array(ev.loss),
        "grad_x": ev.grad_x,
        "grad_W": ev.grad_W,
        "functional_loss": np.array(ev.loss),
        "functional_grad_x": ev.grad_x,
        "functional_grad_W": ev.grad_W,
        "cos": ev.cos,
        "selected": ev.selected,
    }


def relative_error(got: np.ndarray, want: np.ndarray, floor: float = 0.0) -> float:
    """max |got - want| / max(max |want|, floor): scale-free across norms from 1e-4 to 1e4."""
    scale = max(np.max(np.abs(want), initial=0.0), floor)
    diff = np.max(np.abs(got - want), initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)
