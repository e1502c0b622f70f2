"""The 2-D feature trainer on the smoke profile with tiny MNIST in the real format: saved
arrays and provenance, reuse of finished runs, clear divergence, and the figures drawn from
exactly what it saved."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from paper_repro import visual
from paper_repro.data import load_dataset
from paper_repro.experiments import HeadSpec
from paper_repro.report import figures
from paper_repro.train import DivergenceError


def test_studies_match_the_papers_figures():
    fig1, fig4 = visual.STUDIES["lsoftmax-2d"], visual.STUDIES["cosface-toy"]
    assert [h.label for h in fig1.heads] == [
        "softmax", "lsoftmax m=2", "lsoftmax m=3", "lsoftmax m=4", "lmcl m=0.1"]  # fmt: skip
    assert fig1.classes == tuple(range(10)) and fig4.classes == tuple(range(8))
    margins = [h.margin for h in fig4.heads if h.name == "lmcl"]
    assert margins == [0.0, 0.1, 0.2] and max(margins) < 1 - np.cos(np.pi / 4)  # CosFace bound
    assert "stand in" in fig4.note
    # the figures read the files without importing the trainer: same folders, same schema
    assert set(figures.FEATURE_STUDIES) == set(visual.STUDIES)
    assert figures.FEATURES_SCHEMA == visual.FEATURES_SCHEMA
    assert figures.FEATURES_DIR == visual.FEATURES_DIR


def test_select_classes_relabels_in_order(tiny_data):
    split = load_dataset("mnist", "test", tiny_data)
    picked = visual.select_classes(split, (7, 2))
    assert picked.classes == ("7", "2")
    original = split.labels[(split.labels == 7) | (split.labels == 2)]
    assert picked.labels.tolist() == [0 if y == 7 else 1 for y in original.tolist()]
    assert len(visual.select_classes(split, (7, 2), limit=1)) == 1


def test_smoke_study_saves_features_weights_and_provenance(tiny_data, tmp_path):
    out = tmp_path / "features"
    paths = visual.train_study("cosface-toy", "smoke", out_dir=out, command="pytest smoke")
    study = visual.STUDIES["cosface-toy"]
    steps = visual.study_schedule(study, "smoke").iterations
    assert [p.name for p in paths] == [f"{visual.run_id(h, 0)}.json" for h in study.heads]
    n_train = min(sum(load_dataset("mnist", "train", tiny_data).labels < 8).item(), 16)
    n_test = min(sum(load_dataset("mnist", "test", tiny_data).labels < 8).item(), 16)
    for order, path in enumerate(paths):
        meta = json.loads(path.read_text())
        assert meta["schema"] == visual.FEATURES_SCHEMA and meta["order"] == order
        assert meta["command"] == "pytest smoke" and meta["provenance"]["commit"]
        assert meta["provenance"]["software"]["torch"] == torch.__version__
        assert meta["iterations"] == steps == 8
        assert meta["curves"]["iteration"] == list(range(1, steps + 1))
        assert meta["schedule"]["lr"] == pytest.approx(0.001)  # the study's lr, every head
        assert meta["head_hyper"].get("s") == (None if meta["head"] == "softmax" else 16.0)
        assert meta["classes"] == [str(d) for d in range(8)]
        with np.load(path.parent / meta["npz"], allow_pickle=False) as arrays:
            assert arrays["features"].shape == (n_train + n_test, 2)
            assert arrays["features"].dtype == np.float32
            assert arrays["weights"].shape == (8, 2)
            assert (arrays["split"] == "train").sum() == n_train == meta["n_train"]
            assert (arrays["split"] == "test").sum() == n_test == meta["n_test"]
            assert arrays["labels"].min() >= 0 and arrays["labels"].max() < 8
            assert np.isfinite(arrays["features"]).all()
    lam = json.loads(paths[0].read_text())["curves"]["lam"]
    assert lam == [None] * steps  # softmax has no annealing weight
    labels = [json.loads(p.read_text())["head_label"] for p in paths]
    assert labels[1] == "normalised softmax (LMCL m=0)"


def test_lsoftmax_features_anneal_lambda_and_render_figure_1(tiny_data, tmp_path):
    out = tmp_path / "features"
    study, head = visual.STUDIES["lsoftmax-2d"], HeadSpec("lsoftmax", 4)
    path = visual.train_features(study, head, "smoke", out_dir=out, command="pytest smoke")
    meta = json.loads(path.read_text())
    lam = meta["curves"]["lam"]
    assert lam[0] > lam[-1] > 0 and meta["head_hyper"]["m"] == 4
    written = figures.make_figures(tmp_path / "no-results", out, tmp_path / "figures")
    png = tmp_path / "figures" / "fig1-lsoftmax-2d-smoke.png"
    assert png in written and png.stat().st_size > 10_000
    caption = (tmp_path / "figures" / "fig1-lsoftmax-2d-smoke.txt").read_text()
    assert "pytest smoke" in caption and "lsoftmax-m4-seed0.npz" in caption
    assert "SMOKE profile" in caption


def test_finished_runs_are_reused_and_a_new_schedule_retrains(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "features"
    study = visual.STUDIES["cosface-toy"]
    head = study.heads[0]
    first = visual.train_features(study, head, "smoke", out_dir=out)
    stamp = first.stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(visual, "train_features", lambda *a, **k: calls.append(a[1]))
    visual.train_study("cosface-toy", "smoke", out_dir=out)
    assert head not in calls and len(calls) == len(study.heads) - 1  # only the missing heads
    assert first.stat().st_mtime_ns == stamp
    assert visual.is_done(first, study, head, "smoke", 0)
    # a new s for the normalised heads retrains them, not softmax
    rescaled = dataclasses.replace(study, scale=32.0)
    assert visual.is_done(first, rescaled, head, "smoke", 0)
    lmcl_json = visual.feature_paths(study, study.heads[1], "smoke", 0, out)[1]
    saved = json.loads(first.read_text())
    lmcl_json.write_text(json.dumps({**saved, "head_hyper": {"m": 0.0, "s": 16.0}}))
    assert visual.is_done(lmcl_json, study, study.heads[1], "smoke", 0)
    assert not visual.is_done(lmcl_json, rescaled, study.heads[1], "smoke", 0)
    longer = dataclasses.replace(visual.SCHEDULES["smoke"], iterations=5)
    monkeypatch.setitem(visual.SCHEDULES, "smoke", longer)
    assert not visual.is_done(first, study, head, "smoke", 0)


def test_cosface_toy_schedule_and_scale():
    """Figure 4's study: lr / 10 for twice the steps and s = 16 for its normalised heads (the
    reasons are at the study's definition); Figure 1 keeps the profile's schedule and s."""
    fig1, fig4 = visual.STUDIES["lsoftmax-2d"], visual.STUDIES["cosface-toy"]
    quick = visual.SCHEDULES["quick"]
    assert visual.study_schedule(fig1, "quick") == quick
    toy = visual.study_schedule(fig4, "quick")
    assert toy.lr == pytest.approx(quick.lr / 10)
    assert toy.iterations == 2 * quick.iterations == 720
    assert toy.lr_drops == tuple(2 * d for d in quick.lr_drops)
    assert (toy.batch_size, toy.momentum, toy.weight_decay) == (
        quick.batch_size, quick.momentum, quick.weight_decay)  # fmt: skip
    assert visual.head_hyper(fig4, HeadSpec("lmcl", 0.2), toy) == {"m": 0.2, "s": 16.0}
    assert visual.head_hyper(fig4, HeadSpec("softmax"), toy) == {}
    assert visual.head_hyper(fig1, HeadSpec("lmcl", 0.1), quick) == {"m": 0.1}  # head default
    # s = 16 lets a feature on its class weight reach posterior > 0.98 with 8 weights 45 degrees
    # apart in 2-D (CosFace sec. 3.3's argument), where s = 64 only saturates the softmax
    s, c = fig4.scale, np.cos(np.pi / 4)
    others = 2 * np.exp(-s * (1 - c)) + 2 * np.exp(-s) + 2 * np.exp(-s * (1 + c)) + np.exp(-2 * s)
    assert 0.98 < 1 / (1 + others) < 0.99


def test_divergence_is_reported(tiny_data, tmp_path, monkeypatch):
    wild = dataclasses.replace(visual.SCHEDULES["smoke"], lr=1e30)
    monkeypatch.setitem(visual.SCHEDULES, "smoke", wild)
    monkeypatch.setattr(visual, "MAX_GRAD_NORM", 1e30)
    with pytest.raises(DivergenceError, match="became NaN/inf at iteration"):
        visual.train_features(
            visual.STUDIES["cosface-toy"], HeadSpec("softmax"), "smoke", out_dir=tmp_path
        )
    assert not list(tmp_path.rglob("*.json"))  # nothing marked done


def test_profiles_without_a_feature_schedule_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no feature schedule"):
        visual.train_features(
            visual.STUDIES["cosface-toy"], HeadSpec("softmax"), "paper", out_dir=tmp_path
        )
