"""`make gpu-check`: the checks that need a CUDA GPU, in one call, sized to finish within 8
minutes on one GPU. Runs from the checkout with the machine's own python (PYTHONPATH=.), needs
torch, numpy, sympy, pillow, tqdm, matplotlib, pytest and hypothesis, not ruff or
pytorch-metric-learning. Data: the MNIST files (and optionally LFW's decoded cache) copied into
an ignored folder beside the code, given by --data-root.

Steps, in this order (each timed; a failing step is recorded and the others still run):
1. the loss-head gradient tests on CUDA (tests/losses, CI hypothesis profile), then the
   compiled loss of every head against its eager loss (value and both gradients, float32 and
   under bf16 autocast) and the compiled network against the eager one (output and every
   parameter's gradient, both precisions);
2. CPU-vs-CUDA equality of the CIFAR-10+ augmentation for one seed;
3. a CPU checkpoint resumed on CUDA (smoke MNIST run, killed after 2 steps on CPU);
4. the smoke profile of every runner on CUDA (tables, LFW when its files are there, 2-D study);
5. host synchronisations in the training step, and ms/step with one forced sync per step;
6. the CUDA rows of `make bench` (needs pytest-benchmark) -> reports/benchmarks/loss_heads-cuda.md;
7. bench-train on CUDA -> reports/benchmarks/training-cuda.md;
8. the paper-profile MNIST run of each table head, seed 0, one process per head at once.
Writes reports/gpu/check.md and check.json with provenance; results of step 8 go to
reports/results/paper/mnist/ like any run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch

from paper_repro.data import Catalog
from paper_repro.device_data import forward_features
from paper_repro.experiments import FACE_SETUP, get_experiment
from paper_repro.fileio import atomic_write
from paper_repro.losses import HEADS
from paper_repro.models import make_network
from paper_repro.models.compiled import compile_network
from paper_repro.monitoring import FiniteWatch
from paper_repro.provenance import REPO_ROOT, describe
from paper_repro.runner import train_run
from paper_repro.steps import pad_crop_flip, step_generator

OUT = REPO_ROOT / "reports" / "gpu"


def _smoke(experiment: str, index: int = 0, precision: str = "fp32"):
    return get_experiment(experiment).runs("smoke", precision)[index]


def gradient_tests(args) -> dict:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "tests/losses", "-k", "cuda"]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1:] or [proc.stderr[-300:]]
    if proc.returncode:
        raise RuntimeError(f"pytest exit {proc.returncode}: {tail[0]}")
    return {"pytest": tail[0]}


# Compiled against eager, both held against the exact values (float64, eager): the error of
# each is the largest relative norm error over the outputs and gradients; the check fails
# where the compiled path is more than COMPILED_SLACK times as far from exact as eager is (or
# than FLOOR, below which both are rounding). Seen on this project's CPU, the MNIST network in
# float32: eager 0.4% from exact in its earliest gradients, compiled 2.6% (batch norm's
# backward cancels, and the two paths round it differently).
COMPILED_SLACK, FLOOR = 10.0, 1e-5
# every registered head at the last setting it is benchmarked at (the largest margin), with the
# scale s the face runs train at (FACE_SETUP), where the check was tuned
CHECKED_HEADS = {
    name: {**head.benchmarked[-1], **({"s": FACE_SETUP["cpu"]["s"]}
                                      if "s" in head.benchmarked[-1] else {})}
    for name, head in HEADS.items()
}  # fmt: skip
TABLE_NETWORKS = ("table1-mnist", "table1-cifar10", "face-quick")


def _error(got: list[torch.Tensor], exact: list[torch.Tensor]) -> float:
    return max(float((g.double() - e).norm() / (e.norm() + 1e-300))
               for g, e in zip(got, exact, strict=True))  # fmt: skip


def _judge(what: str, values, out: dict) -> None:
    """values(compiled, dtype, precision) -> tensors; records and judges one comparison per
    precision."""
    exact = [t.double() for t in values(False, torch.float64, "fp32")]
    for precision in ("fp32", "bf16"):
        eager = _error(values(False, torch.float32, precision), exact)
        compiled = _error(values(True, torch.float32, precision), exact)
        out[f"{what} {precision}"] = {"eager": f"{eager:.1e}", "compiled": f"{compiled:.1e}"}
        if compiled > COMPILED_SLACK * max(eager, FLOOR):
            raise RuntimeError(f"{what} ({precision}): compiled is {compiled:.1e} from exact, "
                               f"eager {eager:.1e}; all so far: {out}")  # fmt: skip


def compiled_loss_equals_eager(args, device="cuda", heads=None) -> dict:
    """Every head's compiled loss (make_fx + inductor, as training compiles it) and its eager
    loss against the exact one: the value and the gradients in features and class weights."""
    out = {}
    for name, hyper in CHECKED_HEADS.items():
        if heads is not None and name not in heads:
            continue

        def values(compiled, dtype, precision, name=name, hyper=hyper):
            torch.manual_seed(0)
            head = HEADS[name](64, 10, **hyper).to(device=device, dtype=dtype)
            head.compile_math = compiled
            x = (3 * torch.randn(256, 64)).to(device=device, dtype=dtype).requires_grad_()
            y = torch.arange(256, device=device) % 10
            with torch.autocast(torch.device(device).type, torch.bfloat16,
                                enabled=precision == "bf16"):  # fmt: skip
                loss = head(x, y)
            return [loss.detach(), *torch.autograd.grad(loss, (x, head.weight))]

        _judge(name, values, out)
    return {"relative error from exact (float64)": out}


def compiled_network_equals_eager(args, device="cuda", networks=TABLE_NETWORKS) -> dict:
    """Each table network compiled as training compiles it (inductor less the max_pool2d
    decomposition) and eager, against exact: the features and every parameter's gradient."""
    out = {}
    for network in networks:

        def values(compiled, dtype, precision, network=network):
            torch.manual_seed(0)
            net = make_network(network)
            x = torch.randn(32, *net.input_shape).to(device=device, dtype=dtype)
            net = net.to(device=device, dtype=dtype)
            run = compile_network(net) if compiled else net
            features = forward_features(run, x, precision).to(dtype)  # bf16 autocast: back up
            grads = torch.autograd.grad(features.square().mean(), list(net.parameters()))
            return [features.detach(), *grads]

        _judge(network, values, out)
    return {"relative error from exact (float64)": out}


