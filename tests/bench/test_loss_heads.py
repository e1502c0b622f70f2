"""Loss-head benchmarks (pytest-benchmark): forward + backward of every head at the face and
CIFAR shapes, against plain Linear + cross_entropy and pytorch-metric-learning.

Not part of the test suite: marked `bench` (deselected by `-m "not bench"`) and skipped
while pytest-benchmark is disabled. `make bench` runs them twice, with denormals kept and
flushed, and renders reports/benchmarks/loss_heads.md with `python -m paper_repro.bench_report`.

Flushing is process-wide and has to happen before the first parallel operation (see
`paper_repro.bench.denormals_flushed`), so it is chosen by an environment variable read at
import, not per test."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from paper_repro import bench
from paper_repro.losses import compiled, make_head
from paper_repro.provenance import describe

FLUSH = os.environ.get(bench.FLUSH_ENV, "0") == "1"
if FLUSH:
    torch.set_flush_denormal(True)

pytestmark = pytest.mark.bench

DEVICES = ["cpu", "cuda"]
# "compiled": the heads' loss arithmetic as one inductor graph (`compile_math`, as the runner
# trains with --compile), against the same eager baseline
COMPILED = bench.COMPILED_DTYPE
CONFIGS = [(d, "float32") for d in DEVICES] + [("cpu", COMPILED), ("cuda", "bf16 autocast")]
HAS_C_COMPILER = any(map(shutil.which, ("cc", "gcc", "clang")))


@functools.cache
def _session() -> dict:
    """Facts recorded once per run with every benchmark."""
    try:
        import pytorch_metric_learning
        import pytorch_metric_learning.losses  # the losses need scipy besides the package

        pml_version = pytorch_metric_learning.__version__
    except ImportError:
        pml_version = None
    return {
        "flushed_all_threads": bench.denormals_flushed(),
        "provenance": describe("cuda" if torch.cuda.is_available() else "cpu"),
        "pml_version": pml_version,
        "command": (f"{bench.FLUSH_ENV}=1 " if FLUSH else "")
        + " ".join(["pytest", *sys.argv[1:]] if "pytest" in sys.argv[0] else sys.argv),
    }


def _loss_fn(case: bench.Case, weight: torch.Tensor, shape: bench.Shape, compiled=False):
    """(loss(features, labels), weight parameter) for a case, on weight's device."""
    if case.head == "plain":
        linear = nn.Linear(shape.features, shape.classes, bias=False).to(weight.device)
        linear.weight.data.copy_(weight)
        return (lambda x, y: F.cross_entropy(linear(x), y)), linear.weight
    head = make_head(case.head, shape.features, shape.classes, **case.hyper).to(weight.device)
    head.weight.data.copy_(weight)
    head.compile_math = compiled
    head.train()
    return head, head.weight


def _pml_loss_fn(case: bench.Case, weight: torch.Tensor, shape: bench.Shape):
    try:
        from pytorch_metric_learning import losses
    except ImportError as e:
        pytest.skip(
            f"pytorch-metric-learning unavailable ({e}); it is a benchmark-only extra: "
            "pip install pytorch-metric-learning"
        )
    loss = getattr(losses, case.pml)(
        num_classes=shape.classes, embedding_size=shape.features, **case.pml_kwargs
    ).to(weight.device)
    loss.W.data = weight.T.contiguous()  # their W is (D, C)
    return loss, loss.W


# interleaved rounds per shape for the ratios (a CIFAR-shape step is ~1 ms, a face one ~100)
INTERLEAVED_ROUNDS = {"cifar": 60, "face": 9}


def _step_of(loss_fn, param, features, labels, autocast, sync):
    def step():
        with autocast:
            loss = loss_fn(features, labels)
        grads = torch.autograd.grad(loss, (features, param))
        sync()
        return loss, grads

    return step


