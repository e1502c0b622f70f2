"""Where the fake results of the report tests go: the runner's layout."""

from __future__ import annotations

from pathlib import Path


def result_path(profile: str, experiment: str, run_id: str, root: Path) -> Path:
    return Path(root) / profile / experiment / f"{run_id}.json"
