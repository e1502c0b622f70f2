"""The recipe settings (paper_repro.spec RECIPES, INITS, DECAYS): recorded in the identity and
the result, old results stay valid, and each switch does what it says, held against direct
computations rather than against the code that applies it."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from paper_repro.checkpoints import is_done, result_path
from paper_repro.experiments import DEFAULT_EXPERIMENTS, get_experiment, with_recipe
from paper_repro.models import make_network
from paper_repro.models.init import he_init
from paper_repro.planner import CPU_CANDIDATES, for_recipe
from paper_repro.recipes import input_mean
from paper_repro.report.deviations import recipe_lines
from paper_repro.report.tables import summarise, variant_table
from paper_repro.results import IDENTITY_DEFAULTS, read_result
from paper_repro.runner import decay_groups
from paper_repro.spec import same_identity

from .test_runner import run, smoke


def test_an_identity_saved_before_the_recipe_settings_is_the_paper_recipe():
    spec = smoke()
    saved = json.loads(json.dumps(spec.identity()))
    old = {k: v for k, v in saved.items() if k not in IDENTITY_DEFAULTS}
    assert same_identity(old, spec)
    assert not same_identity(old, dataclasses.replace(spec, init="he"))
    assert not same_identity(old, dataclasses.replace(spec, decay="weights"))
    assert not same_identity({**saved, "recipe": "release"}, spec)
    assert not same_identity(None, spec) and not same_identity("x", spec)


def test_a_result_without_recipe_reads_as_paper_and_is_still_done(tiny_data, tmp_path):
    spec = smoke()
    run(spec, tmp_path, tiny_data)
    path = result_path(spec, tmp_path / "results")
    result = json.loads(path.read_text())
    assert result["recipe"] == {"name": "paper", "init": "pytorch", "decay": "all",
                                "variant": ""}  # fmt: skip
    for key in IDENTITY_DEFAULTS:
        del result["run"][key]
    del result["recipe"]
    path.write_text(json.dumps(result))
    assert is_done(spec, tmp_path / "results")
    assert read_result(path)["recipe"]["name"] == "paper"
    assert not is_done(dataclasses.replace(spec, init="he"), tmp_path / "results")


def test_variants_get_their_own_run_ids_and_unknown_settings_are_refused():
    runs = get_experiment("mnist-recipe").runs("smoke")
    ids = [r.run_id for r in runs]
    assert len(set(ids)) == len(ids)
    assert {"softmax-seed0", "softmax-init-he-seed0", "softmax-decay-weights-seed0"} <= set(ids)
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        dataclasses.replace(runs[0], init="xavier")
    with pytest.raises(ValueError, match="unknown decay"):
        dataclasses.replace(runs[0], decay="none")


def test_he_init_draws_every_weight_at_std_sqrt_2_over_fan_in_and_keeps_batch_norm():
    torch.manual_seed(0)
    net = make_network("table1-mnist")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    he_init(net)
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            w = module.weight.detach()
            fan_in = w[0].numel()  # in_channels x kernel area
            # the sample std's relative error is about 1 / sqrt(2 n): 4 of those
            slack = 4 / math.sqrt(2 * w.numel())
            assert abs(w.std().item() / math.sqrt(2 / fan_in) - 1) < slack, name
            assert abs(w.mean().item()) < 3 * math.sqrt(2 / fan_in / w.numel()), name
            if module.bias is not None:
                assert torch.all(module.bias == 0), name
    for key, value in net.state_dict().items():
        if value.dim() < 2:  # batch norm, PReLU slopes, biases of nothing here
            if "fc.1.bias" in key:
                continue
            assert torch.equal(value, before[key]), key


def test_pytorch_default_is_sqrt6_times_smaller_than_he():
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    default = conv.weight.std().item()
    he_init(conv)
    assert abs(conv.weight.std().item() / default - math.sqrt(6)) < 0.1


def test_the_weights_policy_decays_exactly_the_weight_tensors():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.Flatten(),
                        nn.Linear(2, 3))  # fmt: skip
    params = list(net.parameters())
    for decay in ("all", "weights"):
        model = [p.detach().clone().requires_grad_() for p in params]
        opt = torch.optim.SGD(decay_groups(model, decay, 0.1), lr=1.0)
        for p in model:
            p.grad = torch.zeros_like(p)
        opt.step()  # zero gradient: the step is the decay alone, p <- p (1 - lr wd)
        for p, original in zip(model, params, strict=True):
            decayed = decay == "all" or original.dim() >= 2
            expected = original.detach() * (0.9 if decayed else 1.0)
            assert torch.allclose(p.detach(), expected), (decay, original.shape)


def test_recipe_settings_are_recorded_in_the_result(tiny_data, tmp_path):
    spec = smoke(init="he", decay="weights", variant="both")
    result = run(spec, tmp_path, tiny_data)
    assert result["recipe"] == {"name": "paper", "init": "he", "decay": "weights",
                                "variant": "both"}  # fmt: skip
    assert result["run"]["init"] == "he" and result["run"]["decay"] == "weights"
    assert spec.run_id == "lsoftmax-m2-both-seed0"


# ------------------------------------------------------------------ the release recipe


def test_release_runs_follow_the_released_files():
    """The numbers the released prototxts state (myexamples/*), at the paper profile."""
    mnist = get_experiment("mnist-release").runs("paper")
    cifar = get_experiment("cifar10-release").runs("paper")
    cifar_plus = get_experiment("cifar10+-release").runs("paper")
    for runs, drops, augment, gamma, power in (
        (mnist, (5000, 7500, 10_000), "none", 2.5e-5, 35.0),
        (cifar, (5000, 7500), "flip", 2e-5, 45.0),
        (cifar_plus, (8000, 12_000), "pad-crop-flip", 1e-5, 45.0),
    ):
        for r in runs:
            assert (r.recipe, r.init, r.decay, r.augment) == ("release", "he", "weights", augment)
            s = r.schedule
            assert (s.iterations, s.lr_drops, s.batch_size, s.lr) == (30_000, drops, 128, 0.1)
            assert (s.momentum, s.weight_decay) == (0.9, 5e-4)
            if r.head.name == "lsoftmax":
                lam = r.head.kwargs["lam"]
                assert (lam.base, lam.gamma, lam.power, lam.lam_min) == (1000.0, gamma, power, 0)
    # lambda at the first lr drop, as the helper computed from the files: 16.2 and 13.7
    lam = next(r for r in mnist if r.head.name == "lsoftmax").head.kwargs["lam"]
    assert lam(5000) == pytest.approx(1000 * 1.125**-35)
    assert {r.network for r in mnist} == {"release-mnist"}
    assert {r.network for r in cifar + cifar_plus} == {"release-cifar10"}


def test_a_shorter_profile_takes_the_same_fraction_of_the_release():
    [run] = [r for r in get_experiment("mnist-release").runs("cpu")
             if r.run_id == "lsoftmax-m4-seed0"]  # fmt: skip
    # cpu is 1500 of the paper's 18,000 iterations: 1/12 of the release's 30,000
    assert run.schedule.iterations == 2500 and run.schedule.lr_drops == (417, 625, 833)
    lam = run.head.kwargs["lam"]
    # lambda at the run's end equals the release's at its end (the same fraction decayed)
    assert lam(2500) == pytest.approx(1000 * (1 + 2.5e-5 * 30_000) ** -35)


def test_release_networks_have_the_released_shape():
    net = make_network("release-mnist")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 4 + [128] * 3 + [256] * 3
    assert not any(isinstance(m, nn.PReLU) for m in net.modules())
    fc = next(m for m in net.fc if isinstance(m, nn.Linear))
    assert (fc.in_features, fc.out_features) == (256 * 4 * 4, 512)  # ceil pooling: 7 -> 4
    assert isinstance(net.fc[2], nn.BatchNorm1d) and isinstance(net.fc[3], nn.ReLU)
    cifar = make_network("release-cifar10")
    widths = [m.out_channels for m in cifar.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [64] * 5 + [128] * 4 + [256] * 4
    # the fact sheet's count of the release, less the biases before batch norm and the
    # classifier's 512 x 10 (the loss head's): 4,062,400 - 1,408 - 512 - 5,120
    assert sum(p.numel() for p in net.parameters()) == 4_062_400 - 1_408 - 512 - 5_120


def test_release_inputs_are_unscaled_with_the_released_mean(tiny_data):
    train = tiny_data.load("mnist", "train")
    mean, scale = input_mean("release", "mnist", "none", train)
    assert scale == 1.0 and torch.equal(mean, torch.full((1,), 127.5))
    cifar = tiny_data.load("cifar10", "train")
    mean, scale = input_mean("release", "cifar10", "flip", cifar)
    slow = sum(img.double() for img in cifar.images) / len(cifar)  # (C, H, W)
    assert scale == 1.0 and torch.allclose(mean.double(), slow, atol=1e-4)
    mean, scale = input_mean("paper", "cifar10", "none", cifar)
    assert scale == 255.0 and mean.shape == (3,)


def test_tables_without_a_release_say_so():
    assert with_recipe("mnist", "release") == "mnist-release"
    assert with_recipe("cifar10-jpeg+", "release") == "cifar10-jpeg+-release"
    assert with_recipe("lfw", "paper") == "lfw"
    for name in ("lfw", "cifar100"):
        with pytest.raises(ValueError, match="MNIST, CIFAR-10 and CIFAR-10\\+ only"):
            with_recipe(name, "release")
    names = [c.experiment for c in for_recipe(CPU_CANDIDATES, "release")]
    assert names == ["mnist-release", "cifar10-jpeg-release"]


def test_cifar100_has_no_release():
    from paper_repro.recipes import release_for

    with pytest.raises(ValueError, match="no set-up for 'cifar100'"):
        release_for("cifar100", "none")
    assert release_for("cifar10-jpeg", "pad-crop-flip").lam.gamma == 1e-5


def test_variants_are_kept_apart_when_runs_are_grouped_by_head():
    from paper_repro.report.verdicts import head_runs

    results = [{**_result(v, "softmax", 0, 1.0), "head_label": "softmax"}
               for v in ("", "init-he")]  # fmt: skip
    assert list(head_runs(results)) == ["softmax", "softmax [init-he]"]


def test_recipe_studies_stay_out_of_the_default_plan():
    assert "mnist-recipe" not in DEFAULT_EXPERIMENTS
    assert "mnist-release" not in DEFAULT_EXPERIMENTS
    assert "mnist" in DEFAULT_EXPERIMENTS and "lfw" in DEFAULT_EXPERIMENTS


def test_a_release_run_trains_and_is_recorded_as_such(tiny_data, tmp_path):
    [spec] = [r for r in get_experiment("mnist-release").runs("smoke")
              if r.run_id == "lsoftmax-m4-seed0"]  # fmt: skip
    result = run(spec, tmp_path, tiny_data)
    assert result["recipe"] == {"name": "release", "init": "he", "decay": "weights",
                                "variant": ""}  # fmt: skip
    assert result["config"]["network"] == "release-mnist"
    assert math.isfinite(result["metrics"]["test_error"])


# ------------------------------------------------------------------ what the report shows


def _result(variant, head, seed, error):
    return {"recipe": {"variant": variant}, "head": head, "margin": None, "seed": seed,
            "metrics": {"test_error": error}, "paper": {"test_error": None},
            "evaluator": "classification", "curves": {}}  # fmt: skip


def test_the_variant_table_tests_each_variant_against_the_plain_runs():
    results = [_result("", "softmax", s, e) for s, e in enumerate((1.0, 1.2, 1.1))]
    results += [_result("init-he", "softmax", s, e) for s, e in enumerate((2.0, 2.2, 2.1))]
    rows = summarise(results, ("", "init-he"))
    lines = variant_table(rows)
    [he] = [line for line in lines if "| init-he |" in line]
    # by hand: difference 1.0, pooled std 0.1, se 0.1 sqrt(2/3), t_0.975(4) = 2.776
    half = 2.776 * 0.1 * math.sqrt(2 / 3)
    assert f"+1.00 | [{1 - half:+.2f}, {1 + half:+.2f}]" in he
    assert "higher error" in he
    assert "plain (paper recipe)" in lines[2]


def test_the_deviations_section_shows_paper_release_and_ours_and_what_is_unmeasured():
    results = [_result("", "softmax", s, e) for s, e in enumerate((1.0, 1.2))]
    results += [_result("decay-weights", "softmax", s, e) for s, e in enumerate((1.1, 1.3))]
    lines = recipe_lines({("quick", "mnist-recipe"): results})
    assert "| paper's text | authors' release | ours (paper recipe) |" in lines[2]
    [decay] = [line for line in lines if line.startswith("| weight decay")]
    assert "`quick` softmax (2+2 seeds): +0.10" in decay
    [init] = [line for line in lines if line.startswith("| initialisation")]
    assert "not yet: `make reproduce-mnist-recipe PROFILE=cpu`" in init


def test_a_variant_whose_runs_all_diverged_says_so():
    results = [_result("", "softmax", s, e) for s, e in enumerate((1.0, 1.2))]
    results += [{**_result("init-he", "softmax", s, math.nan), "diverged": {"iteration": 17}}
                for s in range(2)]  # fmt: skip
    [he] = [line for line in variant_table(summarise(results, ("", "init-he")))
            if "| init-he |" in line]  # fmt: skip
    assert he.endswith("| all 2 diverged |")
    [init] = [line for line in recipe_lines({("quick", "mnist-recipe"): results})
              if line.startswith("| initialisation")]  # fmt: skip
    assert "the release's choice diverged in every run (2 seeds)" in init
