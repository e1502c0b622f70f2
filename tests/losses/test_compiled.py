"""The heads' loss with its arithmetic compiled (`compile_math`, `losses.compiled`): the same
loss and gradients as autograd of the reference logits, one compile for a whole lambda
schedule, and an eager fallback where compiling fails."""

from __future__ import annotations

import functools
import shutil

import pytest
import torch
import torch._inductor.exc
import torch.nn.functional as F

from paper_repro.losses import HEADS, LambdaSchedule, MarginHead, compiled, functional
from tests.losses.reference import LOGITS

pytestmark = pytest.mark.skipif(
    not any(map(shutil.which, ("cc", "gcc", "clang"))), reason="no C compiler for inductor"
)

SCHEDULE = LambdaSchedule(base=50.0, gamma=0.5, power=2.0)  # lam falls 50 -> 8 in 3 steps
CASES = [
    ("softmax", {}),
    ("lsoftmax", {"m": 4, "lam": SCHEDULE}),
    ("asoftmax", {"m": 3, "lam": SCHEDULE}),
    ("lmcl", {"s": 16.0, "m": 0.35}),
    ("arcface", {"s": 16.0, "m": 0.5}),
    ("bdlmcl", {"s": 16.0, "m": 0.35, "k": 3, "unselected": "no_margin"}),
]


def _compiled_graphs() -> int:
    return len(compiled.graphs)


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


def test_one_graph_per_kind_of_call():
    """A graph per head kind, hyper-parameters, shape and grad mode, looked up without dynamo:
    the same call again compiles nothing, another batch size, margin or grad mode does."""
    compiled.clear()
    head = HEADS["lmcl"](6, 3, m=0.35)
    head.compile_math = True
    x, y = torch.randn(13, 6, requires_grad=True), torch.arange(13) % 3
    for _ in range(2):
        torch.autograd.grad(head(x, y), x)
    assert _compiled_graphs() == 1
    with torch.no_grad():
        head(x, y)  # no gradients: a graph without the backward arithmetic
    assert _compiled_graphs() == 2
    head.m = 0.2  # a constant of the graph
    torch.autograd.grad(head(x, y), x)
    assert _compiled_graphs() == 3
    x7 = torch.randn(7, 6, requires_grad=True)
    torch.autograd.grad(head(x7, y[:7]), x7)
    assert _compiled_graphs() == 4
    other = HEADS["arcface"](6, 3, m=0.2)
    other.compile_math = True
    torch.autograd.grad(other(x7, y[:7]), x7)
    assert _compiled_graphs() == 5


def test_a_partial_over_a_local_function_runs_eagerly_and_says_why():
    """A closure, lambda or bound method would bake the values it reads into the graph, where
    a later change could not be seen: such a head runs its loss eagerly instead."""
    compiled.clear()
    try:
        head = HEADS["lmcl"](6, 3).to(torch.float64)
        head.compile_math = True
        x, y = torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
        want = functional.margin_cross_entropy(x, head.weight, y, head.target, True, head.scale)

        def partials(z, x_norm, w_norm, s):  # the same closed form, as a local function
            return functional.lmcl_partials(z, x_norm, w_norm, s, head.m)

        with pytest.warns(UserWarning, match="not a module-level function"):
            got = functional.margin_cross_entropy(
                x, head.weight, y, head.target, True, head.scale, None,
                functools.partial(partials, s=head.s), True,
            )  # fmt: skip
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0)
        assert _compiled_graphs() == 0
        assert any("not a module-level function" in why for why in compiled.failures.values())
    finally:
        compiled.clear()


