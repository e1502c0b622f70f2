"""Tables are made from result files alone: mean +- std over seeds beside the paper."""

from __future__ import annotations

import numpy as np

from paper_repro.experiments import get_experiment
from paper_repro.report.tables import render_table, write_table
from paper_repro.results import SCHEMA, result_path, write_result


def fake_result(head, margin, seed, error, experiment="mnist", profile="quick"):
    label = head if margin is None else f"{head} m={margin}"
    return {
        "schema": SCHEMA, "experiment": experiment, "dataset_label": "MNIST", "profile": profile,
        "head": head, "margin": margin, "seed": seed, "config": {}, "curves": {},
        "metrics": {"test_error": error},
        "paper": {"test_error": get_experiment(experiment).paper_error[label], "source": "x"},
        "wall_time_s": 3600.0, "images_per_s": 100.0, "command": "make reproduce-mnist",
        "provenance": {"commit": "abc123", "software": {"torch": "2.13.0"},
                       "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}},
    }  # fmt: skip


def test_mean_std_and_difference_per_head(tmp_path):
    errors = {None: [1.0, 1.2, 1.7], 4: [0.9, 0.95, 1.0]}
    for margin, values in errors.items():
        head = "softmax" if margin is None else "lsoftmax"
        for seed, err in enumerate(values):
            name = f"{head}-seed{seed}" if margin is None else f"{head}-m{margin}-seed{seed}"
            path = result_path("quick", "mnist", name, tmp_path)
            write_result(path, fake_result(head, margin, seed, err))
    tables = tmp_path / "tables"
    path = write_table(get_experiment("mnist"), "quick", results_dir=tmp_path, tables_dir=tables)
    text = path.read_text()
    sm = np.array(errors[None])
    assert f"| softmax | - | {sm.mean():.2f} ± {sm.std(ddof=1):.2f} (n=3) | 0.40 | " \
           f"{sm.mean() - 0.40:+.2f} |" in text  # fmt: skip
    l4 = np.array(errors[4])
    assert f"| lsoftmax | 4 | {l4.mean():.2f} ± {l4.std(ddof=1):.2f} (n=3) | 0.31 |" in text
    assert "QUICK profile" in text and "commit: abc123" in text and "6.00 h over 6 runs" in text


def test_missing_results_show_as_missing_not_as_numbers():
    text = render_table(get_experiment("cifar100"), "paper", [], missing="CIFAR-100 is absent.")
    assert "**No results.** CIFAR-100 is absent." in text and "|" not in text
