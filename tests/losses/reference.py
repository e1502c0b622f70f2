"""Run a head through the package's public API and the SymPy oracle on the same float64 problem."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from derivations.oracle import evaluate
from paper_repro.losses import functional, make_head

LOGITS = {
    "softmax": functional.softmax_logits,
    "lsoftmax": functional.lsoftmax_logits,
    "asoftmax": functional.asoftmax_logits,
    "lmcl": functional.lmcl_logits,
    "arcface": functional.arcface_logits,
    "bdlmcl": lambda x, w, y, s, m, k: functional.lmcl_logits(x, w, y, s, m),
}


def torch_evaluate(head: str, x, w, y, params: dict, device: str) -> dict[str, np.ndarray]:
    """Logits from the functional API; loss and gradients from the nn.Module (train mode)."""
    xt = torch.tensor(x, dtype=torch.float64, device=device, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.int64, device=device)
    module = make_head(head, w.shape[1], w.shape[0], **params).to(device, torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(w))
    loss = module(xt, yt)
    loss.backward()
    logits = LOGITS[head](xt, module.weight, yt, **params)
    return {
        "logits": logits.detach().cpu().numpy(),
        "loss": np.array(loss.item()),
        "grad_x": xt.grad.cpu().numpy(),
        "grad_W": module.weight.grad.cpu().numpy(),
        "functional_loss": np.array(
            functional.bdlmcl_loss(xt, module.weight, yt, **params).item()
            if head == "bdlmcl"
            else F.cross_entropy(logits, yt).item()
        ),
    }


def sympy_evaluate(head: str, x, w, y, params: dict) -> dict[str, np.ndarray]:
    ev = evaluate(head, x, w, y, **params)
    return {
        "logits": ev.logits,
        "loss": np.array(ev.loss),
        "grad_x": ev.grad_x,
        "grad_W": ev.grad_W,
        "functional_loss": np.array(ev.loss),
        "cos": ev.cos,
        "selected": ev.selected,
    }


def relative_error(got: np.ndarray, want: np.ndarray, floor: float = 0.0) -> float:
    """max |got - want| / max(max |want|, floor): scale-free across norms from 1e-4 to 1e4."""
    scale = max(np.max(np.abs(want), initial=0.0), floor)
    diff = np.max(np.abs(got - want), initial=0.0)
    return float(diff / scale) if scale > 0 else float(diff)