def test_a_head_without_a_closed_form_warns_once_and_runs_eagerly(recwarn):
    """The base class's partials are a new closure on every step: the failure is named by
    kind, so it is one warning and one provenance entry, not one per step."""
    compiled.clear()
    try:
        head = HEADS["lmcl"](6, 3).to(torch.float64)
        head.__class__ = type("Generic", (type(head),), {"partials": MarginHead.partials})
        head.compile_math = True
        x, y = torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
        # kept alive, the closures of three steps sit at three addresses
        closures = [head.partials for _ in range(3)]
        for partials in closures:
            functional.margin_cross_entropy(x, head.weight, y, head.target, True, head.scale,
                                            None, partials, True)  # fmt: skip
        head(x, y)
        assert len([w for w in recwarn if "module-level" in str(w.message)]) == 1
        assert len(compiled.failures) == 1 and _compiled_graphs() == 0
    finally:
        compiled.clear()


def test_a_call_that_fails_to_compile_runs_eagerly_and_the_others_still_compile(monkeypatch):
    """A lowering error belongs to one kind of call: that call runs eagerly from then on
    without trying again, while other shapes and heads keep their graphs."""
    real, attempts = torch._inductor.compile, []

    def fails_for_batch_5(graph, example_inputs, options=None):
        attempts.append(example_inputs[0].shape[0])
        if example_inputs[0].shape[0] == 5:
            raise torch._inductor.exc.InductorError(RuntimeError("cannot lower"), None)
        return real(graph, example_inputs, options)

    monkeypatch.setattr(torch._inductor, "compile", fails_for_batch_5)
    compiled.clear()
    try:
        head = HEADS["lmcl"](6, 3).to(torch.float64)
        head.compile_math = True
        eager = HEADS["lmcl"](6, 3).to(torch.float64)
        eager.load_state_dict(head.state_dict())
        x5, y5 = torch.randn(5, 6, dtype=torch.float64), torch.arange(5) % 3
        with pytest.warns(UserWarning, match="cannot lower"):
            assert torch.equal(head(x5, y5), eager(x5, y5))
        head(x5, y5)  # no second attempt
        head(torch.randn(7, 6, dtype=torch.float64), torch.arange(7) % 3)
        assert attempts == [5, 7] and _compiled_graphs() == 1
        assert compiled.compiler_found()
    finally:
        compiled.clear()


def test_failed_compile_runs_eagerly_warns_and_says_why(monkeypatch):
    def broken(graph, example_inputs, options=None):
        raise torch._inductor.exc.InvalidCxxCompiler()

    monkeypatch.setattr(torch._inductor, "compile", broken)
    compiled.clear()
    try:
        head = HEADS["lmcl"](6, 3).to(torch.float64)
        eager = HEADS["lmcl"](6, 3).to(torch.float64)
        eager.load_state_dict(head.state_dict())
        head.compile_math = True
        x, y = torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
        with pytest.warns(UserWarning, match="InvalidCxxCompiler"):
            loss = head(x, y)
        assert torch.equal(loss, eager(x, y))
        assert "InvalidCxxCompiler" in compiled.failures[compiled.COMPILER]
        # the softmax head keeps PyTorch's own kernel then, not the eager margin machinery
        softmax = HEADS["softmax"](6, 3).to(torch.float64)
        softmax.compile_math = True
        want = F.cross_entropy(x @ softmax.weight.T, y)
        got = softmax(x, y)
        assert torch.equal(got, want) and type(got.grad_fn).__name__ == "NllLossBackward0"
    finally:
        compiled.clear()  # the next test compiles for real


def test_small_cpu_graphs_run_on_one_thread_with_the_cpp_wrapper():
    """At CIFAR's (256, 256, 10) the second thread's barriers cost more than its share of the
    loops; at the face shape's (10572, 512) class weights the loops need every thread."""
    cifar = [torch.empty(256, 256), torch.empty(10, 256), torch.empty(256, dtype=torch.int64)]
    face = [torch.empty(256, 512), torch.empty(10572, 512), torch.empty(256, dtype=torch.int64)]
    assert compiled._options(cifar) == {"cpp_wrapper": True, "cpp.threads": 1}
    assert compiled._options(face) == {"cpp_wrapper": True}
    assert compiled._options([torch.empty(2, 2, device="meta")]) is None  # inductor's defaults
