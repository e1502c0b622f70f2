"""Figures 2 and 3, drawn from the loss functions themselves (never from training): L-Softmax's
psi(t) against cos(m t), and the binary-case decision boundaries and margin."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.patches import Arc, Wedge

from paper_repro.experiments import PSI_HEAD
from paper_repro.losses import BASELINE, HEADS
from paper_repro.losses.angular import cos_multiple_angle, psi
from paper_repro.report import style
from paper_repro.report.figure_runs import COMMAND, FigureCheckError


def psi_curves(margins=(1, 2, 3, 4), points: int = 721) -> dict:
    """cos(m t) (L-Softmax eq. 7) and psi(t) (eq. 6) on t in [0, pi], from the very functions
    the heads use, evaluated in float64 on cos t. Keys: t_deg, cos_mt {m: array}, psi {m}."""
    t = torch.linspace(0.0, math.pi, points, dtype=torch.float64)
    cos = torch.cos(t)
    return {
        "t_deg": torch.rad2deg(t).numpy(),
        "cos_mt": {m: cos_multiple_angle(cos, m).numpy() for m in margins},
        "psi": {m: psi(cos, m).numpy() for m in margins},
    }


def _check_psi(curves: dict) -> None:
    t = np.deg2rad(curves["t_deg"])
    for m, values in curves["psi"].items():
        if not np.allclose(curves["cos_mt"][m], np.cos(m * t), atol=1e-9):
            raise FigureCheckError(f"the multiple-angle polynomial is not cos({m} t)")
        # what the figure is meant to show: psi decreases monotonically and never exceeds cos t
        if not (np.all(np.diff(values) < 0) and np.all(values <= np.cos(t) + 1e-12)):
            raise FigureCheckError(f"psi for m={m} is not decreasing below cos t")


@style.styled
def fig2_psi(out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 2 (L-Softmax Fig. 3): cos(m t) and psi(t) for m = 1..4 on [0, 180] degrees."""
    curves = psi_curves()
    _check_psi(curves)
    fig, axes = style.figure(1, 2, height=style.PANEL_HEIGHT + 0.4)
    t = curves["t_deg"]
    for m in curves["psi"]:
        head = PSI_HEAD if m > 1 else BASELINE
        line = {"color": style.head_colour(head, m), "ls": style.head_linestyle(head, m)}
        label = "m=1 (softmax: cos t)" if m == 1 else f"m={m}"
        axes[0, 0].plot(t, curves["cos_mt"][m], label=label, **line)
        axes[0, 1].plot(t, curves["psi"][m], label=label, **line)
        joins = np.arange(1, m) * 180.0 / m  # where the pieces k pi/m of eq. 6 meet
        axes[0, 1].plot(joins, np.interp(joins, t, curves["psi"][m]), "o", color=line["color"],
                        ms=3)  # fmt: skip
    axes[0, 0].set(title="(a) cos(m t), L-Softmax eq. 7", ylabel="cos(m t)")
    axes[0, 1].set(title="(b) ψ(t), L-Softmax eq. 6", ylabel="ψ(t)")
    for ax in axes[0]:
        ax.set(xlabel="t (degrees)", xlim=(0, 180), xticks=range(0, 181, 30))
    # one legend for both panels (same curves, same colours), below them
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    text = (
        "Figure 2 (L-Softmax Fig. 3). (a) cos(m t) from the multiple-angle polynomial in "
        "cos t (eq. 7): not monotonic for m > 1, so it cannot serve as a logit by itself. "
        "(b) ψ(t) = (-1)^k cos(m t) - 2k on [kπ/m, (k+1)π/m] (eq. 6; dots mark the joins): "
        "monotonically decreasing and never above cos t (checked numerically), so the target "
        "class must win by an angular margin. Drawn from paper_repro.losses.angular."
    )
    return style.save(fig, out_stem, style.caption(text, command))


# ------------------------------------------------------- Figure 3: binary-case geometry


@dataclass(frozen=True)
class BinaryBoundaries:
    """Boundary directions in degrees from W1 towards W2 (0 = along W1, theta12 = along W2),
    measured on an angle grid from the heads' logits (L-Softmax sec. 3.2, Fig. 4)."""

    m: int
    theta12_deg: float
    norm1: float
    norm2: float
    step_deg: float  # grid spacing: each boundary is located to within step_deg / 2
    softmax_deg: float  # W1 . x = W2 . x
    class1_deg: float  # edge of the region where L-Softmax assigns class 1 with its margin
    class2_deg: float  # edge of the region where L-Softmax assigns class 2 with its margin

    @property
    def margin_deg(self) -> float:
        return self.class2_deg - self.class1_deg

    @property
    def expected_margin_deg(self) -> float:
        """(m - 1) / (m + 1) theta12: the paper's margin for |W1| = |W2|."""
        return (self.m - 1) / (self.m + 1) * self.theta12_deg


