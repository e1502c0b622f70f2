"""The experiments as run lists: the papers' numbers, the profiles' rules, the settings each
figure and table declares."""

from __future__ import annotations

import pytest

from paper_repro.experiments import (
    EXPERIMENTS,
    FACE_SETUP,
    SCHEDULES,
    check_profile,
    get_experiment,
)
from paper_repro.losses import HEADS
from paper_repro.spec import PROFILES

PAPER = {  # Liu et al. 2016, error %: softmax, m=2, m=3, m=4
    "mnist": (0.40, 0.32, 0.31, 0.31),
    "cifar10": (9.05, 7.73, 7.66, 7.58),
    "cifar10+": (6.50, 6.01, 5.94, 5.92),
    "cifar100": (32.74, 29.95, 29.87, 29.53),
}


@pytest.mark.parametrize("name", list(PAPER))
def test_paper_numbers_tables_2_to_4(name):
    runs = get_experiment(name).runs("paper")[:4]
    assert tuple(r.paper["test_error"] for r in runs) == PAPER[name]
    assert [r.head.label for r in runs] == ["softmax", "lsoftmax m=2", "lsoftmax m=3",
                                            "lsoftmax m=4"]  # fmt: skip


def test_jpeg_variant_trains_on_the_copy_and_plus_augments():
    for name in ("cifar10-jpeg", "cifar10-jpeg+"):
        assert {r.dataset for r in EXPERIMENTS[name].runs("quick")} == {"cifar10-jpeg"}
    assert EXPERIMENTS["cifar10-jpeg+"].runs("quick")[0].augment == "pad-crop-flip"
    assert EXPERIMENTS["cifar10-jpeg"].runs("quick")[0].augment == "none"


def test_paper_schedule_is_the_papers():
    s = SCHEDULES["paper"]
    assert (s.iterations, s.lr_drops, s.batch_size, s.lr) == (18_000, (12_000, 15_000), 256, 0.1)
    assert (s.momentum, s.weight_decay) == (0.9, 5e-4)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_profiles_change_only_schedule_and_seeds(name):
    quick, paper = EXPERIMENTS[name].runs("quick"), EXPERIMENTS[name].runs("paper")
    label = lambda r: (r.head.name, r.head.margin)  # noqa: E731
    assert {label(r) for r in quick} == {label(r) for r in paper}
    if name in PAPER:
        assert len(quick) == 12 and [r.seed for r in quick[:4]] == [0, 0, 0, 0]  # seed-major


@pytest.mark.parametrize("profile", PROFILES)
def test_compressed_lambda_ends_where_the_originals_end(profile):
    """...or at the profile's face floor lam_min, the larger of the two."""
    for exp in ("mnist", "mnist-x2", "lfw", "lfw-x2"):
        floor = FACE_SETUP[profile].get("lam_min", 0.0) if exp.startswith("lfw") else 0.0
        for run in EXPERIMENTS[exp].runs(profile):
            if "lam" in run.head.kwargs:
                schedule, reference = HEADS[run.head.name].annealing
                lam = run.head.kwargs["lam"]
                end = max(schedule(reference), floor)
                assert lam(run.schedule.iterations) == pytest.approx(end), (exp, run.run_id)
                half = lam(run.schedule.iterations // 2)  # the decay spans the whole run
                assert half == pytest.approx(max(schedule(reference // 2), floor))


@pytest.mark.parametrize("name", ["mnist", "cifar10-jpeg", "lfw"])
def test_doubling_checks_run_seed_0_twice_as_long(name):
    single, double = EXPERIMENTS[name].runs("cpu"), EXPERIMENTS[f"{name}-x2"].runs("cpu")
    first = [r for r in single if r.seed == 0 and r.split == single[0].split]
    assert [r.head.label for r in double] == [r.head.label for r in first]
    for one, two in zip(first, double, strict=True):
        assert two.schedule.iterations == 2 * one.schedule.iterations
        assert two.schedule.lr_drops == tuple(2 * d for d in one.schedule.lr_drops)
        assert (two.dataset, two.network, two.split) == (one.dataset, one.network, one.split)


def test_cpu_faces_floor_lambda_and_train_two_seeds_per_half():
    runs = EXPERIMENTS["lfw"].runs("cpu")
    assert {(r.seed, r.split) for r in runs} == {(s, h) for s in (0, 1) for h in ("half1", "half2")}
    assert "arcface" not in {r.head.name for r in runs}
    lsoftmax = next(r for r in runs if r.head.name == "lsoftmax")
    assert lsoftmax.head.kwargs["lam"].lam_min == 5.0
    mnist = next(r for r in EXPERIMENTS["mnist"].runs("cpu") if r.head.name == "lsoftmax")
    assert mnist.head.kwargs["lam"].lam_min == 0.0  # the tables keep the original floor


def test_run_ids_are_unique_within_each_experiment_and_profile():
    for exp in EXPERIMENTS.values():
        for profile in PROFILES:
            ids = [r.run_id for r in exp.runs(profile)]
            assert len(ids) == len(set(ids)), (exp.name, profile)


def test_face_and_study_settings():
    quick = {r.head.name: r for r in EXPERIMENTS["lfw"].runs("quick")}
    assert quick["lmcl"].head.kwargs["s"] == 30.0 and quick["arcface"].head.kwargs["m"] == 0.5
    assert EXPERIMENTS["lfw"].runs("paper")[0].dataset == "casia-webface"
    toy = EXPERIMENTS["cosface-toy"].runs("quick")
    assert {r.head.kwargs.get("s") for r in toy if r.head.name == "lmcl"} == {16.0}
    assert toy[0].schedule.iterations == 720 and toy[0].schedule.lr == pytest.approx(0.001)
    assert toy[0].classes == tuple(range(8)) and toy[0].max_grad_norm == 10.0


def test_unknown_names_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown experiment 'svhn'; valid experiments: mnist"):
        get_experiment("svhn")
    with pytest.raises(
        ValueError, match="unknown profile 'fast'; valid profiles: paper, cpu, quick"
    ):
        check_profile("fast")
