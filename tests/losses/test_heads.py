"""The head modules: registry, lambda schedule of the original implementation, BD-LMCL
selection, label-free scores."""

from __future__ import annotations

import math

import pytest
import torch

from paper_repro.losses import HEADS, LambdaSchedule, MarginHead, functional, make_head


def test_registry_builds_every_head_with_weight_like_linear():
    for name in HEADS:
        head = make_head(name, 7, 3, **({"m": 2} if name in ("lsoftmax", "asoftmax") else {}))
        assert head.weight.shape == (3, 7)
        assert head(torch.randn(4, 7), torch.tensor([0, 1, 2, 0])).shape == ()


@pytest.mark.parametrize(
    ("schedule", "iteration", "expected"),
    [
        # the original L-Softmax CIFAR setting: base 1000, gamma 0.12, power 1, lambda_min 0
        (LambdaSchedule(1000, 0.12, 1, 0), 1, 1000 / 1.12),
        (LambdaSchedule(1000, 0.12, 1, 0), 100, 1000 / 13.0),
        (LambdaSchedule(1000, 0.12, 1, 5), 10_000, 5.0),  # floored at lam_min
        (LambdaSchedule(1000, 2.5e-5, 35, 0), 8_000, 1000 * 1.2**-35),
        (LambdaSchedule.constant(3.0), 12_345, 3.0),
    ],
)
def test_lambda_schedule_formula(schedule, iteration, expected):
    assert schedule(iteration) == pytest.approx(expected, rel=1e-12)


def test_iteration_counts_from_one_at_first_training_forward_only():
    head = make_head("lsoftmax", 4, 3, m=2, lam=LambdaSchedule(1000, 0.12, 1, 0))
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    assert head.lam == 1000.0  # iteration 0 before training
    head.eval()
    head(x, y)
    head.logits(x, y)
    assert int(head.iteration) == 0
    head.train()
    head(x, y)
    assert int(head.iteration) == 1 and head.lam == pytest.approx(1000 / 1.12)
    head(x, y)
    assert int(head.iteration) == 2


def test_schedule_state_resumes_from_state_dict():
    schedule = LambdaSchedule(1000, 0.12, 1, 0)
    head = make_head("asoftmax", 4, 3, m=4, lam=schedule)
    for _ in range(7):
        head(torch.randn(2, 4), torch.tensor([0, 2]))
    resumed = make_head("asoftmax", 4, 3, m=4, lam=schedule)
    resumed.load_state_dict(head.state_dict())
    assert int(resumed.iteration) == 7 and resumed.lam == head.lam


def test_logits_use_current_lambda():
    torch.manual_seed(0)
    head = make_head("lsoftmax", 4, 3, m=3, lam=LambdaSchedule(10, 1.0, 1, 0)).double()
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    head(x, y)  # iteration 1: lam = 10 / 2 = 5
    want = functional.lsoftmax_logits(x, head.weight, y, 3, lam=5.0)
    torch.testing.assert_close(head.logits(x, y), want)


def test_boundary_selection_rule_on_constructed_cosines():
    """Row 0 confidently right (not selected); row 1 right but inside the margin (selected);
    row 2 wrong, target second (selected for k >= 2); row 3 wrong, target last of 4 (outlier)."""
    cos = torch.tensor(
        [[0.9, 0.1, 0.0, -0.2], [0.5, 0.4, 0.0, 0.1], [0.3, 0.6, 0.1, 0.0], [0.2, 0.3, 0.4, 0.5]]
    )
    labels = torch.tensor([0, 0, 0, 0])
    assert functional.boundary_selection(cos, labels, m=0.35, k=2).tolist() == [
        False, True, True, False
    ]  # fmt: skip
    assert functional.boundary_selection(cos, labels, m=0.35, k=1).tolist() == [
        False, True, False, False
    ]  # fmt: skip
    assert functional.boundary_selection(cos, labels, m=0.35, k=4).tolist() == [
        False, True, True, True
    ]  # fmt: skip


