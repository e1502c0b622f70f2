"""kill -9 a real training process at random moments, start the same command again each time,
and check that the final weights and metrics equal those of an uninterrupted run (CPU, same
seed). Uses the offline MNIST files; skipped where ../shared/data is absent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from paper_repro.provenance import REPO_ROOT
from paper_repro.results import read_result

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys
    from pathlib import Path
    from paper_repro.data import Catalog
    from paper_repro.experiments import get_experiment
    from paper_repro.runner import train_run
    from paper_repro.spec import HeadConfig

    # a longer smoke schedule with a checkpoint after every step, so kills land everywhere:
    # inside a step, during a checkpoint write, during evaluation and the result write
    [spec] = [r for r in get_experiment("mnist").runs("smoke") if r.run_id == "lsoftmax-m3-seed0"]
    spec = dataclasses.replace(spec, head=HeadConfig.of("lsoftmax", 40, m=3),
        schedule=dataclasses.replace(spec.schedule, iterations=40, lr_drops=(25,),
                                     checkpoint_every=1, log_every=4, eval_every=15))
    out = Path(sys.argv[1])
    train_run(spec, catalog=Catalog(sys.argv[2]), runs_dir=out / "runs",
              results_dir=out / "results", progress=False)
    """
)


def start(out):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), str(SHARED_DATA)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def run_to_end(out):
    proc = start(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]


def wrote_checkpoint_since(path, t0, proc) -> bool:
    """Wait until `proc` has written a checkpoint (so a kill interrupts training, not start-up);
    False if it finished first."""
    while proc.poll() is None:
        if path.exists() and path.stat().st_mtime > t0:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs ../shared/data/mnist")
def test_kill_minus_9_at_random_points_then_rerun_gives_the_uninterrupted_result(tmp_path):
    run_to_end(tmp_path / "whole")
    rng = random.Random(1234)
    ckpt_file = tmp_path / "killed" / "runs" / "smoke" / "mnist" / "lsoftmax-m3-seed0.pt"
    kills = 0
    for _ in range(4):
        t0 = time.time()
        proc = start(tmp_path / "killed")
        if not wrote_checkpoint_since(ckpt_file, t0, proc):
            break
        # a random moment after it: inside a step, a checkpoint write, or an evaluation
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    run_to_end(tmp_path / "killed")
    assert kills >= 2, "the run finished before it could be interrupted twice"
    leftovers = [p for p in (tmp_path / "killed").rglob("*.tmp")]
    assert all(p.name.startswith(".") for p in leftovers)  # only hidden temporaries, if any
    run_id = "lsoftmax-m3-seed0"
    result = lambda d: read_result(d / "results" / "smoke" / "mnist" / f"{run_id}.json")  # noqa: E731
    whole, again = result(tmp_path / "whole"), result(tmp_path / "killed")
    for key in ("metrics", "curves", "target_angle_hist", "config"):
        assert again[key] == whole[key], key
    ckpt = lambda d: torch.load(d / "runs" / "smoke" / "mnist" / f"{run_id}.pt", weights_only=True)  # noqa: E731
    a, b = ckpt(tmp_path / "whole"), ckpt(tmp_path / "killed")
    for part in ("net", "head", "optimizer"):
        flat_a, flat_b = _flatten(a[part]), _flatten(b[part])
        assert flat_a.keys() == flat_b.keys()
        for key, value in flat_a.items():
            same = (
                torch.equal(value, flat_b[key]) if torch.is_tensor(value) else value == flat_b[key]
            )
            assert same, key


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        return {
            k: v for key, sub in tree.items() for k, v in _flatten(sub, f"{prefix}{key}.").items()
        }
    if isinstance(tree, (list, tuple)):
        return {
            k: v for i, sub in enumerate(tree) for k, v in _flatten(sub, f"{prefix}{i}.").items()
        }
    return {prefix: tree}
