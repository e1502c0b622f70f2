"""One number per trained network, and the papers' number to hold it against.

The unit of replication is the network: a seed of MNIST or CIFAR, a (split of LFW's people,
seed) of LFW. A network's value is its test error (%), or its LFW accuracy (%, the mean of
its test folds: the folds share the network, so they are not independent samples)."""

from __future__ import annotations

import statistics

from paper_repro.report.tables import verification_of


def final_value(result: dict) -> float | None:
    """Test error (%), or the network's LFW accuracy (%); None where the run saved neither."""
    if result["evaluator"] == "verification":
        data = verification_of(result)
        folds = data["fold_accuracies"] if data else []
        return statistics.fmean(folds) if folds else None
    return result["metrics"]["test_error"]


def final_values(results: list[dict]) -> tuple[float, ...]:
    """final_value of every run that has one."""
    return tuple(v for v in map(final_value, results) if v is not None)


def higher_is_better(results: list[dict]) -> bool:
    """Accuracy (verification) rises with quality, test error falls."""
    return bool(results) and results[0]["evaluator"] == "verification"


def paper_values(experiment, label: str) -> dict[str, float]:
    """The papers' numbers for a head label, by source ('' for a single source)."""
    value = experiment.paper.get(label)
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return {} if value is None else {"": value}


def paper_gain(experiment, better: str, than: str, higher: bool) -> float | None:
    """How much better the papers report `better` than `than` (points; positive: better), from
    the first source that prints both; higher: the number is an accuracy."""
    a, b = paper_values(experiment, better), paper_values(experiment, than)
    shared = [k for k in a if k in b]
    if not shared:
        return None
    gain = a[shared[0]] - b[shared[0]]
    return gain if higher else -gain