def test_bdlmcl_without_selected_samples_is_zero_with_zero_gradient():
    w = torch.eye(3, requires_grad=True)
    x = torch.eye(3) * 5  # every sample exactly on its class: far from the boundary
    loss = functional.bdlmcl_loss(x, w, torch.tensor([0, 1, 2]), s=30.0, m=0.35,
                                  unselected="drop")  # fmt: skip
    loss.backward()
    assert loss.item() == 0.0 and torch.all(w.grad == 0)


def _thousand_class_batch():
    torch.manual_seed(0)
    return torch.randn(256, 64), torch.randint(0, 1000, (256,))


def test_bdlmcl_default_gives_every_sample_a_gradient_on_a_large_label_set():
    """At initialisation almost no target is in the top 5 of 1,000 classes: the default
    reading still gives every sample a loss and a gradient, so the network can learn."""
    x, y = _thousand_class_batch()
    x.requires_grad_(True)
    head = make_head("bdlmcl", 64, 1000)
    assert head.unselected == "no_margin"
    head(x, y).backward()
    assert (x.grad.abs().sum(dim=1) > 0).all()
    reachable = functional.target_in_top_k(functional.cosines(x, head.weight), y, head.k)
    assert reachable.float().mean() < 0.05  # the case 'drop' could not start from


def test_bdlmcl_drop_refuses_a_start_where_almost_no_sample_can_be_selected():
    x, y = _thousand_class_batch()
    head = make_head("bdlmcl", 64, 1000, unselected="drop")
    with pytest.raises(ValueError, match=r"top k = 5 of 1000 classes.*no_margin"):
        head(x, y)
    head.eval()
    head(x, y)  # evaluation is not a training start: no refusal
    small = make_head("bdlmcl", 64, 10, unselected="drop")
    small(x, y % 10)  # about half the targets are in the top 5 of 10: it starts
    assert small._start_checked


@pytest.mark.parametrize("name", ["lmcl", "arcface", "bdlmcl", "asoftmax", "softmax"])
def test_scores_rank_classes_by_the_test_time_rule(name):
    """Normalised heads decide by cos t_j, softmax and L-Softmax by W_j . x."""
    head = make_head(name, 2, 2, **({"m": 2} if name == "asoftmax" else {}))
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 1.0]]))
    x = torch.tensor([[0.3, 1.0]])  # cos favours class 1, W.x favours class 0
    expected = 0 if name == "softmax" else 1
    assert head.scores(x).argmax(dim=1).item() == expected


PARAMS = {"lsoftmax": {"m": 3}, "asoftmax": {"m": 3}}


@pytest.mark.parametrize("name", HEADS)
def test_zero_feature_row_keeps_finite_gradients_equal_on_both_paths(name):
    """A feature row of zeros (a dead ReLU): the hand-written backward and autograd through
    the reference logits give the same finite gradients; normalising heads divide by
    F.normalize's floor there."""
    torch.manual_seed(3)
    x = torch.randn(4, 6, dtype=torch.float64)
    x[1] = 0.0
    y = torch.tensor([0, 1, 2, 1])
    head = make_head(name, 6, 3, **PARAMS.get(name, {})).double()
    grads = []
    for loss_of in (lambda xx: head(xx, y), lambda xx: _reference_loss(name, head, xx, y)):
        xx = x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(loss_of(xx), (xx, head.weight)))
    for fast, reference in zip(*grads, strict=True):
        assert torch.isfinite(fast).all()
        torch.testing.assert_close(fast, reference, rtol=1e-9, atol=1e-9)


def _reference_loss(name, head, x, y):
    if name == "bdlmcl":
        return functional.bdlmcl_loss(x, head.weight, y, head.s, head.m, head.k, head.unselected)
    return torch.nn.functional.cross_entropy(head.logits(x, y), y)


