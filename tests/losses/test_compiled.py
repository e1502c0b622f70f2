"""The heads' loss with its arithmetic compiled (`compile_math`, `losses.compiled`): the same
loss and gradients as autograd of the reference logits, one compile for a whole lambda
schedule, and an eager fallback where compiling fails."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch._dynamo.exc
import torch.nn.functional as F
from torch._dynamo.eval_frame import _debug_get_cache_entry_list

from paper_repro.losses import HEADS, LambdaSchedule, compiled, functional
from tests.losses.reference import LOGITS

pytestmark = pytest.mark.skipif(
    not any(map(shutil.which, ("cc", "gcc", "clang"))), reason="no C compiler for inductor"
)

SCHEDULE = LambdaSchedule(base=50.0, gamma=0.5, power=2.0)  # lam falls 50 -> 8 in 3 steps
CASES = [
    ("lsoftmax", {"m": 4, "lam": SCHEDULE}),
    ("asoftmax", {"m": 3, "lam": SCHEDULE}),
    ("lmcl", {"s": 16.0, "m": 0.35}),
    ("arcface", {"s": 16.0, "m": 0.5}),
    ("bdlmcl", {"s": 16.0, "m": 0.35, "k": 3, "unselected": "no_margin"}),
]


def _compiled_graphs(family: str | None = None) -> int:
    """How many compiled versions the loss-and-gradients arithmetic holds (of one family)."""
    fn = functional._margin_loss_and_grads
    copies = [t for t in compiled.twins.get(fn, []) if family is None or f"[{family}]" in
              t.__qualname__]  # fmt: skip
    return sum(len(_debug_get_cache_entry_list(f.__code__)) for f in copies)


def _reference(name, hyper, lam, x, weight, y):
    """Loss and gradients by autograd of the functional API's logits (float64)."""
    x, weight = x.detach().requires_grad_(), weight.detach().clone().requires_grad_()
    params = {k: v for k, v in hyper.items() if k != "lam"}
    if "lam" in hyper:
        params["lam"] = lam
    if name == "bdlmcl":
        loss = functional.bdlmcl_loss(x, weight, y, **params)
    else:
        loss = F.cross_entropy(LOGITS[name](x, weight, y, **params), y)
    return loss, *torch.autograd.grad(loss, (x, weight))


@pytest.mark.parametrize(("name", "hyper"), CASES, ids=[c[0] for c in CASES])
def test_compiled_loss_matches_autograd_through_a_schedule_without_recompiling(name, hyper):
    torch.manual_seed(0)
    head = HEADS[name](12, 5, **hyper).to(torch.float64)
    head.compile_math = True
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    graphs = [_compiled_graphs()]
    for step in range(3):
        x = (2.0 + step) * torch.randn(8, 12, dtype=torch.float64, requires_grad=True)
        loss = head(x, y)
        got = (loss, *torch.autograd.grad(loss, (x, head.weight)))
        graphs.append(_compiled_graphs())
        lam = head.lam if "lam" in hyper else None  # the lam this step used
        for g, want in zip(got, _reference(name, hyper, lam, x, head.weight, y), strict=True):
            torch.testing.assert_close(g, want, rtol=1e-9, atol=1e-12)
    assert graphs[1] > graphs[0], "not compiled"
    assert graphs[3] == graphs[2], "a new value of lam compiled anew"


def test_each_kind_of_head_keeps_its_compiled_versions_apart():
    """dynamo tries the guards of every version on a code object in turn: heads that shared one
    slowed each other down (make bench: LMCL 2.0x plain softmax alone, 2.25x beside 8 heads)."""
    heads = {"LMCLHead": ("lmcl", {}), "ArcFaceHead": ("arcface", {}),
             "LSoftmaxHead": ("lsoftmax", {"m": 2})}  # fmt: skip
    for family, (name, hyper) in heads.items():
        before = {f: _compiled_graphs(f) for f in heads}
        head = HEADS[name](6, 3, **hyper)
        head.compile_math = True
        with torch.no_grad():
            head(torch.randn(13, 6), torch.arange(13) % 3)  # a shape no other test uses
        after = {f: _compiled_graphs(f) for f in heads}
        assert after == {f: n + (f == family) for f, n in before.items()}, family


def test_more_than_eight_shapes_each_compile():
    """dynamo keeps 8 versions of a function by default; the heads of a benchmark (or a test
    session) need more, and past the limit a call would run eagerly after failing every guard."""
    head = HEADS["lmcl"](4, 3)
    head.compile_math = True
    for batch in range(2, 12):
        before = _compiled_graphs()
        with torch.no_grad():
            head(torch.randn(batch, 4), torch.arange(batch) % 3)
        assert _compiled_graphs() == before + 1, f"batch {batch}: not compiled"


def test_failed_compile_runs_eagerly_warns_and_says_why(monkeypatch):
    def broken(fn, **kwargs):
        def run(*args):
            raise torch._dynamo.exc.TorchDynamoException("no working C compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(compiled, "failures", {})
    compiled.compiled_math.cache_clear()
    try:
        head = HEADS["lmcl"](6, 3).to(torch.float64)
        eager = HEADS["lmcl"](6, 3).to(torch.float64)
        eager.load_state_dict(head.state_dict())
        head.compile_math = True
        x, y = torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
        with pytest.warns(UserWarning, match="no working C compiler"):
            loss = head(x, y)
        assert torch.equal(loss, eager(x, y))
        assert "no working C compiler" in compiled.failures["_margin_loss_and_grads"]
    finally:
        compiled.compiled_math.cache_clear()  # the next test compiles for real
