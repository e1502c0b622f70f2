"""Tables are made from result files alone: mean +- std over seeds beside the paper."""

from __future__ import annotations

import numpy as np

from paper_repro.experiments import get_experiment
from paper_repro.report.tables import render_table, write_table
from paper_repro.results import SCHEMA, write_result
from tests.report.fakes import result_path


def fake_result(head, margin, seed, error, experiment="mnist", profile="quick"):
    label = head if margin is None else f"{head} m={margin}"
    return {
        "schema": SCHEMA, "experiment": experiment, "dataset_label": "MNIST", "profile": profile,
        "head": head, "head_label": label, "margin": margin, "seed": seed, "config": {},
        "curves": {}, "run": {}, "evaluator": "classification", "hyper": {}, "precision": "fp32",
        "metrics": {"test_error": error},
        "paper": {"test_error": get_experiment(experiment).paper[label], "source": "x"},
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
    path = write_table(
        get_experiment("mnist"), "quick", "classification", results_dir=tmp_path, tables_dir=tables
    )
    text = path.read_text()
    sm = np.array(errors[None])
    assert f"| softmax | - | {sm.mean():.2f} ± {sm.std(ddof=1):.2f} (n=3) | 0.40 | " \
           f"{sm.mean() - 0.40:+.2f} |" in text  # fmt: skip
    l4 = np.array(errors[4])
    assert f"| lsoftmax | 4 | {l4.mean():.2f} ± {l4.std(ddof=1):.2f} (n=3) | 0.31 |" in text
    assert "QUICK profile" in text and "commit: abc123" in text and "6.00 h over 6 runs" in text


def test_one_seed_shows_its_value_without_a_spread(tmp_path):
    write_result(result_path("quick", "mnist", "softmax-seed0", tmp_path),
                 fake_result("softmax", None, 0, 0.38))  # fmt: skip
    path = write_table(get_experiment("mnist"), "quick", "classification",
                       results_dir=tmp_path, tables_dir=tmp_path / "tables")  # fmt: skip
    assert "| softmax | - | 0.38 (n=1) | 0.40 | -0.02 |" in path.read_text()


def test_missing_results_show_as_missing_not_as_numbers():
    text = render_table(get_experiment("cifar100"), "paper", [], missing="CIFAR-100 is absent.")
    assert "**No results.** CIFAR-100 is absent." in text and "|" not in text


def test_lfw_table_counts_each_network_once(tmp_path):
    from tests.report.figure_fakes import verification_results

    verification_results(tmp_path)
    path = write_table(
        get_experiment("lfw"),
        "quick",
        "verification",
        results_dir=tmp_path,
        tables_dir=tmp_path / "tables",
    )
    text = path.read_text()
    # five folds per network, two networks: the folds share a network, so each network is
    # one number (the mean of its folds) and the std is across networks
    network = np.mean([98.5, 99.5, 98.5, 99.5, 98.5])
    assert f"| lmcl | 0.35 | {network:.2f} ± 0.00 (n=2 networks)" in text
    assert text.index("| softmax |") < text.index("| lmcl |")


def test_2d_studies_have_no_table(tmp_path):
    assert (
        write_table(
            get_experiment("cosface-toy"),
            "quick",
            "features-2d",
            results_dir=tmp_path,
            tables_dir=tmp_path,
        )
        is None
    )


def test_a_corrected_commit_carries_its_note_into_the_table(tmp_path):
    result = fake_result("softmax", None, 0, 0.38)
    result["provenance"]["commit_correction"] = "recorded there as 0000000: a stale .git"
    write_result(result_path("quick", "mnist", "softmax-seed0", tmp_path), result)
    path = write_table(get_experiment("mnist"), "quick", "classification",
                       results_dir=tmp_path, tables_dir=tmp_path / "tables")  # fmt: skip
    assert "- commit note: recorded there as 0000000: a stale .git" in path.read_text()


def test_a_diverged_run_is_left_out_of_the_mean_and_named(tmp_path):
    for seed, (err, train) in enumerate(((1.0, 0.5), (1.2, 0.5), (60.0, 89.0))):
        result = fake_result("softmax", None, seed, err)
        result["config"] = {"train_classes": 10}
        result["curves"] = {"train_error": [train]}
        write_result(result_path("quick", "mnist", f"softmax-seed{seed}", tmp_path), result)
    path = write_table(get_experiment("mnist"), "quick", "classification",
                       results_dir=tmp_path, tables_dir=tmp_path / "tables")  # fmt: skip
    text = path.read_text()
    assert "| softmax | - | 1.10 ± 0.14 (n=2); 1 diverged, left out | 0.40 |" in text
    assert "softmax (seed 2: 89.0% training error, diverged)" in text
