"""The experiments registry: the paper's numbers and the profiles' rules."""

from __future__ import annotations

import pytest

from paper_repro.experiments import (
    EXPERIMENTS,
    PAPER_LAMBDA,
    SCHEDULES,
    cells,
    check_profile,
    get_experiment,
    lambda_for,
)

PAPER = {  # Liu et al. 2016, error %: softmax, m=2, m=3, m=4
    "mnist": (0.40, 0.32, 0.31, 0.31),
    "cifar10": (9.05, 7.73, 7.66, 7.58),
    "cifar10+": (6.50, 6.01, 5.94, 5.92),
    "cifar100": (32.74, 29.95, 29.87, 29.53),
}


@pytest.mark.parametrize("name", list(PAPER))
def test_paper_numbers_tables_2_to_4(name):
    heads = ("softmax", "lsoftmax m=2", "lsoftmax m=3", "lsoftmax m=4")
    assert tuple(get_experiment(name).paper_error[h] for h in heads) == PAPER[name]


def test_jpeg_variant_is_labelled_as_the_copy():
    for name in ("cifar10-jpeg", "cifar10-jpeg+"):
        exp = EXPERIMENTS[name]
        assert exp.label.startswith("CIFAR-10 (JPEG q75 copy)") and "not the original" in exp.note
    assert EXPERIMENTS["cifar10-jpeg+"].augment and not EXPERIMENTS["cifar10-jpeg"].augment


def test_paper_schedule_is_the_papers():
    s = SCHEDULES["paper"]
    assert (s.iterations, s.lr_drops, s.batch_size, s.lr) == (18_000, (12_000, 15_000), 256, 0.1)
    assert (s.momentum, s.weight_decay) == (0.9, 5e-4)


def test_profiles_change_only_schedule_and_seeds():
    mnist = get_experiment("mnist")
    quick, paper = cells(mnist, "quick"), cells(mnist, "paper")
    assert {c.head for c in quick} == {c.head for c in paper}
    assert len(quick) == 12 and [c.seed for c in quick[:4]] == [0, 0, 0, 0]  # seed-major


def test_compressed_lambda_ends_where_the_papers_ends():
    for profile in ("quick", "smoke"):
        n = SCHEDULES[profile].iterations
        assert lambda_for(SCHEDULES[profile])(n) == pytest.approx(PAPER_LAMBDA(18_000))


def test_unknown_names_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown experiment 'svhn'; valid experiments: mnist"):
        get_experiment("svhn")
    with pytest.raises(ValueError, match="unknown profile 'fast'; valid profiles: paper, quick"):
        check_profile("fast")
