"""Face verification as the papers score it on LFW: pure functions on arrays.

Protocol (Liu et al., ICML 2016, sec. 5.4; Liu et al., CVPR 2017, sec. 4.1; Wang et al.,
CVPR 2018, sec. 4.1; the LFW View 2 procedure of Huang et al. 2007):

1. The descriptor of a face is the network feature of the image concatenated with the
   feature of its horizontal flip (:func:`flip_concat`).
2. The score of a pair is the cosine similarity of the two descriptors
   (:func:`verification_scores`).
3. The pairs come in 10 person-disjoint folds. For each fold k, the threshold is the one that
   maximises accuracy on the other folds (candidates: the midpoints between consecutive
   distinct scores, plus "accept all" and "reject all"); it is then applied to fold k
   (:func:`ten_fold_accuracy`). The papers report the mean of the ten accuracies.

A pair is declared "same" when its score is strictly above the threshold. ROC and TAR at a
fixed FAR (:func:`roc`, :func:`tar_at_far`) sweep the threshold over every score instead,
accepting scores at or above it, so every achievable operating point appears once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def flip_concat(embed: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor):
    """``[embed(x), embed(flip(x))]`` along the feature axis: (B, C, H, W) -> (B, 2 D).

    The flip is horizontal (the W axis), the only flip under which a face stays a face."""
    return torch.cat([embed(images), embed(images.flip(-1))], dim=1)


def _numpy(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def verification_scores(features_a, features_b) -> np.ndarray:
    """Cosine similarity of matching rows: (P, D), (P, D) -> float64 (P,).

    A zero feature has no direction; like ``F.normalize`` its norm is clamped to 1e-12, so it
    scores 0 against everything instead of producing NaN."""
    a, b = _numpy(features_a, np.float64), _numpy(features_b, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"features must be two (P, D) arrays of one shape: {a.shape}, {b.shape}")
    norm_a = np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    norm_b = np.maximum(np.linalg.norm(b, axis=1), 1e-12)
    return np.einsum("pd,pd->p", a, b) / (norm_a * norm_b)


def _pairs(scores, issame) -> tuple[np.ndarray, np.ndarray]:
    s, same = _numpy(scores, np.float64), np.asarray(issame)
    if s.ndim != 1 or same.shape != s.shape:
        raise ValueError(f"scores and issame must be 1-D of one length: {s.shape}, {same.shape}")
    if same.dtype != bool:
        if not np.isin(same, (0, 1)).all():
            raise ValueError("issame must hold booleans (or 0/1)")
        same = same.astype(bool)
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return s, same


def accuracy(scores, issame, threshold: float) -> float:
    """Fraction of pairs classified correctly when "same" means score > threshold."""
    s, same = _pairs(scores, issame)
    return float(np.mean((s > threshold) == same))


def best_threshold(scores, issame) -> tuple[float, float]:
    """The threshold maximising accuracy on these pairs, and that accuracy.

    Candidates: just below the lowest score (accept all), the midpoints between consecutive
    distinct scores, and the highest score (reject all). Ties go to the lowest threshold."""
    s, same = _pairs(scores, issame)
    if s.size == 0:
        raise ValueError("no pairs to choose a threshold on")
    distinct = np.unique(s)  # sorted
    candidates = np.concatenate(
        [[np.nextafter(distinct[0], -np.inf)], (distinct[:-1] + distinct[1:]) / 2, distinct[-1:]]
    )
    negatives, positives = np.sort(s[~same]), np.sort(s[same])
    # correct = negatives at or below t + positives above t, for every candidate t at once
    correct = np.searchsorted(negatives, candidates, side="right") + (
        positives.size - np.searchsorted(positives, candidates, side="right")
    )
    best = int(np.argmax(correct))  # first maximum = lowest threshold
    return float(candidates[best]), float(correct[best] / s.size)


def ten_fold_accuracy(scores, issame, folds) -> tuple[np.ndarray, np.ndarray]:
    """Per-fold accuracy with the threshold chosen on the other folds (LFW View 2 procedure).

    ``folds``: the fold label of each pair (any integers; LFW has 10 folds). Returns
    ``(accuracies, thresholds)``, one entry per distinct fold label in increasing order; the
    papers' number is ``accuracies.mean()``."""
    s, same = _pairs(scores, issame)
    f = np.asarray(folds)
    if f.shape != s.shape:
        raise ValueError(f"folds must have one label per pair, got {f.shape} for {s.shape}")
    labels = np.unique(f)
    if labels.size < 2:
        raise ValueError("cross-validating the threshold needs at least two folds")
    accs, thresholds = np.empty(labels.size), np.empty(labels.size)
    for i, k in enumerate(labels):
        test = f == k
        thresholds[i], _ = best_threshold(s[~test], same[~test])
        accs[i] = accuracy(s[test], same[test], thresholds[i])
    return accs, thresholds


def roc(scores, issame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: (false positive rate, true positive rate, threshold), pairs accepted when
    score >= threshold, thresholds decreasing from +inf (nothing accepted, the point (0, 0))
    through every distinct score (the last accepts everything, the point (1, 1))."""
    s, same = _pairs(scores, issame)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC needs both matched and mismatched pairs")
    order = np.argsort(-s, kind="stable")
    s, same = s[order], same[order]
    # the last index of each run of equal scores: accepting a score accepts all its ties
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    tp, fp = np.cumsum(same)[last], np.cumsum(~same)[last]
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last]]


def tar_at_far(scores, issame, far: float) -> float:
    """The highest true accept rate among thresholds whose false accept rate is <= ``far``.

    With n mismatched pairs the achievable FARs are multiples of 1/n: on LFW's 3000
    mismatched pairs FAR = 1e-3 allows 3 false accepts, on one 300-pair fold none."""
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must lie in [0, 1], got {far}")
    fpr, tpr, _ = roc(scores, issame)
    # k / n and far are both rounded: the slack keeps k / n == far (e.g. 3 / 3000) allowed
    return float(tpr[fpr <= far + 1e-12].max())  # (0, 0) always qualifies


def verification_metrics(scores, issame, folds, test_folds, far: float = 1e-3) -> dict:
    """Per-fold accuracy (%) of ``test_folds`` with thresholds from the other folds, ROC and
    TAR at ``far`` over the test folds' pairs."""
    accs, thresholds = ten_fold_accuracy(scores, issame, folds)
    labels = np.unique(folds)
    reported = [i for i, k in enumerate(labels) if int(k) in test_folds]
    test = np.isin(folds, list(test_folds))
    fpr, tpr, _ = roc(scores[test], issame[test])
    per_fold = {str(int(labels[i])): 100.0 * float(accs[i]) for i in reported}
    return {
        "accuracy": float(np.mean(list(per_fold.values()))),
        "fold_accuracy": per_fold,
        "thresholds": {str(int(labels[i])): float(thresholds[i]) for i in reported},
        "tar_at_far": 100.0 * tar_at_far(scores[test], issame[test], far),
        "far": far,
        "far_resolution": 1.0 / int((~issame[test]).sum()),  # one false accept
        "test_pairs": int(test.sum()),
        "roc": {"fpr": np.round(fpr, 6).tolist(), "tpr": np.round(tpr, 6).tolist()},
    }