def loss_head_bench(args, select="cuda", out=None) -> dict:
    """The CUDA rows of `make bench` (float32 and bf16 autocast), without the CPU rows; the
    pytorch-metric-learning columns stay empty where that package is absent. select: the
    pytest -k expression of the benchmarks run."""
    from paper_repro import bench, bench_report

    out = out or REPO_ROOT / "reports" / "benchmarks" / "loss_heads-cuda.md"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "bench.json"
        command = [sys.executable, "-m", "pytest", "tests/bench", "-m", "bench", "-k", select,
                   "-q", "-p", "no:cacheprovider", "--benchmark-enable",
                   "--benchmark-max-time=0.2", "--benchmark-min-rounds=5",
                   f"--benchmark-json={raw}"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), bench.FLUSH_ENV: "1"}
        proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        if proc.returncode or not raw.exists():
            tail = (proc.stdout.strip().splitlines() or [proc.stderr[-300:]])[-1]
            raise RuntimeError(f"pytest exit {proc.returncode}: {tail}")
        bench_report.write([raw], out)
    return {"written": os.path.relpath(out, REPO_ROOT)}


def bench_train(args) -> dict:
    from paper_repro import bench_train

    out = REPO_ROOT / "reports" / "benchmarks" / "training-cuda.md"
    bench_train.main(["--device", "cuda", "--rounds", "10", "--compile", "--out", str(out),
                      "--command", "make gpu-check"])  # fmt: skip
    return {"written": str(out.relative_to(REPO_ROOT))}


def augmentation_equality(args) -> dict:
    x = torch.randn(64, 3, 32, 32)
    cpu = pad_crop_flip(x, step_generator(0, 7, 1), 4)
    gpu = pad_crop_flip(x.cuda(), step_generator(0, 7, 1), 4).cpu()
    if not torch.equal(cpu, gpu):
        raise RuntimeError("CPU and CUDA crops differ for the same seed")
    return {"equal": True}


def cpu_checkpoint_on_cuda(args) -> dict:
    spec = _smoke("mnist")
    with tempfile.TemporaryDirectory() as tmp:
        kw = {"catalog": Catalog(args.data_root), "runs_dir": Path(tmp) / "runs",
              "results_dir": Path(tmp) / "results", "progress": False}  # fmt: skip
        assert train_run(spec, device="cpu", stop_after=2, **kw) is None
        result = train_run(spec, device="cuda", **kw)
    return {"test_error": result["metrics"]["test_error"], "device": "cpu -> cuda"}


def smoke_runners(args) -> dict:
    catalog, done = Catalog(args.data_root), {}
    with tempfile.TemporaryDirectory() as tmp:
        kw = {"catalog": catalog, "device": "cuda", "runs_dir": Path(tmp) / "runs",
              "results_dir": Path(tmp) / "results", "progress": False}  # fmt: skip
        for experiment in ("mnist", "lsoftmax-2d", "lfw"):
            spec = _smoke(experiment, precision="bf16")
            try:
                result = train_run(spec, **kw)
            except Exception as exc:  # LFW may not have been carried
                done[experiment] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                continue
            done[experiment] = f"ok, {result['images_per_s']:.0f} images/s"
    return done