def _switch(phi: torch.Tensor, mask: torch.Tensor, first: bool, what: str) -> float:
    """The angle where `mask` changes from `first` to `not first`, which must happen once."""
    changes = torch.nonzero(mask[1:] != mask[:-1]).squeeze(1)
    if len(changes) != 1 or bool(mask[0]) != first:
        raise FigureCheckError(f"{what}: expected one boundary between W1 and W2, found {changes}")
    i = int(changes[0])
    return float((phi[i] + phi[i + 1]) / 2)


def binary_boundaries(
    m: int, theta12_deg: float, norm1: float = 1.0, norm2: float = 1.0, step_deg: float = 0.01
) -> BinaryBoundaries:
    """Decision boundaries of softmax and L-Softmax (lambda = 0) for two classes in 2-D, found
    from the baseline's and `PSI_HEAD`'s reference logits on unit features x at angles
    0..theta12 from W1.

    x is class 1 under L-Softmax when its target logit |W1||x| psi(t1) beats |W2||x| cos t2
    (and symmetrically for class 2); between the two edges neither class meets its margin."""
    n = round(theta12_deg / step_deg)
    phi = torch.linspace(0.0, theta12_deg, n + 1, dtype=torch.float64)
    x = torch.stack([torch.cos(torch.deg2rad(phi)), torch.sin(torch.deg2rad(phi))], dim=1)
    theta = math.radians(theta12_deg)
    weight = torch.tensor(
        [[norm1, 0.0], [norm2 * math.cos(theta), norm2 * math.sin(theta)]], dtype=torch.float64
    )
    zeros, ones = torch.zeros(len(phi), dtype=torch.int64), torch.ones(len(phi), dtype=torch.int64)
    plain = HEADS[BASELINE].reference_logits(x, weight, zeros)
    margin_logits = HEADS[PSI_HEAD].reference_logits
    as1 = margin_logits(x, weight, zeros, m=m, lam=0.0)  # labelled class 1: psi on column 0
    as2 = margin_logits(x, weight, ones, m=m, lam=0.0)  # labelled class 2: psi on column 1
    in1, in2 = as1[:, 0] > as1[:, 1], as2[:, 1] > as2[:, 0]
    if (in1 & in2).any():
        raise FigureCheckError("a direction meets both classes' margins; psi exceeds cos t")
    return BinaryBoundaries(
        m=m,
        theta12_deg=theta12_deg,
        norm1=norm1,
        norm2=norm2,
        step_deg=step_deg,
        softmax_deg=_switch(phi, plain[:, 0] > plain[:, 1], True, "softmax boundary"),
        class1_deg=_switch(phi, in1, True, "L-Softmax class 1"),
        class2_deg=_switch(phi, in2, False, "L-Softmax class 2"),
    )


def direction_regions(m, theta12_deg, norm1, norm2, step_deg=0.05) -> tuple[np.ndarray, np.ndarray]:
    """(angles in degrees, region of each direction): 1 / 2 where L-Softmax assigns class 1 / 2
    with its margin, 0 where neither meets it. Every logit scales with |x|, so a direction
    decides the region of its whole ray."""
    angles = np.arange(0.0, 360.0, step_deg)
    a = torch.tensor(np.radians(angles), dtype=torch.float64)
    x = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    theta = math.radians(theta12_deg)
    weight = torch.tensor(
        [[norm1, 0.0], [norm2 * math.cos(theta), norm2 * math.sin(theta)]], dtype=torch.float64
    )
    zeros = torch.zeros(len(x), dtype=torch.int64)
    as1 = HEADS[PSI_HEAD].reference_logits(x, weight, zeros, m=m, lam=0.0)
    as2 = HEADS[PSI_HEAD].reference_logits(x, weight, zeros + 1, m=m, lam=0.0)
    region = (as1[:, 0] > as1[:, 1]).long() + 2 * (as2[:, 1] > as2[:, 0]).long()
    return angles, region.numpy()


def _region_wedges(ax, angles, region, colours, radius, step_deg) -> None:
    """One exact wedge per run of directions with the same region (no pixel steps)."""
    starts = np.flatnonzero(np.diff(region, prepend=region[-1] - 1) != 0)
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(region)
        if region[start]:
            ax.add_patch(Wedge((0, 0), radius, angles[start] - step_deg / 2,
                               angles[end - 1] + step_deg / 2, color=colours[region[start]],
                               lw=0, zorder=0))  # fmt: skip


def _ray(ax, angle_deg, length, **kw):
    a = math.radians(angle_deg)
    ax.plot([0, length * math.cos(a)], [0, length * math.sin(a)], **kw)


