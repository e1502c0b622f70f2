"""The lambda annealing of the original L-Softmax (and SphereFace) Caffe layers.

Training with psi(t) alone from random weights often diverges, so the original code mixes
in the plain logit with a weight lam that decays with the iteration count:
lam = max(lam_min, base * (1 + gamma * it) ** (-power)), it counted from 1 at the first
forward pass in training mode."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from paper_repro.losses.base import Hyper, MarginHead
from paper_repro.losses.checks import integer_margin, real_in


@dataclass(frozen=True)
class LambdaSchedule:
    base: float = 0.0  # lam at iteration 0
    gamma: float = 0.0  # 1/iterations: decay rate
    power: float = 1.0  # decay exponent
    lam_min: float = 0.0  # floor

    def __post_init__(self):
        for name in ("base", "gamma", "power", "lam_min"):
            real_in(name, getattr(self, name), 0.0)

    @classmethod
    def constant(cls, lam: float) -> LambdaSchedule:
        return cls(base=lam, lam_min=lam)

    def __call__(self, iteration: int) -> float:
        return max(self.lam_min, self.base * (1.0 + self.gamma * iteration) ** (-self.power))

    def compressed(self, reference_iterations: int, iterations: int) -> LambdaSchedule:
        """This schedule, written for `reference_iterations` SGD steps, on a run of
        `iterations`: gamma scaled so lambda decays over the same fraction of training."""
        return replace(self, gamma=self.gamma * reference_iterations / iterations)


class AnnealedHead(MarginHead):
    """A head with integer angular margin m and the lambda schedule (L-Softmax, A-Softmax).

    `lam` is either a fixed number or a LambdaSchedule. The iteration counter is a buffer so a
    checkpoint resumes the schedule where it stopped. `annealing` is the original code's
    schedule and the run length it was written for; `configure` compresses it to the run's
    length when no lam is given."""

    margin = "m"
    without_margin = (("m", 1),)
    annealing: tuple[LambdaSchedule, int]

    @classmethod
    def configure(cls, iterations: int, **given) -> dict:
        hyper = super().configure(iterations, **given)
        if "lam" not in given:
            schedule, reference = cls.annealing
            hyper["lam"] = schedule.compressed(reference, iterations)
        return hyper

    def __init__(self, in_features, num_classes, m: int = 4, lam: float | LambdaSchedule = 0.0):
        super().__init__(in_features, num_classes)
        self.m = integer_margin("m", m)
        self.schedule = lam if isinstance(lam, LambdaSchedule) else LambdaSchedule.constant(lam)
        # the buffer is what a checkpoint holds; the host copy gives lam without reading the
        # device (a GPU synchronisation per step)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.int64))
        self._lam_input = torch.zeros((), dtype=torch.float64)
        self._at_iteration(0)
        self.register_load_state_dict_post_hook(AnnealedHead._read_iteration)

    def _at_iteration(self, iteration: int) -> None:
        self._iteration = iteration
        # in place: one host write, not a new tensor per step (nothing keeps the old value)
        self._lam_input.fill_(self.lam)

    @staticmethod
    def _read_iteration(module, incompatible_keys) -> None:
        module._at_iteration(int(module.iteration))

    @property
    def lam(self) -> float:
        return self.schedule(self._iteration)

    @property
    def lam_input(self) -> torch.Tensor:
        """lam as a float64 host scalar for `partials`: the same arithmetic as the float, and a
        compiled loss (`compile_math`) takes it as an input instead of compiling anew for each
        value of the schedule (a float read inside the compiled code would be a constant)."""
        return self._lam_input

    def forward(self, features, labels):
        if self.training:
            self._at_iteration(self._iteration + 1)
            self.iteration.fill_(self._iteration)
        return super().forward(features, labels)

    def extra_repr(self) -> str:
        return f"m={self.m}, schedule={self.schedule}"


MARGIN_M = Hyper("m", int, 4, low=1, doc="angular margin: cos(m t) for the target", drawn=(1, 6))
LAMBDA = Hyper(
    "lam",
    LambdaSchedule,
    0.0,
    low=0.0,
    doc="weight of the plain logit, a number or a LambdaSchedule (default: the original "
    "code's annealing compressed to the run)",
    drawn=(0.0, 100.0),
)
