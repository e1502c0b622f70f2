"""Results JSON: the seam between training runs and reports.

One file per finished run at reports/results/<profile>/<experiment>/<run_id>.json, written
atomically. Each file is self-describing: anyone can rebuild its table row from it alone."""

from __future__ import annotations

import json
from pathlib import Path

from paper_repro.fileio import atomic_write_bytes
from paper_repro.provenance import REPO_ROOT

SCHEMA = "paper_repro.result/2"  # 2: the run identity, evaluator, hyper and precision
RESULTS_DIR = REPO_ROOT / "reports" / "results"  # the project's reference results
USER_DIR = REPO_ROOT / "runs" / "reproduce"  # a user's own `make reproduce` (ignored by git)
# what a saved identity from before the recipe settings (paper_repro.spec.RECIPES) existed
# meant: today's paper recipe
IDENTITY_DEFAULTS = {"recipe": "paper", "init": "pytorch", "decay": "all"}
REQUIRED = (
    "schema",
    "run",
    "evaluator",
    "experiment",
    "dataset_label",
    "profile",
    "head",
    "head_label",
    "margin",
    "hyper",
    "precision",
    "seed",
    "config",
    "metrics",
    "curves",
    "wall_time_s",
    "images_per_s",
    "command",
    "provenance",
)


class ResultError(RuntimeError):
    """A results file that is missing fields or is not valid JSON."""


def write_result(path: Path, result: dict) -> None:
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise ResultError(f"result for {path} lacks {', '.join(missing)}")
    atomic_write_bytes(path, (json.dumps(result, indent=1, sort_keys=True) + "\n").encode())


def read_result(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultError(f"cannot read result {path}: {exc}") from exc
    if not isinstance(result, dict) or result.get("schema") != SCHEMA:
        raise ResultError(f"{path} is not a {SCHEMA} result file")
    missing = [k for k in REQUIRED if k not in result]
    if missing:
        raise ResultError(f"{path} lacks {', '.join(missing)}")
    # results from before the recipe setting were all made with today's paper recipe
    defaults = IDENTITY_DEFAULTS
    result.setdefault("recipe", {"name": defaults["recipe"], "init": defaults["init"],
                                 "decay": defaults["decay"], "variant": ""})  # fmt: skip
    return result


def load_results(profile: str, experiment: str, root: Path = RESULTS_DIR) -> list[dict]:
    folder = Path(root) / profile / experiment
    return [read_result(p) for p in sorted(folder.glob("*.json"))]


def experiment_names(profile: str, root: Path = RESULTS_DIR,
                     order: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """The experiments with saved results under a profile: those named in `order` first, in
    its order, then the rest alphabetically."""
    folder = Path(root) / profile
    present = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    present = [p for p in present if any((folder / p).glob("*.json"))]
    return [e for e in order if e in present] + [e for e in present if e not in order]


def saved_runs(profiles: tuple[str, ...], root: Path = RESULTS_DIR,
               order: tuple[str, ...] = ()) -> dict[tuple[str, str], list[dict]]:  # fmt: skip
    """Every experiment's results by (profile, experiment), read once."""
    return {(profile, name): load_results(profile, name, root)
            for profile in profiles for name in experiment_names(profile, root, order)}  # fmt: skip
