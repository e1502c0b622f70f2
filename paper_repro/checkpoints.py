"""A run's identity on disk: where its checkpoint and result live, the one rule for when it is
done, and reading a checkpoint back (a damaged or foreign one is set aside, never deleted)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from paper_repro import provenance
from paper_repro.results import RESULTS_DIR, ResultError, read_result
from paper_repro.spec import RunSpec, same_identity

RUNS_DIR = provenance.REPO_ROOT / "runs"


def checkpoint_path(spec: RunSpec, runs_dir: Path) -> Path:
    return Path(runs_dir) / spec.profile / spec.experiment / f"{spec.run_id}.pt"


def result_path(spec: RunSpec, results_dir: Path = RESULTS_DIR) -> Path:
    return Path(results_dir) / spec.profile / spec.experiment / f"{spec.run_id}.json"


def identity(spec: RunSpec) -> dict:
    """The spec's identity as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(spec.identity()))


def is_done(spec: RunSpec, results_dir: Path = RESULTS_DIR) -> bool:
    """The one rule for every run: its result file exists and holds this run's identity."""
    try:
        return same_identity(read_result(result_path(spec, results_dir)).get("run"), spec)
    except ResultError:
        return False


def set_aside(path: Path) -> Path:
    """Rename a file that cannot be used to <name>.bad (.bad.1, ... if taken): kept for a
    look, out of the run's way."""
    target, k = path.with_name(path.name + ".bad"), 0
    while target.exists():
        k += 1
        target = path.with_name(f"{path.name}.bad.{k}")
    path.rename(target)
    return target


def load_checkpoint(path: Path, spec: RunSpec, device) -> dict | None:
    """The run's checkpoint, or None to start from scratch. A checkpoint that cannot be read
    (a disk fault, a killed copy) or belongs to another configuration is set aside with one
    line saying so, and the run restarts; nothing is deleted."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        saved = state.get("run")
        why = (
            ""
            if isinstance(saved, str) and same_identity(json.loads(saved), spec)
            else (f"belongs to another configuration ({str(saved)[:120]})")
        )
    except Exception as exc:  # torch raises several types for a damaged file
        why = f"cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    if not why:
        return state
    kept = set_aside(path)
    print(f"{spec.run_id}: checkpoint {path} {why}; kept as {kept.name}, restarting the run",
          file=sys.stderr)  # fmt: skip
    return None
