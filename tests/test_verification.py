"""The LFW evaluation: constructed scores whose accuracy is known exactly, and brute-force
loops (the definitions written out, one candidate at a time) as oracles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from paper_repro.verification import (
    accuracy,
    best_threshold,
    flip_concat,
    roc,
    tar_at_far,
    ten_fold_accuracy,
    verification_scores,
)

# ------------------------------------------------------------------ brute-force oracles


def slow_best_threshold(scores, issame):
    values = sorted(set(scores))
    candidates = [np.nextafter(values[0], -np.inf)]
    candidates += [(a + b) / 2 for a, b in itertools.pairwise(values)]
    candidates.append(values[-1])
    best = None
    for t in candidates:  # increasing, strict improvement: the lowest best threshold wins
        correct = sum((s > t) == same for s, same in zip(scores, issame, strict=True))
        if best is None or correct > best[1]:
            best = (t, correct)
    return best[0], best[1] / len(scores)


def slow_ten_fold(scores, issame, folds):
    accs, thresholds = [], []
    for k in sorted(set(folds)):
        train = [(s, y) for s, y, f in zip(scores, issame, folds, strict=True) if f != k]
        t, _ = slow_best_threshold([s for s, _ in train], [y for _, y in train])
        test = [(s, y) for s, y, f in zip(scores, issame, folds, strict=True) if f == k]
        accs.append(sum((s > t) == y for s, y in test) / len(test))
        thresholds.append(t)
    return accs, thresholds


def slow_operating_points(scores, issame):
    """(FAR, TAR) accepting score >= t for t = +inf and every score."""
    pos = [s for s, y in zip(scores, issame, strict=True) if y]
    neg = [s for s, y in zip(scores, issame, strict=True) if not y]
    points = {(0.0, 0.0)}
    for t in scores:
        points.add((sum(s >= t for s in neg) / len(neg), sum(s >= t for s in pos) / len(pos)))
    return points


grid_scores = st.lists(st.integers(-6, 6), min_size=4, max_size=40).map(
    lambda v: [x / 4 for x in v]  # coarse grid: many ties
)


# ------------------------------------------------------------------ exact cases


def separable(folds=10, per_fold=60, rng=None):
    """Positives in [0.2, 0.8], negatives in [-0.5, 0.0]: the gap is (0, 0.2)."""
    rng = rng or np.random.default_rng(0)
    scores, issame, fold = [], [], []
    for k in range(1, folds + 1):
        scores += [*rng.uniform(0.2, 0.8, per_fold), *rng.uniform(-0.5, 0.0, per_fold)]
        issame += [True] * per_fold + [False] * per_fold
        fold += [k] * 2 * per_fold
    scores = np.array(scores)
    # make the extremes of the bulk exact so the chosen midpoint is known
    scores[0], scores[per_fold] = 0.2, 0.0
    return scores, np.array(issame), np.array(fold)


def test_perfectly_separable_is_100_percent_everywhere():
    scores, issame, folds = separable()
    accs, thresholds = ten_fold_accuracy(scores, issame, folds)
    assert accs.tolist() == [1.0] * 10
    # fold 1 holds the gap's exact edges 0.0 and 0.2: every other fold's threshold is their
    # midpoint, fold 1's own lies strictly inside the gap
    assert thresholds[1:].tolist() == [0.1] * 9
    assert 0.0 < thresholds[0] < 0.2
    assert best_threshold(scores, issame) == (0.1, 1.0)


def test_known_flips_per_fold_give_known_accuracy():
    scores, issame, folds = separable(per_fold=50)
    flips = [0, 1, 2, 3, 5, 0, 8, 1, 4, 10]  # wrong pairs put in fold k
    for k, n in enumerate(flips, start=1):
        rows = np.flatnonzero(folds == k)
        pos, neg = rows[issame[rows]], rows[~issame[rows]]
        scores[pos[1 : 1 + n // 2]] = -0.9  # matched pairs scored far below every negative
        scores[neg[1 : 1 + n - n // 2]] = 0.95  # mismatched pairs far above every positive
    accs, thresholds = ten_fold_accuracy(scores, issame, folds)
    assert np.allclose(accs, [1 - n / 100 for n in flips], rtol=0, atol=1e-12)
    assert ((thresholds > 0.0) & (thresholds < 0.2)).all()  # the flips never move it


def test_ties_go_to_the_lowest_threshold():
    scores = np.array([0.9, 0.8, 0.3, 0.1, -0.2])
    issame = np.array([True, True, False, True, False])
    # 4 of 5 right at -0.05 (misses the 0.3 impostor) and at 0.55 (misses the 0.1 match)
    assert accuracy(scores, issame, -0.05) == accuracy(scores, issame, 0.55) == 0.8
    t, acc = best_threshold(scores, issame)
    assert (t, acc) == (pytest.approx(-0.05), 0.8)


@given(grid_scores, st.data())
def test_best_threshold_matches_brute_force(scores, data):
    issame = data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
    assert best_threshold(np.array(scores), np.array(issame)) == slow_best_threshold(scores, issame)


@given(grid_scores, st.data())
def test_ten_fold_matches_brute_force(scores, data):
    n = len(scores)
    issame = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    folds = data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    if len(set(folds)) < 2:
        folds[0], folds[-1] = 1, 2
    accs, thresholds = ten_fold_accuracy(np.array(scores), np.array(issame), np.array(folds))
    slow_accs, slow_thresholds = slow_ten_fold(scores, issame, folds)
    assert accs.tolist() == pytest.approx(slow_accs, abs=1e-12)
    assert thresholds.tolist() == slow_thresholds


# ------------------------------------------------------------------ ROC and TAR@FAR


@given(grid_scores, st.data())
def test_roc_is_every_operating_point(scores, data):
    n = len(scores)
    issame = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if all(issame) or not any(issame):
        issame[0], issame[-1] = True, False
    fpr, tpr, thresholds = roc(np.array(scores), np.array(issame))
    assert set(zip(fpr.tolist(), tpr.tolist(), strict=True)) == slow_operating_points(
        scores, issame
    )
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert thresholds[0] == np.inf and (np.diff(thresholds[1:]) < 0).all()
    for far in (0.0, 0.1, 0.5, 1.0):
        best = max(t for f, t in slow_operating_points(scores, issame) if f <= far)
        assert tar_at_far(np.array(scores), np.array(issame), far) == best


def test_tar_at_far_allows_exactly_far_times_negatives():
    rng = np.random.default_rng(1)
    neg = rng.uniform(-1.0, 0.0, 3000)
    neg[:4] = [0.9, 0.8, 0.7, 0.6]  # four impostors above most positives
    pos = np.linspace(0.5, 0.95, 3000)
    scores = np.r_[pos, neg]
    issame = np.r_[np.ones(3000, bool), np.zeros(3000, bool)]
    # FAR 1e-3 of 3000 = 3 false accepts: threshold just above the 4th impostor (0.6)
    assert tar_at_far(scores, issame, 1e-3) == pytest.approx(np.mean(pos > 0.6))
    # FAR below 1/3000: no false accept, threshold above 0.9
    assert tar_at_far(scores, issame, 1e-4) == pytest.approx(np.mean(pos > 0.9))


# ------------------------------------------------------------------ features and scores


def test_verification_scores_are_cosines():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 7)), rng.normal(size=(20, 7))
    expected = F.cosine_similarity(torch.from_numpy(a), torch.from_numpy(b), dim=1).numpy()
    assert np.allclose(verification_scores(a, b), expected, atol=1e-12)
    assert np.allclose(verification_scores(torch.from_numpy(a), 3 * torch.from_numpy(a)), 1.0)
    assert verification_scores(np.zeros((1, 3)), np.ones((1, 3))).tolist() == [0.0]


def test_flip_concat_appends_the_horizontal_flip():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)

    def embed(v):
        return v.flatten(1)  # (B, C H W): the feature remembers pixel order

    out = flip_concat(embed, x)
    assert out.shape == (2, 12)
    assert torch.equal(out[:, :6], x.flatten(1))
    assert out[0, 6:].tolist() == [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]  # rows kept, columns reversed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ten_fold_accuracy([0.1, 0.2], [True, False], [1, 1]), "at least two folds"),
        (lambda: ten_fold_accuracy([0.1, 0.2], [True, False], [1]), "one label per pair"),
        (lambda: best_threshold([np.nan, 0.2], [True, False]), "finite"),
        (lambda: best_threshold([0.1, 0.2], [True]), "one length"),
        (lambda: best_threshold([0.1], [2]), "booleans"),
        (lambda: roc([0.1, 0.2], [True, True]), "both matched and mismatched"),
        (lambda: tar_at_far([0.1, 0.2], [True, False], 2.0), r"far must lie in \[0, 1\]"),
        (lambda: verification_scores(np.ones((2, 3)), np.ones((2, 4))), "one shape"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
