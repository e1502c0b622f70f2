"""The training loop on the smoke profile with tiny data in the real formats: every dataset
reader and network, exact resume after an interruption, determinism, clear failures."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from paper_repro import experiments
from paper_repro.experiments import EXPERIMENTS, Cell, HeadSpec, get_experiment
from paper_repro.results import read_result, result_path
from paper_repro.train import (
    BatchOrder,
    CheckpointError,
    DivergenceError,
    loss_jump,
    pad_crop_flip,
    train_cell,
)

SOFTMAX = HeadSpec("softmax")


def smoke_cell(experiment="mnist", head=SOFTMAX, seed=0) -> Cell:
    return Cell(get_experiment(experiment), head, seed, "smoke")


def run(cell, tmp_path, **kw):
    return train_cell(cell, runs_dir=tmp_path / "runs", results_dir=tmp_path / "results",
                      progress=False, command="pytest", **kw)  # fmt: skip


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_smoke_profile_trains_every_dataset_and_network(name, tiny_data, tmp_path):
    cell = smoke_cell(name, HeadSpec("lsoftmax", 2))
    result = run(cell, tmp_path)
    saved = read_result(result_path("smoke", name, cell.run_id, tmp_path / "results"))
    assert saved == result
    assert 0.0 <= result["metrics"]["test_error"] <= 100.0
    assert result["curves"]["iteration"] == [1, 2, 3, 4]
    assert result["curves"]["lam"][0] > result["curves"]["lam"][-1] > 0  # annealed lambda
    assert result["dataset_label"] == get_experiment(name).label
    assert result["provenance"]["software"]["torch"] == torch.__version__
    assert sum(result["target_angle_hist"]["counts"]) == result["metrics"]["test_images"]
    if "jpeg" in name:
        assert "JPEG q75 copy" in result["dataset_label"] and "not the original" in result["note"]


def _final_state(tmp_path, cell):
    return torch.load(tmp_path / "runs" / "smoke" / cell.experiment.name / f"{cell.run_id}.pt",
                      weights_only=True)  # fmt: skip


def _comparable(result):
    timing = {"wall_time_s", "train_time_s", "images_per_s", "provenance"}
    return {k: v for k, v in result.items() if k not in timing}


@pytest.mark.parametrize("head", [HeadSpec("lsoftmax", 4), HeadSpec("lmcl", 0.35)])
def test_interrupted_run_resumes_to_the_same_weights_and_metrics(head, tiny_data, tmp_path):
    cell = smoke_cell("cifar10+", head)  # augmentation randomness must resume too
    whole = run(cell, tmp_path / "a")
    assert run(cell, tmp_path / "b", stop_after=1) is None  # "killed" after iteration 1
    assert run(cell, tmp_path / "b", stop_after=2) is None  # killed again after iteration 3
    resumed = run(cell, tmp_path / "b")
    assert _comparable(resumed) == _comparable(whole)
    a, b = _final_state(tmp_path / "a", cell), _final_state(tmp_path / "b", cell)
    for part in ("net", "head"):
        for key, tensor in a[part].items():
            assert torch.equal(tensor, b[part][key]), f"{part}.{key} differs after resume"


def test_same_seed_is_bit_for_bit_and_other_seed_differs(tiny_data, tmp_path):
    first = run(smoke_cell(seed=3), tmp_path / "a")
    again = run(smoke_cell(seed=3), tmp_path / "b")
    other = run(smoke_cell(seed=4), tmp_path / "c")
    assert first["curves"] == again["curves"]
    assert first["curves"]["train_loss"] != other["curves"]["train_loss"]


def test_finished_cell_result_is_not_recomputed_by_resume(tiny_data, tmp_path):
    cell = smoke_cell()
    run(cell, tmp_path)
    path = result_path("smoke", "mnist", cell.run_id, tmp_path / "results")
    before = path.stat().st_mtime_ns
    # resuming from the final checkpoint trains no further step and gives the same metrics
    assert run(cell, tmp_path)["metrics"] == read_result(path)["metrics"]
    assert path.stat().st_mtime_ns >= before


def test_corrupt_checkpoint_is_rejected_with_its_path(tiny_data, tmp_path):
    cell = smoke_cell()
    run(cell, tmp_path, stop_after=1)
    ckpt = tmp_path / "runs" / "smoke" / "mnist" / f"{cell.run_id}.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=rf"{ckpt.name}.*delete it to restart"):
        run(cell, tmp_path)


def test_checkpoint_of_another_configuration_is_rejected(tiny_data, tmp_path, monkeypatch):
    cell = smoke_cell()
    run(cell, tmp_path, stop_after=1)
    changed = dataclasses.replace(experiments.SCHEDULES["smoke"], lr=0.05)
    monkeypatch.setitem(experiments.SCHEDULES, "smoke", changed)
    with pytest.raises(CheckpointError, match="another configuration"):
        run(cell, tmp_path)


def test_divergence_stops_with_iteration_and_advice(tiny_data, tmp_path, monkeypatch):
    exploding = dataclasses.replace(experiments.SCHEDULES["smoke"], lr=1e12)
    monkeypatch.setitem(experiments.SCHEDULES, "smoke", exploding)
    with pytest.raises(DivergenceError, match=r"at iteration \d+ with lambda = .*lam_min"):
        run(smoke_cell(head=HeadSpec("lsoftmax", 4)), tmp_path)


def test_pad_crop_flip_matches_a_slow_loop():
    """Each output is a window of the zero-padded image, mirrored when flipped (CIFAR-10+)."""
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    out = pad_crop_flip(x, g1, pad=2)
    offsets = torch.randint(0, 5, (2, 2), generator=g2)
    flips = torch.rand(2, generator=g2) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        oy, ox = offsets[i].tolist()
        window = padded[i, :, oy : oy + 5, ox : ox + 6]
        expected = window.flip(-1) if flips[i] else window
        assert torch.equal(out[i], expected)


def test_batch_order_is_a_permutation_per_epoch_and_reproducible():
    order = BatchOrder(10, 3, seed=1)
    epoch0 = torch.cat([order.indices(it) for it in (1, 2, 3)])
    assert len(set(epoch0.tolist())) == 9  # 3 batches of 3 distinct images; 1 dropped
    assert torch.equal(BatchOrder(10, 3, seed=1).indices(2), order.indices(2))
    assert not torch.equal(order.indices(4), order.indices(1))  # a new epoch, a new order
    with pytest.raises(ValueError, match="batch size 11 exceeds the 10 training images"):
        BatchOrder(10, 11, seed=0)


def test_loss_jump_is_flagged_with_advice_but_not_normal_noise():
    curves = {"iteration": [10, 20, 30], "train_loss": [2.3, 0.4, 0.45], "lam": [100, 10, 1]}
    assert loss_jump(curves, num_classes=10) is None  # noise after progress
    curves["train_loss"][-1] = 87.3  # Caffe's -log(FLT_MIN)
    message = loss_jump(curves, num_classes=10)
    assert "jumped from 0.4 to 87.3 at iteration 30 with lambda = 1" in message
    assert "lam_min" in message
    curves["train_loss"] = [2.3, 2.2, 2.31]  # still at chance: not a jump
    assert loss_jump(curves, num_classes=10) is None


def test_result_records_warnings_list(tiny_data, tmp_path):
    assert run(smoke_cell(), tmp_path)["warnings"] == []


@pytest.mark.parametrize(
    "head",
    [HeadSpec("asoftmax", 4), HeadSpec("lmcl", 0.35), HeadSpec("arcface", 0.5),
     HeadSpec("bdlmcl", 0.35), HeadSpec("lsoftmax", 4)],
    ids=lambda h: h.label,
)  # fmt: skip
def test_every_head_trains_on_smoke_without_nan(head, tiny_data, tmp_path):
    curves = run(smoke_cell(head=head), tmp_path)["curves"]
    assert all(math.isfinite(v) for v in curves["train_loss"] + curves["test_error"])
