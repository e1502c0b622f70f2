"""Saved results and features for the figure tests, written with the real writers' formats,
and the check that a figure was rendered with its caption."""

from __future__ import annotations

import numpy as np

from paper_repro.experiments import get_experiment
from paper_repro.report import figure_runs, style
from paper_repro.results import SCHEMA, write_result
from tests.report.fakes import result_path

BINS = 90  # the training loop's target-angle histogram: 2-degree bins over 0..180


def fake_result(
    head,
    margin,
    seed,
    error,
    *,
    experiment="mnist",
    profile="quick",
    peak=10,
    iterations=(10, 20, 30, 40),
    **extra,
):
    label = head if margin is None else f"{head} m={margin}"
    paper = get_experiment(experiment).paper.get(label) if experiment != "lfw" else None
    order = {None: 0, 2: 1, 3: 2, 4: 3}.get(margin, 4) if head != "lmcl" else 5
    counts = [0] * BINS
    counts[peak] = 100  # every test feature at the angle of bin `peak`
    its = list(iterations)
    lam = [1000.0 / (1 + i) for i in its] if head == "lsoftmax" else [None] * len(its)
    return {
        "schema": SCHEMA, "experiment": experiment, "dataset_label": "MNIST", "profile": profile,
        "head": head, "head_label": label, "margin": margin, "seed": seed, "run": {},
        "evaluator": "verification" if experiment == "lfw" else "classification",
        "hyper": {}, "precision": "fp32", "order": order,
        "config": {"schedule": {"eval_subset": 2000, "iterations": its[-1]}}, "split": None,
        "curves": {"iteration": its, "train_loss": [2.0 / i + seed for i in its],
                   "train_error": [50.0] * len(its), "lam": lam, "lr": [0.1] * len(its),
                   "test_iteration": its[1::2], "test_error": [error + 1.0, error]},
        "target_angle_hist": {"bins_deg": BINS, "counts": counts},
        "metrics": {"test_error": error, "test_images": 100},
        "paper": {"test_error": paper, "source": "Liu et al. 2016, Table 2"},
        "wall_time_s": 60.0, "images_per_s": 100.0, "command": "make reproduce-mnist",
        "provenance": {"commit": "abc123", "software": {"torch": "2.13.0"},
                       "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}},
        **extra,
    }  # fmt: skip


def run_name(head, margin, seed):
    return f"{head}-seed{seed}" if margin is None else f"{head}-m{margin}-seed{seed}"


def verification_results(root):
    """LFW runs in paper_repro.face's format: two networks per head (one per half of the
    folds), each tested on five folds; metrics carry the ROC and per-fold accuracies, the
    curves have no test error, and there is no target-angle histogram."""
    for head, margin, acc in (("softmax", None, 97.0), ("lmcl", 0.35, 99.0)):
        for split in (0, 1):
            fpr = np.linspace(0, 1, 50)
            result = fake_result(head, margin, 0, 0.0, experiment="lfw")
            folds = {str(5 * split + i + 1): acc + (i % 2) - 0.5 for i in range(5)}
            result["metrics"] = {
                "accuracy": float(np.mean(list(folds.values()))),
                "fold_accuracy": folds,
                "roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()},
                "tar_at_far": 50.0,
                "far_resolution": 1 / 1500,
            }
            result["curves"] = {  # face runs log no test-error curve
                k: result["curves"][k]
                for k in ("iteration", "train_loss", "train_error", "lam", "lr")
            }
            result["split"] = f"half{split + 1}"
            result["paper"] = {"accuracy": {}, "sources": {}}
            result["note"] = "trained on fake people"
            del result["target_angle_hist"]
            name = f"{run_name(head, margin, 0)}-split{split}"
            write_result(result_path("quick", "lfw", name, root), result)  # fmt: skip


def fake_features(root, study, heads, classes=8, n=40, profile="smoke"):
    """2-D study results with their features beside them (paper_repro.evaluators' format):
    class j at angle 2 pi j / C."""
    rng = np.random.default_rng(0)
    for order, (head, margin) in enumerate(heads):
        angles = 2 * np.pi * np.arange(classes) / classes
        weights = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
        labels = np.arange(2 * n) % classes
        features = (weights[labels] * rng.uniform(1, 3, (2 * n, 1))).astype(np.float32)
        split = np.array(["train"] * n + ["test"] * n, "<U5")
        name = run_name(head, margin, 0)
        folder = root / profile / study
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / f"{name}.npz", features=features, labels=labels, split=split,
                 weights=weights, classes=np.array([str(c) for c in range(classes)]))  # fmt: skip
        result = fake_result(head, margin, 0, 12.5, experiment=study, profile=profile)
        result.update(
            evaluator="features-2d", order=order, hyper={"s": 16.0} if head == "lmcl" else {},
            metrics={"test_error": 12.5, "test_images": n}, command="pytest features",
            features={"npz": f"{name}.npz", "n_train": n, "n_test": n,
                      "classes": [str(c) for c in range(classes)]},
            config={"schedule": {"iterations": 4, "batch_size": 16, "lr": 0.01,
                                 "lr_drops": [2]}, "max_grad_norm": 10.0},
            provenance={"commit": "def456", "software": {"torch": "2.13.0"},
                        "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}},
        )  # fmt: skip
        del result["target_angle_hist"]
        write_result(folder / f"{name}.json", result)


def assert_rendered(paths, *sources):
    """PNG + PDF + caption exist, are real images of some size, and the caption names the
    command and each source folder with its count of files."""
    png, pdf, txt = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    caption = txt.read_text()
    assert caption.count("\n") == 1 and figure_runs.COMMAND in caption
    folders = {}
    for source in sources:
        folders[source.parent] = folders.get(source.parent, 0) + 1
    for folder, count in folders.items():
        assert f"{style.display_path(folder)}/` ({count} file" in caption
    return caption