def step_syncs(args, device="cuda", iterations=60) -> dict:
    """Host synchronisations inside the training steps (torch's sync debug mode counts them;
    the checks at the one curve point, checkpoint and evaluation at the end are outside the
    steps) and ms/step of the MNIST net as trained, against the same run with one forced
    sync per step, as the finite checks had before they moved to `FiniteWatch`."""
    spec = _smoke("mnist", precision="bf16" if device == "cuda" else "fp32")
    schedule = dataclasses.replace(spec.schedule, iterations=iterations, log_every=iterations,
                                   checkpoint_every=iterations, eval_every=10**9)  # fmt: skip
    spec = dataclasses.replace(spec, schedule=schedule)
    observe, out = FiniteWatch.observe, {}

    def synced(self, features, loss, iteration):
        observe(self, features, loss, iteration)
        self.first.tolist()

    for variant in ("as trained", "one sync per step"):
        FiniteWatch.observe = observe if variant == "as trained" else synced
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            if device == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            try:
                result = train_run(spec, catalog=Catalog(args.data_root), device=device,
                                   runs_dir=Path(tmp) / "runs", results_dir=Path(tmp) / "res",
                                   progress=False)  # fmt: skip
            finally:
                FiniteWatch.observe = observe
                if device == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in seen)
        out[variant] = {"ms_per_step": 1000 * result["train_time_s"] / iterations,
                        "syncs_in_run": syncs}  # fmt: skip
    return out


def paper_mnist(args) -> dict:
    """Seed 0 of each table head on the paper's schedule, one process per head at once,
    compiled as `make reproduce` trains on a GPU (one H200 trained about 60,000 images/s with
    8 processes: the four runs' 18 M images in about 5 minutes)."""
    script = (
        "import sys; from paper_repro.data import Catalog; "
        "from paper_repro.experiments import get_experiment; "
        "from paper_repro.runner import train_run; "
        "spec = get_experiment('mnist').runs('paper', 'bf16')[int(sys.argv[1])]; "
        "r = train_run(spec, catalog=Catalog(sys.argv[2]), device='cuda', progress=False, "
        "command='make gpu-check', compile_net=True); "
        "print(spec.run_id, r['metrics']['test_error'])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i), str(args.data_root)],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]  # fmt: skip
    out = {}
    for i, proc in enumerate(procs):
        stdout, stderr = proc.communicate(timeout=args.paper_timeout)
        out[str(i)] = stdout.strip() or f"failed: {stderr[-300:]}"
    return out


STEPS = (gradient_tests, compiled_loss_equals_eager, compiled_network_equals_eager,
         augmentation_equality, cpu_checkpoint_on_cuda, smoke_runners, step_syncs,
         loss_head_bench, bench_train, paper_mnist)  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_repro.gpu_check")
    parser.add_argument("--data-root", type=Path, default=REPO_ROOT / ".device-data")
    parser.add_argument("--paper-timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=OUT)
    names = [step.__name__ for step in STEPS]
    parser.add_argument(
        "--steps",
        nargs="*",
        choices=names,
        help="only these steps (default: all); the rest: listed as not run",
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check needs a CUDA GPU; none is visible", file=sys.stderr)
        return 2
    torch.set_flush_denormal(True)
    report = {"schema": "paper_repro.gpu-check/1", "provenance": describe("cuda"), "steps": {}}
    for step in STEPS:
        if args.steps is not None and step.__name__ not in args.steps:
            report["steps"][step.__name__] = {"ok": None, "seconds": 0.0, "not run": "--steps"}
            continue
        tick = time.perf_counter()
        try:
            outcome, ok = step(args), True
        except Exception as exc:
            outcome, ok = {"error": "".join(traceback.format_exception(exc))[-1500:]}, False
        report["steps"][step.__name__] = {"ok": ok, "seconds": time.perf_counter() - tick,
                                          **outcome}  # fmt: skip
        print(step.__name__, "ok" if ok else "FAILED", flush=True)
    lines = ["# GPU check (make gpu-check)", "",
             f"GPU: {report['provenance']['hardware'].get('gpu')}; commit "
             f"{report['provenance']['commit']}; torch {torch.__version__}", "",
             "| step | ok | seconds | outcome |", "|---|---|---:|---|"]  # fmt: skip
    for name, r in report["steps"].items():
        detail = {k: v for k, v in r.items() if k not in ("ok", "seconds")}
        text = json.dumps(detail)[:300].replace("|", "/")
        ok = "not run" if r["ok"] is None else r["ok"]
        lines.append(f"| {name} | {ok} | {r['seconds']:.0f} | {text} |")
    with atomic_write(args.out / "check.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with atomic_write(args.out / "check.json", "w") as f:
        f.write(json.dumps(report, indent=1, sort_keys=True, default=str) + "\n")
    return 0 if all(r["ok"] is not False for r in report["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
