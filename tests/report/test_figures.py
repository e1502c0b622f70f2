"""Every figure the saved results allow is drawn, and a missing input shows as missing."""

from __future__ import annotations

import matplotlib.collections
import matplotlib.colors
import numpy as np

from paper_repro.report import figure_runs, figures, style, training_figures
from tests.report.figure_fakes import assert_rendered, verification_results


def test_make_figures_from_saved_results(results_dir, tmp_path, capsys):
    verification_results(results_dir)
    out = tmp_path / "figures"
    written = figures.make_figures(results_dir, out)
    names = {p.name for p in written}
    for stem in (
        "fig2-psi",
        "fig3-binary-geometry",
        "fig5-curves-quick-mnist",
        "fig6-angles-quick-mnist",
        "fig8-errors-quick-mnist",
        "fig7-roc-quick-lfw",
    ):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.txt"} <= names  # fmt: skip
    mnist = sorted((results_dir / "quick" / "mnist").glob("*.json"))
    for stem in ("fig5-curves-quick-mnist", "fig6-angles-quick-mnist", "fig8-errors-quick-mnist"):
        caption = assert_rendered([out / f"{stem}.{e}" for e in ("png", "pdf", "txt")], *mnist)
        assert "quick/mnist" in caption and "QUICK profile" in caption and "abc123" in caption
    lfw = sorted((results_dir / "quick" / "lfw").glob("*.json"))
    caption = assert_rendered([out / f"fig7-roc-quick-lfw.{e}" for e in ("png", "pdf", "txt")],
                              *lfw)  # fmt: skip
    # one number per network (the mean of its five folds), not the ten folds pooled
    networks = [np.mean([98.5, 99.5, 98.5, 99.5, 98.5])] * 2
    assert f"lmcl m=0.35 {np.mean(networks):.2f} ± 0.00% (n=2)" in caption
    # face runs log training curves but no test error or angles: figure 5 only
    assert (
        "fig5-curves-quick-lfw.png" in names
        and "no test-error curve" in (out / "fig5-curves-quick-lfw.txt").read_text()
    )
    assert not {"fig6-angles-quick-lfw.png", "fig8-errors-quick-lfw.png"} & names
    faces, _ = figure_runs.load_experiment("quick", "lfw", results_dir)
    fig, text = training_figures.curves_figure(faces)
    # (b) falls back to the training error, one line per head; the legend sits outside
    assert fig.axes[1].get_title() == "(b) training error (%)"
    means = [line for line in fig.axes[1].get_lines() if not line.get_label().startswith("_")]
    assert len(means) == len({r["head_label"] for r in faces})
    assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    assert "over the networks (seeds x halves" in text
    # no feature runs: figures 1 and 4 are left out and say so
    assert not any(n.startswith(("fig1", "fig4")) for n in names)
    printed = capsys.readouterr().out
    assert "figure 1 missing" in printed and "figure 4 missing" in printed


def test_missing_results_leave_figures_out(tmp_path, capsys):
    written = figures.make_figures(tmp_path / "none", tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(
        f"{s}.{e}" for s in ("fig2-psi", "fig3-binary-geometry") for e in ("png", "pdf", "txt")
    )
    printed = capsys.readouterr().out
    for number in (1, 4, 5, 6, 7, 8):
        assert f"figure {number} missing" in printed


def test_line_styles_part_close_shades_of_one_hue():
    styles = [style.head_linestyle("lsoftmax", m) for m in (2, 3, 4)]
    assert len(set(styles)) == 3  # m = 3 and m = 4 are near blues: styles keep them apart
    assert style.head_linestyle("softmax") == style.head_linestyle("lmcl", 0.35) == "-"
    assert style.head_linestyle("asoftmax", 4) == ":"


def test_head_colours_are_fixed_and_distinct():
    keys = [("softmax", None), ("lsoftmax", 2), ("lsoftmax", 3), ("lsoftmax", 4),
            ("lmcl", 0.0), ("lmcl", 0.1), ("lmcl", 0.35), ("arcface", 0.5)]  # fmt: skip
    colours = [np.array(matplotlib.colors.to_rgb(style.head_colour(*k))) for k in keys]
    # every pair apart by a visible step in RGB (m = 3 and m = 4 were near-identical blues)
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(colours) for b in colours[i + 1 :]]
    assert min(gaps) > 0.08, min(gaps)
    # L-Softmax m = 3 and m = 4 read as one dark blue at the previous shades (RGB gap 0.24)
    assert np.linalg.norm(colours[2] - colours[3]) > 0.28
    assert style.head_colour("lsoftmax", 2) == style.head_colour("lsoftmax", 2)
