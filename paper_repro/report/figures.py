"""The reproduction's figures, drawn only from saved results and saved features, or from the
loss functions themselves; never by training. A missing input leaves its figure out with a
printed note, or leaves a panel saying "no results"; no number is ever made up for it.

    1  2-D deep features per head, train and test      L-Softmax Fig. 2    saved features
    2  psi(t) and cos(m t) for m = 1..4                 L-Softmax Fig. 3    loss functions
    3  binary-case decision boundaries and margin       L-Softmax Fig. 4    loss functions
    4  8 classes with 2-D features, Euclidean/angular   CosFace Fig. 3      saved features
    5  training curves: loss, test error, lambda        (training logs)     results JSON
    6  angle between test features and class weight     (margin geometry)   results JSON
    7  LFW ROC and fold accuracy                         CosFace Fig. 6     results with ROC
    8  test error per head, seeds, the paper's value    L-Softmax Tabs 2-4  results JSON

Inputs: results JSON (paper_repro.results) under <results_dir>/<profile>/<experiment>/; the
2-D feature studies' results (evaluator "features-2d") have their features beside them in
<run_id>.npz (format: paper_repro.evaluators). A verification result (Figure 7) is a
results JSON whose metrics carry `roc` = {"fpr": [...], "tpr": [...]} (fpr ascending, over
the pairs it was tested on) and `fold_accuracy` = {fold: accuracy in %} (LFW View 2 folds).
Outputs: <out_dir>/fig<N>-<name>[-<profile>[-<experiment>]].{png,pdf,txt} (txt = caption)."""

from __future__ import annotations

from pathlib import Path

from paper_repro.experiments import EXPERIMENTS
from paper_repro.report.feature_figures import feature_runs, fig1_features, fig4_cosface_toy
from paper_repro.report.figure_runs import COMMAND, FIGURES_DIR, load_experiment, note
from paper_repro.report.formula_figures import fig2_psi, fig3_binary_geometry
from paper_repro.report.tables import verification_of
from paper_repro.report.training_figures import fig5_curves, fig6_angles, fig7_roc, fig8_errors
from paper_repro.results import RESULTS_DIR, experiment_names
from paper_repro.spec import PROFILES

# the figure a 2-D study declares (`Experiment.figure`) -> what draws it
FEATURE_FIGURES = {1: fig1_features, 4: fig4_cosface_toy}


def _select(results, sources, keep) -> tuple[list[dict], list[Path]]:
    pairs = [(r, p) for r, p in zip(results, sources, strict=True) if keep(r)]
    return [r for r, _ in pairs], [p for _, p in pairs]


def make_figures(
    results_dir: Path = RESULTS_DIR,
    out_dir: Path = FIGURES_DIR,
    *,
    profiles: tuple[str, ...] = PROFILES,
    command: str = COMMAND,
) -> list[Path]:
    """Every figure that the saved results and features allow; prints a note for each one left
    out. Returns the files written (PNG, PDF and caption of each figure)."""
    out_dir = Path(out_dir)
    written = fig2_psi(out_dir / "fig2-psi", command)
    written += fig3_binary_geometry(out_dir / "fig3-binary-geometry", command)[0]
    drawn = {1: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    for profile in profiles:
        for experiment in experiment_names(profile, results_dir, tuple(EXPERIMENTS)):
            exp = EXPERIMENTS.get(experiment)
            if exp is not None and (exp.checks or exp.recipe_study):
                continue  # a doubling check is a row of the report's convergence table, a
                # recipe study a table of the deviations section
            results, sources = load_experiment(profile, experiment, results_dir)
            features = _select(results, sources, lambda r: r["evaluator"] == "features-2d")
            number = exp.figure if exp is not None else 0
            if features[0] and number:
                draw = FEATURE_FIGURES[number]
                stem = out_dir / f"fig{number}-{experiment}-{profile}"
                written += draw(feature_runs(*features), stem, command)
                drawn[number] += 1
            results, sources = _select(results, sources, lambda r: r["evaluator"] != "features-2d")
            stem = f"{profile}-{experiment}"
            verification = _select(results, sources, lambda r: verification_of(r) is not None)
            classification = _select(results, sources, lambda r: verification_of(r) is None)
            if verification[0]:
                written += fig7_roc(*verification, out_dir / f"fig7-roc-{stem}", command)
                drawn[7] += 1
            if classification[0]:
                check = next((e for e, x in EXPERIMENTS.items() if x.checks == experiment), None)
                doubled = ((), ())
                if check and (Path(results_dir) / profile / check).is_dir():
                    doubled = load_experiment(profile, check, results_dir)
                written += fig8_errors(*classification, out_dir / f"fig8-errors-{stem}", command,
                                       doubled)  # fmt: skip
                drawn[8] += 1
            with_curves = _select(results, sources, lambda r: bool(r["curves"].get("iteration")))
            if with_curves[0]:
                written += fig5_curves(*with_curves, out_dir / f"fig5-curves-{stem}", command)
                drawn[5] += 1
            with_hist = _select(results, sources, lambda r: "target_angle_hist" in r)
            if with_hist[0]:
                written += fig6_angles(*with_hist, out_dir / f"fig6-angles-{stem}", command)
                drawn[6] += 1
    studies = {n: [e.name for e in EXPERIMENTS.values() if e.figure == n] for n in FEATURE_FIGURES}
    where = {
        **{
            n: f"2-D feature results under {results_dir}/<profile>/{' or '.join(names)}"
            for n, names in studies.items()
        },
        5: f"results with training curves under {results_dir}",
        6: f"results with target_angle_hist under {results_dir}",
        7: f"verification results (metrics.roc) under {results_dir}",
        8: f"classification results under {results_dir}",
    }
    for number, count in drawn.items():
        if not count:
            note(f"figure {number} missing: no {where[number]}")
    return written