def test_second_derivative_is_refused_clearly():
    """The heads' backward is hand-written and once-differentiable: asking for a Hessian
    raises instead of silently returning zeros (the first gradient carries no graph, or a
    DelayedError node when the incoming gradient itself requires grad)."""
    head = make_head("lmcl", 4, 3)
    x = torch.randn(2, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(head(x, torch.tensor([0, 2])), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"does not require grad|once_differentiable"):
        torch.autograd.grad(grad.sum(), x)


CLOSED_FORMS = [
    ("lsoftmax", {"m": 3, "lam": 2.0}),
    ("lsoftmax", {"m": 4, "lam": 0.0}),
    ("asoftmax", {"m": 4, "lam": 0.5}),
    ("lmcl", {"s": 16.0, "m": 0.35}),
    ("arcface", {"s": 16.0, "m": 0.5}),
    ("bdlmcl", {"s": 16.0, "m": 0.35, "unselected": "no_margin"}),
]


@pytest.mark.parametrize(("name", "hyper"), CLOSED_FORMS, ids=[n for n, _ in CLOSED_FORMS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_partials_equal_autograd_of_the_target(name, hyper, seed):
    """Each head's closed-form `partials` against the base class's route, autograd through
    its `target` written in the plain logit: same loss and gradients, float64. The batch
    has a zero feature row, targets on every piece of psi and past ArcFace's fallback."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(24, 6, generator=gen, dtype=torch.float64) * 3.0
    x[0] = 0.0
    weight = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 5, (24,), generator=gen)
    x[1:4] = -weight[labels[1:4]] * 2.0  # target angle pi: the last pieces, the fallback

    def loss_and_grads(head):
        xx = x.clone().requires_grad_()
        loss = head(xx, labels)
        return loss, *torch.autograd.grad(loss, (xx, head.weight))

    closed = make_head(name, 6, 5, **hyper).double()
    closed.weight.data.copy_(weight)
    generic = make_head(name, 6, 5, **hyper).double()
    generic.weight.data.copy_(weight)
    # the same head with the base class's fallback
    generic.__class__ = type("Generic", (type(generic),), {"partials": MarginHead.partials})
    for got, want in zip(loss_and_grads(closed), loss_and_grads(generic), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("name", "hyper"), CLOSED_FORMS, ids=[n for n, _ in CLOSED_FORMS])
def test_gradients_scale_with_the_incoming_gradient_and_follow_grad_mode(name, hyper):
    """The training loss computes its gradients with the value, for an incoming gradient of
    1, and the backward scales them: 3 * loss must give 3 times the gradients (a backward
    that ignored its input would give 1 times), and without grad mode the loss is the same."""
    torch.manual_seed(5)
    head = make_head(name, 6, 4, **hyper).double()
    x = torch.randn(10, 6, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 4, (10,))
    loss = head(x, labels)
    once = torch.autograd.grad(loss, (x, head.weight))
    thrice = torch.autograd.grad(3.0 * head(x, labels), (x, head.weight))
    for one, three in zip(once, thrice, strict=True):
        torch.testing.assert_close(three, 3.0 * one, rtol=1e-12, atol=0.0)
    with torch.no_grad():
        torch.testing.assert_close(head(x, labels), loss.detach(), rtol=0.0, atol=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_arcface_target_is_unbiased_where_the_sine_vanishes(dtype):
    """cos(t + m) at and next to t = 0 against the exact float64 value: a sine floored at
    sqrt(eps) in the value would be off by sin(m) sqrt(eps) (1.7e-4 in float32)."""
    from paper_repro.losses.angular import arcface_target_and_slope

    eps = torch.finfo(dtype).eps
    cos = torch.tensor([1.0, 1.0 - eps, 1.0 - 4 * eps, -1.0 + eps], dtype=dtype)
    value, slope = arcface_target_and_slope(cos, 0.5)
    exact = torch.cos(torch.acos(cos.double()) + 0.5)
    exact[-1] = cos[-1].double() - 0.5 * math.sin(0.5)  # the fallback past t + m = pi
    assert (value.double() - exact).abs().max() < 4 * eps
    assert torch.isfinite(slope).all()