@style.styled
def fig3_binary_geometry(
    out_stem: Path,
    command: str = COMMAND,
    m: int = 2,
    theta12_deg: float = 80.0,
    unequal: tuple[float, float] = (1.0, 0.6),
) -> tuple[list[Path], list[BinaryBoundaries]]:
    """Figure 3 (L-Softmax Fig. 4): softmax and L-Softmax boundaries for |W1| = |W2| and
    |W1| > |W2|. Raises FigureCheckError unless the measured margin for |W1| = |W2| equals
    (m - 1) / (m + 1) theta12 to within the grid spacing. Returns (files, measurements)."""
    cases = [(1.0, 1.0), unequal]
    measured = [binary_boundaries(m, theta12_deg, n1, n2) for n1, n2 in cases]
    equal = measured[0]
    if abs(equal.margin_deg - equal.expected_margin_deg) > equal.step_deg:
        raise FigureCheckError(
            f"measured margin {equal.margin_deg:.4f} deg != (m-1)/(m+1) theta12 = "
            f"{equal.expected_margin_deg:.4f} deg"
        )
    fig, axes = style.figure(1, 2, height=3.4)
    colours = {1: "#cfe2f3", 2: "#fde3c8"}  # class 1, class 2; neither stays white
    extent, step = 1.6, 0.05  # wedges reach past the view, which is shifted right
    for ax, b, tag in zip(axes[0], measured, "ab", strict=True):
        angles, region = direction_regions(m, theta12_deg, b.norm1, b.norm2, step)
        _region_wedges(ax, angles, region, colours, 2 * extent, step)
        for norm, angle, name, colour in (
            (b.norm1, 0.0, "W1", "#1f4e99"),
            (b.norm2, theta12_deg, "W2", "#b35900"),
        ):
            a = math.radians(angle)
            ax.annotate(
                "",
                xy=(norm * math.cos(a), norm * math.sin(a)),
                xytext=(0, 0),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.6},
            )
            ax.text(1.08 * norm * math.cos(a), 1.08 * norm * math.sin(a), name, color=colour)
        _ray(ax, b.softmax_deg, 2 * extent, color="0.3", ls="--", label="softmax boundary")
        _ray(ax, b.softmax_deg + 180, 2 * extent, color="0.3", ls="--")
        _ray(ax, b.class1_deg, 2 * extent, color="#1f4e99", label="L-Softmax edge, class 1")
        _ray(ax, b.class2_deg, 2 * extent, color="#b35900", label="L-Softmax edge, class 2")
        ax.add_patch(Arc((0, 0), 1.0, 1.0, theta1=b.class1_deg, theta2=b.class2_deg, lw=1.2))
        mid = math.radians((b.class1_deg + b.class2_deg) / 2)
        label = f"margin {b.margin_deg:.2f}°"  # the (m-1)/(m+1) check is in the caption
        # the label sits in class 1's region below its edge, pointing at the arc: inside the
        # margin wedge it would cover the softmax boundary that runs through it
        below = math.radians(b.class1_deg - 14.0)
        ax.annotate(
            label,
            xy=(0.5 * math.cos(mid), 0.5 * math.sin(mid)),
            xytext=(0.7 * math.cos(below), 0.7 * math.sin(below)),
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "black", "lw": 0.6},
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
        )
        norms = "|W1| = |W2|" if b.norm1 == b.norm2 else f"|W1| = {b.norm1:g} > |W2| = {b.norm2:g}"
        ax.set(
            title=f"({tag}) {norms}, θ12 = {theta12_deg:g}°, m = {m}",
            xlim=(-1.0, 1.6),  # the side between the weights, with room for the label
            ylim=(-1.3, 1.3),
            aspect="equal",
        )
        ax.grid(False)
        ax.set(xticks=[], yticks=[])  # only directions matter: every logit scales with |x|
    axes[0, 0].legend(loc="lower left", fontsize=6)
    u = measured[1]
    text = (
        f"Figure 3 (L-Softmax Fig. 4). Two classes in 2-D, θ12 = {theta12_deg:g}°, m = {m}. "
        "Dashed: the softmax boundary W1·x = W2·x. Blue/orange: where L-Softmax (λ = 0) "
        "assigns class 1/2 with its margin (|W1||x|ψ(t1) > |W2||x|cos t2, and symmetrically); "
        "white: neither class meets its margin. Measured from the heads' logits on a "
        f"{equal.step_deg:g}° grid: (a) edges at {equal.class1_deg:.2f}° and "
        f"{equal.class2_deg:.2f}° from W1, margin {equal.margin_deg:.2f}° = "
        f"(m-1)/(m+1)·θ12 = {equal.expected_margin_deg:.2f}° (checked); (b) softmax boundary "
        f"at {u.softmax_deg:.2f}° (moved towards the shorter W2), L-Softmax edges at "
        f"{u.class1_deg:.2f}° and {u.class2_deg:.2f}°, margin {u.margin_deg:.2f}°."
    )
    return style.save(fig, out_stem, style.caption(text, command)), measured


# ------------------------------------------------------------------ results-based figures
