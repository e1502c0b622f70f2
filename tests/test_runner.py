"""The one runner on every kind of run (tables, LFW, 2-D studies, user data), with tiny data
in the real formats: exact resume after an interruption, determinism, the done rule, clear
failures."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from paper_repro.checkpoints import is_done, result_path
from paper_repro.data import DataError
from paper_repro.experiments import EXPERIMENTS, get_experiment, user_run
from paper_repro.losses import compiled as compiled_loss
from paper_repro.monitoring import DivergenceError, loss_jump
from paper_repro.results import read_result
from paper_repro.runner import Classifier, train_run
from paper_repro.steps import BatchOrder, pad_crop_flip


def smoke(experiment="mnist", run_id="lsoftmax-m2-seed0", **changes):
    [spec] = [r for r in get_experiment(experiment).runs("smoke") if r.run_id == run_id]
    return dataclasses.replace(spec, **changes)


def run(spec, tmp_path, catalog, **kw):
    out = {"runs_dir": tmp_path / "runs", "results_dir": tmp_path / "results"}
    return train_run(spec, catalog=catalog, progress=False, command="pytest", **out, **kw)


def _comparable(result):
    timing = {"wall_time_s", "train_time_s", "images_per_s", "provenance"}
    return {k: v for k, v in result.items() if k not in timing}


def _weights(tmp_path, spec):
    path = tmp_path / "runs" / "smoke" / spec.experiment / f"{spec.run_id}.pt"
    state = torch.load(path, weights_only=True)
    return {f"{part}.{k}": v for part in ("net", "head") for k, v in state[part].items()}


CLASSIFICATION = [
    n for n, e in EXPERIMENTS.items() if e.runs("smoke")[0].evaluator == "classification"
]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_smoke_run_of_every_table_trains_each_dataset_and_network(name, tiny_data, tmp_path):
    runs = get_experiment(name).runs("smoke")
    spec = next((r for r in runs if r.head.name == "lsoftmax"), runs[-1])
    result = run(spec, tmp_path, tiny_data)
    assert read_result(result_path(spec, tmp_path / "results")) == result
    assert 0.0 <= result["metrics"]["test_error"] <= 100.0
    steps = 4 * (2 if EXPERIMENTS[name].checks else 1)  # smoke: 4 steps, doubled for checks
    assert result["curves"]["iteration"] == list(range(1, steps + 1))
    if spec.head.name == "lsoftmax":
        assert result["curves"]["lam"][0] > result["curves"]["lam"][-1] > 0  # annealed lambda
    assert result["dataset_label"] == tiny_data.get(spec.dataset).label
    assert result["provenance"]["software"]["torch"] == torch.__version__
    assert sum(result["target_angle_hist"]["counts"]) == result["metrics"]["test_images"]
    assert result["precision"] == "fp32" and isinstance(result["warnings"], list)
    if "jpeg" in name:
        assert "JPEG q75 copy" in result["dataset_label"] and "not the original" in result["note"]


KINDS = [  # one run of each evaluator; cifar10+ also resumes its augmentation randomness
    ("cifar10+", "lsoftmax-m4-seed0"),
    ("lfw", "lsoftmax-m2-half1-seed0"),
    ("lfw", "lmcl-m0.35-half2-seed0"),
    ("lsoftmax-2d", "lmcl-m0.1-seed0"),
    ("cosface-toy", "lmcl-m0.2-seed0"),
]


@pytest.mark.parametrize("experiment,run_id", KINDS)
def test_interrupted_run_resumes_to_the_same_weights_and_result(experiment, run_id, tiny_data,
                                                                tmp_path):  # fmt: skip
    spec = smoke(experiment, run_id)
    whole = run(spec, tmp_path / "a", tiny_data)
    assert run(spec, tmp_path / "b", tiny_data, stop_after=1) is None  # "killed" after step 1
    assert run(spec, tmp_path / "b", tiny_data, stop_after=2) is None  # and after step 3
    resumed = run(spec, tmp_path / "b", tiny_data)
    assert _comparable(resumed) == _comparable(whole)
    a, b = _weights(tmp_path / "a", spec), _weights(tmp_path / "b", spec)
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    if spec.evaluator == "features-2d":
        npz = lambda d: np.load(result_path(spec, d / "results").with_suffix(".npz"))  # noqa: E731
        assert np.array_equal(npz(tmp_path / "a")["features"], npz(tmp_path / "b")["features"])


@pytest.mark.parametrize("precision", ["bf16"])  # fp32: test_interrupted_run_resumes_...
def test_bf16_run_resumes_to_the_same_weights_and_records_its_precision(precision, tiny_data,
                                                                         tmp_path):  # fmt: skip
    # the face smoke network: small enough for emulated bf16 on CPUs without native bf16
    spec = smoke("lfw", "lsoftmax-m4-half1-seed0", precision=precision)
    whole = run(spec, tmp_path / "a", tiny_data)
    assert run(spec, tmp_path / "b", tiny_data, stop_after=2) is None
    assert _comparable(run(spec, tmp_path / "b", tiny_data)) == _comparable(whole)
    a, b = _weights(tmp_path / "a", spec), _weights(tmp_path / "b", spec)
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert whole["precision"] == whole["run"]["precision"] == precision


@pytest.mark.parametrize(
    "experiment,run_id,precision",
    [(*k, "fp32") for k in KINDS[1:4:2]] + [("lfw", "lmcl-m0.35-half2-seed0", "bf16")],
)
def test_same_seed_is_bit_for_bit_and_other_seed_differs(experiment, run_id, precision,
                                                         tiny_data, tmp_path):  # fmt: skip
    spec = smoke(experiment, run_id, precision=precision)
    first = run(spec, tmp_path / "a", tiny_data)
    again = run(spec, tmp_path / "b", tiny_data)
    other = run(dataclasses.replace(spec, seed=4), tmp_path / "c", tiny_data)
    assert first["curves"] == again["curves"] and first["metrics"] == again["metrics"]
    assert first["curves"]["train_loss"] != other["curves"]["train_loss"]


def test_face_run_reports_only_its_test_folds(tiny_data, tmp_path):
    result = run(smoke("lfw", "softmax-half1-seed0"), tmp_path, tiny_data)
    assert sorted(int(k) for k in result["metrics"]["fold_accuracy"]) == [6, 7, 8, 9, 10]
    assert result["faces"]["test_folds"] == [6, 7, 8, 9, 10]
    assert result["evaluator"] == "verification" and result["config"]["augment"] == "flip"


def test_casia_folders_train_and_all_lfw_pairs_test(tiny_data, tmp_path):
    rng = np.random.default_rng(6)
    tree = tiny_data.root / "casia-webface" / "CASIA-WebFace"
    for identity in ("0000001", "0000002", "0000003"):
        (tree / identity).mkdir(parents=True)
        for k in range(4):
            pixels = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tree / identity / f"{k:03d}.jpg")
    spec = smoke("lfw", "softmax-half1-seed0", dataset="casia-webface", split="casia")
    result = run(spec, tmp_path, tiny_data)
    assert result["config"]["train_images"] == 12 and result["metrics"]["test_pairs"] == 40
    assert sorted(int(k) for k in result["metrics"]["fold_accuracy"]) == list(range(1, 11))


def test_missing_casia_names_the_folder(tiny_data, tmp_path):
    spec = smoke("lfw", "softmax-half1-seed0", dataset="casia-webface", split="casia")
    with pytest.raises(DataError, match=r"casia-webface.*train\.rec"):
        run(spec, tmp_path, tiny_data)


def test_study_saves_features_weights_and_only_its_classes(tiny_data, tmp_path):
    spec = smoke("cosface-toy", "lmcl-m0.0-seed0")
    result = run(spec, tmp_path, tiny_data)
    arrays = np.load(result_path(spec, tmp_path / "results").with_suffix(".npz"))
    assert arrays["weights"].shape == (8, 2) and arrays["features"].shape[1] == 2
    assert set(arrays["labels"].tolist()) <= set(range(8))
    assert list(arrays["classes"]) == [str(d) for d in range(8)]
    assert result["head_label"] == "normalised softmax (lmcl m=0)"
    assert result["hyper"]["s"] == 16.0 and result["config"]["max_grad_norm"] == 10.0


def test_done_rule_is_the_identity_and_another_identity_retrains(tiny_data, tmp_path):
    spec = smoke()
    run(spec, tmp_path, tiny_data)
    assert is_done(spec, tmp_path / "results")
    changed = dataclasses.replace(spec, schedule=dataclasses.replace(spec.schedule, lr=0.05))
    assert result_path(changed, tmp_path / "results").exists()
    assert not is_done(changed, tmp_path / "results")


def test_a_truncated_checkpoint_is_set_aside_in_one_line_and_the_run_restarts(
    tiny_data, tmp_path, capsys
):
    spec = smoke()
    whole = run(spec, tmp_path / "clean", tiny_data)
    run(spec, tmp_path, tiny_data, stop_after=1)
    ckpt = tmp_path / "runs" / "smoke" / "mnist" / f"{spec.run_id}.pt"
    damaged = ckpt.read_bytes()[:100]
    ckpt.write_bytes(damaged)
    capsys.readouterr()
    result = run(spec, tmp_path, tiny_data)  # restarts from the start: the same run as whole
    assert result["metrics"] == whole["metrics"] and result["curves"] == whole["curves"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"checkpoint {ckpt} cannot be read" in err[0]
    assert f"kept as {ckpt.name}.bad" in err[0]
    assert (ckpt.parent / f"{ckpt.name}.bad").read_bytes() == damaged  # kept, not deleted


def test_a_checkpoint_of_another_configuration_is_set_aside_too(tiny_data, tmp_path, capsys):
    spec = smoke()
    run(spec, tmp_path, tiny_data, stop_after=1)
    changed = dataclasses.replace(spec, schedule=dataclasses.replace(spec.schedule, lr=0.05))
    capsys.readouterr()
    assert run(changed, tmp_path, tiny_data)["metrics"]["test_error"] >= 0
    assert "belongs to another configuration" in capsys.readouterr().err
    ckpt = tmp_path / "runs" / "smoke" / "mnist" / f"{spec.run_id}.pt.bad"
    assert ckpt.exists()


def test_divergence_is_recorded_with_iteration_and_advice_in_one_line(tiny_data, tmp_path, capsys):
    spec = smoke(run_id="lsoftmax-m4-seed0")
    spec = dataclasses.replace(spec, schedule=dataclasses.replace(spec.schedule, lr=1e12))
    result = run(spec, tmp_path, tiny_data)
    assert math.isnan(result["metrics"]["test_error"]) and result["fit"]["status"] == "diverged"
    assert re.search(r"at iteration \d+ with lambda = .*lam_min", result["diverged"]["message"])
    err = [line for line in capsys.readouterr().err.splitlines() if "NaN/inf" in line]
    assert len(err) == 1 and err[0].endswith("Recorded as diverged.")
    assert is_done(spec, tmp_path / "results")  # the same seed would diverge again


def test_a_study_that_diverges_still_raises(tiny_data, tmp_path):
    [spec] = [r for r in get_experiment("lsoftmax-2d").runs("smoke") if r.head.name == "lmcl"]
    spec = dataclasses.replace(spec, max_grad_norm=None,
                               schedule=dataclasses.replace(spec.schedule, lr=1e12))  # fmt: skip
    with pytest.raises(DivergenceError, match="NaN/inf"):
        run(spec, tmp_path, tiny_data)


@pytest.mark.parametrize(("poisoned", "last_checkpoint"), [(1, None), (5, 4)])
def test_nan_is_reported_at_its_iteration_and_nothing_after_it_is_saved(
    poisoned, last_checkpoint, tiny_data, tmp_path, monkeypatch
):
    """The step keeps no host sync for the finite checks: a NaN at iteration `poisoned` is
    found at the next check (checkpoints every 2 iterations, curve points every 4), reported
    with the iteration where it appeared, and no checkpoint or result holds a later step."""
    spec = smoke()
    schedule = dataclasses.replace(
        spec.schedule, iterations=8, log_every=4, checkpoint_every=2, eval_every=100
    )
    spec = dataclasses.replace(spec, schedule=schedule)
    calls, forward = [0], Classifier.forward

    def poisoned_forward(self, x, y):
        calls[0] += 1
        return forward(self, x * float("nan") if calls[0] == poisoned else x, y)

    monkeypatch.setattr(Classifier, "forward", poisoned_forward)
    result = run(spec, tmp_path, tiny_data)
    assert f"features became NaN/inf at iteration {poisoned}" in result["diverged"]["message"]
    assert result["diverged"]["iteration"] == poisoned
    checkpoint = tmp_path / "runs" / "smoke" / "mnist" / f"{spec.run_id}.pt"
    saved = torch.load(checkpoint, weights_only=True)["iteration"] if checkpoint.exists() else None
    assert saved == last_checkpoint
    # the result records the divergence, no number computed after it: no curve point past
    # the last finite one, no test error
    assert all(it < poisoned for it in result["curves"]["iteration"])
    assert math.isnan(result["metrics"]["test_error"])


@pytest.mark.parametrize(
    "head,hyper", [("asoftmax", {"m": 4}), ("lmcl", {}), ("arcface", {}), ("bdlmcl", {})]
)
def test_every_head_trains_on_smoke_without_nan(head, hyper, tiny_data, tmp_path):
    spec = user_run("mnist", "table1-mnist", head, hyper, "smoke")
    curves = run(spec, tmp_path, tiny_data)["curves"]
    assert all(math.isfinite(v) for v in curves["train_loss"] + curves["test_error"])


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


@pytest.mark.skipif(not any(map(shutil.which, ("cc", "gcc", "clang"))), reason="no C compiler")
def test_compiled_training_is_deterministic_close_to_eager_and_recorded(tiny_data, tmp_path):
    spec = smoke("lsoftmax-2d", "lsoftmax-m2-seed0")
    first = run(spec, tmp_path / "a", tiny_data, compile_net=True)
    again = run(spec, tmp_path / "b", tiny_data, compile_net=True)
    eager = run(spec, tmp_path / "c", tiny_data)
    assert first["provenance"]["torch_compile"] == [
        {"from_iteration": 0, "requested": True, "used": True, "error": None,
         "loss_error": None}]  # fmt: skip
    assert eager["provenance"]["torch_compile"][0]["requested"] is False
    assert first["curves"] == again["curves"] and first["metrics"] == again["metrics"]
    # fused kernels may round differently, nothing more
    np.testing.assert_allclose(first["curves"]["train_loss"], eager["curves"]["train_loss"],
                               rtol=1e-3)  # fmt: skip


def test_failed_compile_falls_back_to_eager_and_says_why(tiny_data, tmp_path, monkeypatch, request):
    class Broken(torch.nn.Module):  # what torch.compile returns where inductor cannot build
        error = torch._dynamo.exc.BackendCompilerFailed(
            print, RuntimeError("no working C compiler"), None)  # fmt: skip

        def __init__(self, net, **options):
            super().__init__()
            self.net = net

        def forward(self, *args):
            self.net(*args)  # a graph that ran partly (batch norm statistics updated), failed
            raise self.error

    def broken_loss(graph, example_inputs, options=None):
        raise torch._inductor.exc.InvalidCxxCompiler()

    monkeypatch.setattr(torch, "compile", Broken)
    monkeypatch.setattr(torch._inductor, "compile", broken_loss)
    compiled_loss.clear()  # the loss arithmetic compiles anew, and fails
    request.addfinalizer(compiled_loss.clear)
    spec = smoke()
    # killed after 2 compiled-then-eager steps, resumed without compiling
    assert run(spec, tmp_path / "a", tiny_data, compile_net=True, stop_after=2) is None
    result = run(spec, tmp_path / "a", tiny_data)
    eager = run(spec, tmp_path / "b", tiny_data)
    first, second = result["provenance"]["torch_compile"]
    assert first["used"] is False and "no working C compiler" in first["error"]
    assert "No working C++ compiler" in first["loss_error"]
    assert (second["from_iteration"], second["requested"]) == (2, False)
    assert _comparable(result) == _comparable(eager)  # the eager network, bit for bit
    Broken.error = RuntimeError("a shape error of the network itself")
    with pytest.raises(RuntimeError, match="shape error"):  # not taken for a compile failure
        run(spec, tmp_path / "c", tiny_data, compile_net=True)
