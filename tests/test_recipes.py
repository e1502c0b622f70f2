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

from paper_repro.experiments import get_experiment
from paper_repro.models import make_network
from paper_repro.models.init import he_init
from paper_repro.results import read_result
from paper_repro.runner import decay_groups, is_done, result_path
from paper_repro.spec import IDENTITY_DEFAULTS, same_identity

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