def _interleaved_ratios(case, weight, shape, step, inputs) -> dict:
    """The head against plain softmax and its pytorch-metric-learning twin, each once per
    round (bench.interleaved): the ratios the report shows."""
    steps = {"ours": step, "plain": _step_of(*_loss_fn(bench.PLAIN, weight, shape), *inputs)}
    if case.pml:
        with contextlib.suppress(pytest.skip.Exception):  # absent: its column shows none
            steps["pml"] = _step_of(*_pml_loss_fn(case, weight, shape), *inputs)
    for s in steps.values():
        s()  # warm-up
    rounds = INTERLEAVED_ROUNDS[shape.name]
    times = bench.interleaved(steps, rounds)
    out = {"rounds": rounds, "vs_softmax": bench.round_ratios(times, "ours", "plain")}
    if "pml" in steps:
        out["vs_pml"] = bench.round_ratios(times, "ours", "pml")
    return out


def _run(benchmark, shape_name, device, dtype, regime_name, case, impl):
    if benchmark.disabled:
        pytest.skip("benchmarks are disabled: make bench, or pytest -m bench --benchmark-enable")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    if dtype == COMPILED and (impl == "pml" or not HAS_C_COMPILER):
        pytest.skip("pytorch-metric-learning runs eagerly" if HAS_C_COMPILER else "no C compiler")
    session = _session()
    if FLUSH and not session["flushed_all_threads"]:
        pytest.fail(
            f"{bench.FLUSH_ENV}=1 but subnormals survive on some thread: a parallel operation "
            "ran before torch.set_flush_denormal(True)"
        )
    shape, regime = bench.SHAPES[shape_name], bench.REGIMES[regime_name]
    features, weight, labels = bench.make_inputs(shape, regime, device)
    features.requires_grad_(True)
    if impl == "pml":
        loss_fn, param = _pml_loss_fn(case, weight, shape)
    else:
        loss_fn, param = _loss_fn(case, weight, shape, compiled=dtype == COMPILED)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if dtype == "bf16 autocast"
        else contextlib.nullcontext()
    )
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    step = _step_of(loss_fn, param, features, labels, autocast, sync)

    loss, grads = step()  # warm-up (allocator, lazy initialisation), and a sanity check
    step()
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    if dtype == COMPILED and compiled.failures:  # the row would time the eager path
        pytest.fail(f"the loss did not compile: {compiled.failures}")

    share = None
    if impl != "pml":
        with torch.no_grad():
            logits = (
                features @ weight.T
                if case.head == "plain"
                # bdlmcl's logits are LMCL's; its boundary selection only masks rows
                else loss_fn.logits(features, labels)
            )
        share = bench.subnormal_share(logits.float(), labels)
    mixed = None
    if impl == "ours":
        inputs = (features, labels, autocast, sync)
        mixed = _interleaved_ratios(case, weight, shape, step, inputs)
    benchmark.group = f"{shape_name} {device} {dtype} {regime_name}"
    benchmark.extra_info.update(
        suite="loss_heads",
        shape=shape_name,
        shape_label=shape.label,
        target=shape.target,
        device=device,
        dtype=dtype,
        regime=regime_name,
        flush=FLUSH,
        head=case.label,
        impl=impl,
        subnormal_share=share,
        interleaved=mixed,
        gpu=torch.cuda.get_device_name() if device == "cuda" else None,
        **session,
    )
    benchmark(step)


PARAMS = [
    pytest.param(s, d, t, r, id=f"{s}-{d}-{t.replace(' ', '_')}-{r}")
    for s in bench.SHAPES
    for d, t in CONFIGS
    for r in bench.REGIMES
]


@pytest.mark.parametrize("case", bench.CASES, ids=lambda c: c.key)
@pytest.mark.parametrize(("shape", "device", "dtype", "regime"), PARAMS)
def test_head(benchmark, shape, device, dtype, regime, case):
    _run(benchmark, shape, device, dtype, regime, case, "plain" if case.head == "plain" else "ours")


# scipy.special.binom inside pytorch-metric-learning, on numpy 2
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")
@pytest.mark.parametrize("case", [c for c in bench.CASES if c.pml], ids=lambda c: c.key)
@pytest.mark.parametrize(("shape", "device", "dtype", "regime"), PARAMS)
def test_pytorch_metric_learning(benchmark, shape, device, dtype, regime, case):
    _run(benchmark, shape, device, dtype, regime, case, "pml")
