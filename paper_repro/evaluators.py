"""What a trained model is measured by, one evaluator per kind of run (`RunSpec.evaluator`):

- ``classification``: test error (%) by the head's test-time rule, the histogram of the
  angle between test features and their class weight, and a test-error curve during
  training (every eval_every iterations, on eval_subset images).
- ``verification``: the LFW protocol of `paper_repro.verification` on the split's pairs:
  flip-concatenated features, cosine scores, per-fold accuracy with thresholds from the other
  folds, ROC and TAR at FAR = 1e-3.
- ``features-2d``: the 2-D features of test_subset training and test images and the class
  weights, saved beside the result as ``<run_id>.npz`` (np.savez, no pickled objects:
  features float32 (N, 2), train first; labels int64 (N,); split "train"/"test" (N,);
  weights float32 (C, 2); classes (C,)), with the test error on the saved test features.

An evaluator is built with (spec, what it tests on, the run's InputNorm, device); it reads the
trained network and head and returns values, and the runner keeps them: `curve_values(net,
head)` is one point of its `curves` during training, `final(net, head, train, result_path,
write)` the result fields it adds and the last point of its curves."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F

from paper_repro.data import FaceSplit, Split
from paper_repro.device_data import DeviceData, InputNorm, forward_features
from paper_repro.fileio import atomic_write_bytes
from paper_repro.spec import EVALUATORS as EVALUATOR_NAMES
from paper_repro.verification import flip_concat, verification_metrics, verification_scores

ANGLE_BINS = 90  # histogram of the target angle over 0..180 degrees, 2-degree bins
FAR = 1e-3


@torch.no_grad()
def test_error(head, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Error (%) of the head's test-time rule (no margin) on these features."""
    return 100.0 * (head.scores(features).argmax(dim=1) != labels).sum().item() / len(labels)


class _Evaluator:
    curves: tuple[str, ...] = ()  # the training curves it fills: test_iteration and its values

    def diverged_fields(self) -> dict | None:
        """The result fields of a run that diverged (nothing to evaluate), or None where such
        a run is not recorded (the runner then raises: the 2-D studies have no features)."""
        return None

    def __init__(self, spec, device):
        self.spec, self.device = spec, device

    def _features(self, net, data: DeviceData, n=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (n, D) float32, their labels (n,)) of n examples with every class in
        proportion (`DeviceData.subset`), the network in eval mode."""
        index = data.subset(n)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            batches = data.batches(index)
            out = [forward_features(net, x, self.spec.precision).float() for _, x in batches]
        net.train(was_training)
        return torch.cat(out), data.labels[index]


class Classification(_Evaluator):
    curves = ("test_iteration", "test_error")

    def diverged_fields(self) -> dict:
        return {"metrics": {"test_error": float("nan"), "test_images": 0}}

    def __init__(self, spec, test: Split, norm: InputNorm, device):
        super().__init__(spec, device)
        self.test = DeviceData(test, norm, device)

    def error_and_angles(self, net, head, n=None) -> tuple[float, torch.Tensor]:
        """Test error (%) by the head's test-time rule, and the target angles in degrees."""
        features, labels = self._features(net, self.test, n)
        with torch.no_grad():
            cos = F.cosine_similarity(features, head.weight[labels].float(), dim=1)
        angles = torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))  # analysis only
        return test_error(head, features, labels), angles

    def curve_values(self, net, head) -> dict[str, float]:
        error, _ = self.error_and_angles(net, head, self.spec.schedule.eval_subset)
        return {"test_error": error}

    def final(self, net, head, train, result_path, write: bool) -> tuple[dict, dict]:
        error, angles = self.error_and_angles(net, head, self.spec.schedule.test_subset)
        counts = torch.histc(angles.float().cpu(), ANGLE_BINS, 0.0, 180.0).int().tolist()
        return {
            "metrics": {"test_error": error, "test_images": len(angles)},
            "target_angle_hist": {"bins_deg": ANGLE_BINS, "counts": counts},
        }, {"test_error": error}


class Verification(_Evaluator):
    def diverged_fields(self) -> dict:
        nan = float("nan")
        return {"metrics": {"accuracy": nan, "fold_accuracy": {}, "thresholds": {},
                            "tar_at_far": nan, "far": FAR, "far_resolution": nan,
                            "test_pairs": 0, "roc": {"fpr": [], "tpr": []}}}  # fmt: skip

    def __init__(self, spec, faces: FaceSplit, norm: InputNorm, device):
        super().__init__(spec, device)
        self.faces, self.norm = faces, norm

    def final(self, net, head, train, result_path, write: bool) -> tuple[dict, dict]:
        pairs = self.faces.pairs
        images = Split(pairs.images, torch.zeros(len(pairs.images), dtype=torch.int64), ("",))
        data = DeviceData(images, self.norm, self.device)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            embed = lambda v: forward_features(net, v, self.spec.precision).float()  # noqa: E731
            features = torch.cat([flip_concat(embed, x).double().cpu() for _, x in data.batches()])
        net.train(was_training)
        features, index = features.numpy(), pairs.index.numpy()
        scores = verification_scores(features[index[:, 0]], features[index[:, 1]])
        folds = self.faces.test_folds
        return {
            "metrics": verification_metrics(scores, pairs.issame, pairs.folds, folds, FAR),
            "faces": {
                "split": self.faces.description,
                "test_folds": list(self.faces.test_folds),
                "train_identities": len(self.faces.train.classes),
                "test": pairs.what,
            },
        }, {}


class Features2d(_Evaluator):
    def __init__(self, spec, test: Split, norm: InputNorm, device):
        super().__init__(spec, device)
        self.test, self.classes = DeviceData(test, norm, device), test.classes

    def final(self, net, head, train, result_path, write: bool) -> tuple[dict, dict]:
        n = self.spec.schedule.test_subset
        train_f, train_labels = self._features(net, train, n)
        test_f, test_labels = self._features(net, self.test, n)
        npz = result_path.with_suffix(".npz")
        if write:
            buffer = io.BytesIO()
            np.savez(
                buffer,
                features=torch.cat([train_f, test_f]).cpu().numpy().astype(np.float32),
                labels=torch.cat([train_labels, test_labels]).cpu().numpy(),
                split=np.array(["train"] * len(train_f) + ["test"] * len(test_f), "<U5"),
                weights=head.weight.detach().cpu().numpy().astype(np.float32),
                classes=np.array(self.classes),
            )
            atomic_write_bytes(npz, buffer.getvalue())  # before the result, which marks done
        return {
            "metrics": {"test_error": test_error(head, test_f, test_labels),
                        "test_images": len(test_f)},
            "features": {"npz": npz.name, "n_train": len(train_f), "n_test": len(test_f),
                         "classes": list(self.classes)},
        }, {}  # fmt: skip


# by the names a RunSpec may give (spec.EVALUATORS, which validates them), in that order
EVALUATORS = dict(zip(EVALUATOR_NAMES, (Classification, Verification, Features2d), strict=True))
