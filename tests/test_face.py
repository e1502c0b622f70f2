"""The LFW runner end to end on generated data in the real formats (LFW archive and protocol
files, insightface RecordIO + lfw.bin, a folder per identity): which data and protocol each
profile picks, what each result holds, exact resume, and the table from results alone."""

from __future__ import annotations

import dataclasses
import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from paper_repro import face
from paper_repro.data import files, lfw, recordio
from paper_repro.results import (
    REQUIRED,
    SCHEMA,
    load_results,
    read_result,
    result_path,
    write_result,
)

TINY = dataclasses.replace(
    face.FACE_PROFILES["smoke"].schedule, iterations=3, lr_drops=(2,), checkpoint_every=1
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from threads, and on a busy machine waiting intra-op
    threads make them several times slower; results are per thread count either way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(files, "fetch", offline)
    monkeypatch.setenv(files.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(files.ENV_DATA_ROOT, raising=False)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data root with a generated LFW whose digests lfw.LFW accepts."""
    root = tmp_path / "data"
    monkeypatch.setattr(lfw, "LFW", lfw.write_synthetic_lfw(root))
    return root


def tiny_profile(monkeypatch, name: str) -> face.FaceProfile:
    """Profile `name` with its protocol and data choice, on a seconds-long schedule."""
    settings = dataclasses.replace(face.FACE_PROFILES[name], schedule=TINY, network="face-smoke")
    monkeypatch.setitem(face.FACE_PROFILES, name, settings)
    return settings


def fold_keys(result) -> list[int]:
    return sorted(map(int, result["metrics"]["fold_accuracy"]))  # JSON keys are strings


def run(tmp_path, profile, **kw):
    dirs = {k: tmp_path / k for k in ("results_dir", "tables_dir", "runs_dir")}
    table = face.run_lfw(profile, progress=False, command="pytest", **dirs, **kw)
    return table, load_results(profile, face.EXPERIMENT, dirs["results_dir"])


# --------------------------------------------------------------------------- profiles


def test_smoke_profile_runs_every_head_on_generated_faces(tmp_path):
    table, results = run(tmp_path, "smoke")
    assert sorted((r["head_label"], r["split"]) for r in results) == sorted(
        (h.label, s) for h in face.FACE_HEADS for s in ("half1", "half2")
    )
    for r in results:
        assert set(REQUIRED) <= set(r) and r["schema"] == SCHEMA
        assert r["dataset"] == "synthetic" and r["profile"] == "smoke"
        folds = {"half1": [6, 7, 8, 9, 10], "half2": [1, 2, 3, 4, 5]}
        assert fold_keys(r) == folds[r["split"]]
        assert all(0.0 <= a <= 100.0 for a in r["metrics"]["fold_accuracy"].values())
        assert r["curves"]["iteration"] == [1, 2, 3, 4]
        roc_points = r["metrics"]["roc"]
        assert roc_points["fpr"][0] == 0.0 and roc_points["tpr"][-1] == 1.0
    text = table.read_text()
    assert table.name == "smoke-lfw.md" and "SMOKE profile" in text
    for h in face.FACE_HEADS:
        runs = [r for r in results if r["head_label"] == h.label]
        accs = [a for r in runs for a in r["metrics"]["fold_accuracy"].values()]
        margin = "-" if h.margin is None else str(h.margin)
        row = f"| {h.name} | {margin} | {np.mean(accs):.2f} ± {np.std(accs, ddof=1):.2f} (n=10"
        assert row in text
    lambdas = {r["head_label"]: r["curves"]["lam"] for r in results if r["split"] == "half1"}
    assert lambdas["lsoftmax m=2"][0] > lambdas["lsoftmax m=2"][-1] > 0  # annealed
    assert lambdas["asoftmax m=4"] == [5.0] * 4  # compressed to 4 steps: SphereFace's floor
    assert lambdas["softmax"] == [None] * 4


def test_quick_profile_trains_two_halves_on_lfw_files(root, tmp_path, monkeypatch):
    tiny_profile(monkeypatch, "quick")
    table, results = run(tmp_path, "quick", heads=["softmax"], data_root=root)
    assert [r["split"] for r in results] == ["half1", "half2"]
    for r in results:
        assert r["dataset"] == "lfw" and "NOT comparable" in r["note"]
        # people with at least 2 images (3 and 2 of each fold's 3) of five folds
        assert r["config"]["train_identities"] == 10 and r["config"]["train_images"] == 25
        assert r["config"]["face_shape"] == [1, 56, 48]
        assert r["metrics"]["test_pairs"] == 5 * 4
    text = table.read_text()
    assert "LFW image-unrestricted" in text and "NOT comparable" in text
    assert "| softmax | - |" in text and "| 96.53 | 97.88 |" in text
    # finished runs are reused: nothing trains again
    monkeypatch.setattr(face, "train_face_cell", lambda *a, **k: pytest.fail("retrained"))
    run(tmp_path, "quick", heads=["softmax"], data_root=root)


def test_paper_profile_without_casia_trains_one_network_per_fold(root, tmp_path, monkeypatch):
    tiny_profile(monkeypatch, "paper")
    _, results = run(tmp_path, "paper", heads=["lmcl"], data_root=root)
    assert [r["split"] for r in results] == [f"fold{k:02d}" for k in range(1, 11)]
    for k, r in enumerate(results, start=1):
        assert fold_keys(r) == [k]  # its own fold only
        assert r["config"]["train_identities"] == 9 * 3  # every person of the nine others
        assert r["metrics"]["test_pairs"] == 4
        assert r["config"]["head_hyper"] == {"s": 64.0, "m": 0.35}


def recordio_casia(folder, identities=6, per_identity=3, pairs=20):
    rng = np.random.default_rng(5)

    def aligned() -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(buf, "JPEG")
        return buf.getvalue()

    folder.mkdir(parents=True)
    n = identities * per_identity
    records = [recordio.pack_image_record([n + 1, n + 1 + identities], b"")]
    records += [recordio.pack_image_record(float(i % identities), aligned()) for i in range(n)]
    recordio.write_recordio(folder / "train.rec", folder / "train.idx", records)
    issame = [i % 2 == 0 for i in range(pairs)]
    (folder / "lfw.bin").write_bytes(pickle.dumps(([aligned() for _ in range(2 * pairs)], issame)))


def test_paper_profile_uses_casia_recordio_and_lfw_bin(tmp_path, monkeypatch):
    tiny_profile(monkeypatch, "paper")
    data_root = tmp_path / "data"
    recordio_casia(data_root / face.CASIA_FOLDER)
    _, [r] = run(tmp_path, "paper", heads=["softmax"], data_root=data_root)
    assert r["split"] == "casia" and r["dataset"] == "casia-recordio"
    assert r["config"]["train_identities"] == 6 and r["config"]["train_images"] == 18
    assert fold_keys(r) == list(range(1, 11))
    assert r["metrics"]["test_pairs"] == 20
    assert "lfw.bin" in r["config"]["split"]


def test_paper_profile_uses_casia_folders_and_lfw_pairs(root, tmp_path, monkeypatch):
    tiny_profile(monkeypatch, "paper")
    rng = np.random.default_rng(6)
    for identity in ("0000001", "0000002", "0000003"):
        (root / face.CASIA_FOLDER / "CASIA-WebFace" / identity).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)).save(
                root / face.CASIA_FOLDER / "CASIA-WebFace" / identity / f"{k:03d}.jpg"
            )
    _, [r] = run(tmp_path, "paper", heads=["softmax"], data_root=root)
    assert r["dataset"] == "casia-folders" and r["config"]["train_images"] == 12
    assert r["metrics"]["test_pairs"] == 40  # every LFW pair, 10 folds
    assert fold_keys(r) == list(range(1, 11))


# --------------------------------------------------------------------------- training loop


def _comparable(result):
    timing = {"wall_time_s", "train_time_s", "images_per_s", "provenance"}
    return {k: v for k, v in result.items() if k not in timing}


def test_interrupted_run_resumes_to_the_same_result(root, tmp_path, monkeypatch):
    settings = tiny_profile(monkeypatch, "quick")
    data = face.training_data(settings, root)
    cell = face.FaceCell(settings, face.FaceHead("lsoftmax", 2), 0, "half1")
    with face.face_splits(settings, data, root) as split:
        kw = {"data": data, "progress": False, "command": "pytest"}

        def train(where, **extra):
            return face.train_face_cell(
                cell,
                split("half1"),
                runs_dir=where / "runs",
                results_dir=where / "r",
                **kw,
                **extra,
            )

        whole = train(tmp_path / "a")
        assert train(tmp_path / "b", stop_after=1) is None  # "killed" after iteration 1
        resumed = train(tmp_path / "b")
    assert _comparable(resumed) == _comparable(whole)
    path = result_path("quick", face.EXPERIMENT, cell.run_id, tmp_path / "b" / "r")
    assert read_result(path) == resumed


def test_flip_augmentation_and_features(root, monkeypatch):
    """The descriptor is [f(x), f(flip x)]: a mirrored image's is the original's, halves
    swapped."""
    settings = tiny_profile(monkeypatch, "quick")
    images = torch.randint(0, 256, (2, 1, 56, 48), dtype=torch.uint8)
    images[1] = images[0].flip(-1)
    net = face.make_face_network(settings.network)
    features = face.embed(net, images, torch.zeros(1), "cpu")
    assert features.shape == (2, 2 * net.feature_dim)
    assert np.allclose(features[0, : net.feature_dim], features[1, net.feature_dim :], atol=1e-5)


# --------------------------------------------------------------------------- metrics, table


def test_verification_metrics_report_only_test_folds():
    folds = np.repeat(np.arange(1, 11), 20)
    issame = np.tile(np.r_[np.ones(10, bool), np.zeros(10, bool)], 10)
    scores = np.where(issame, 0.6, 0.1)
    scores[folds == 3] = np.where(issame[folds == 3], 0.1, 0.6)  # fold 3 entirely inverted
    m = face.verification_metrics(scores, issame, folds, (3, 4))
    assert m["fold_accuracy"] == {"3": 0.0, "4": 100.0}
    assert m["accuracy"] == 50.0 and m["test_pairs"] == 40
    # the inverted fold's impostors score 0.6 like fold 4's matches: no threshold accepts any
    # match without 10 of the 20 impostors
    assert m["far_resolution"] == 1 / 20 and m["tar_at_far"] == 0.0


def fake(head, margin, fold_accs, tar, split="half1", label="LFW x"):
    h = face.FaceHead(head, margin)
    return {
        "schema": SCHEMA, "experiment": "lfw", "dataset_label": label, "note": "a note",
        "profile": "quick", "head": head, "head_label": h.label, "margin": margin, "seed": 0,
        "split": split, "config": {}, "curves": {}, "wall_time_s": 60.0, "images_per_s": 10.0,
        "metrics": {"fold_accuracy": fold_accs, "tar_at_far": tar, "far_resolution": 1 / 1500},
        "command": "make x",
        "provenance": {"commit": "abc", "software": {"torch": "2"},
                       "hardware": {"device": "cpu", "cpu": "C", "cpu_cores": 2}},
    }  # fmt: skip


def test_table_pools_folds_of_both_halves(tmp_path):
    results = [
        fake("lsoftmax", 4, {"6": 80.0, "7": 90.0}, 10.0, "half1"),
        fake("lsoftmax", 4, {"1": 70.0, "2": 60.0}, 30.0, "half2"),
        fake("softmax", None, {"6": 50.0}, 5.0),
    ]
    for r in results:
        write_result(result_path("quick", "lfw", f"{r['head']}-{r['split']}", tmp_path), r)
    path = face.write_lfw_table("quick", tmp_path, tmp_path / "tables")
    text = path.read_text()
    accs = np.array([80.0, 90.0, 70.0, 60.0])
    row = f"| lsoftmax | 4 | {accs.mean():.2f} ± {accs.std(ddof=1):.2f} (n=4 folds) | 20.00 (n=2) "
    assert row + "| 98.71 | 99.10† |" in text
    assert "| softmax | - | 50.00 ± 0.00 (n=1 folds) | 5.00 (n=1) | 96.53 | 97.88 |" in text
    assert text.index("| softmax |") < text.index("| lsoftmax |")  # FACE_HEADS order
    assert "## Ours: LFW x" in text and "> a note" in text and "QUICK profile" in text
    assert "wall time: 0.05 h over 3 runs" in text


def test_empty_table():
    assert "**No results.**" in face.render_lfw_table("paper", [])


def test_head_selection_and_hyper_parameters():
    assert [h.label for h in face.select_heads(["lsoftmax"])] == [
        "lsoftmax m=2", "lsoftmax m=3", "lsoftmax m=4",
    ]  # fmt: skip
    assert face.select_heads(["arcface m=0.5", "softmax"]) == (
        face.FACE_HEADS[0],
        face.FACE_HEADS[-1],
    )
    with pytest.raises(ValueError, match="unknown face head 'cosface'; valid heads: softmax"):
        face.select_heads(["cosface"])
    quick, paper = face.FACE_PROFILES["quick"], face.FACE_PROFILES["paper"]
    assert face.FaceHead("arcface", 0.5).hyper(quick) == {"s": 30.0, "m": 0.5}
    assert face.FaceHead("arcface", 0.5).hyper(paper) == {"s": 64.0, "m": 0.5}
    lam = face.FaceHead("asoftmax", 4).hyper(paper)["lam"]
    assert lam == face.SPHEREFACE_LAMBDA  # the released schedule, uncompressed at 28k
    short = face.FaceHead("asoftmax", 4).hyper(quick)["lam"]
    # the same fraction of training has the same lambda: 30 of 1200 iterations, 700 of 28k
    assert short(30) == pytest.approx(lam(700)) == pytest.approx(1000 / 85)
