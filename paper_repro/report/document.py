"""reports/REPORT.md: the answer first (a bottom line and one compact table of verdicts),
then what could not be reproduced, other people's reproductions, the checks behind the
verdicts (convergence, fit, power), deviations, compute and figures. Per-experiment evidence
and provenance go to reports/experiments/<profile>-<experiment>.md (`pages`). Assembled from
saved results alone; never trains."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.fileio import atomic_write
from paper_repro.losses import BASELINE
from paper_repro.papers import NOT_REPRODUCED, reproductions_of
from paper_repro.provenance import REPO_ROOT
from paper_repro.report import convergence, pages
from paper_repro.report.compute import (
    GPU_BENCHMARK,
    compute_lines,
    hours_needed,
    load_benchmark,
)
from paper_repro.report.deviations import deviation_lines, recipe_lines
from paper_repro.report.figures import FIGURES_DIR
from paper_repro.report.statistics import Comparison, seeds_needed
from paper_repro.report.verdicts import Verdict, headline, power_line, verdicts
from paper_repro.results import RESULTS_DIR, saved_runs
from paper_repro.spec import PROFILES

REPORT_PATH = REPO_ROOT / "reports" / "REPORT.md"
COMMAND = "python -m paper_repro report"
DERIVATIONS = REPO_ROOT / "reports" / "derivations.md"
GRADIENTS = REPO_ROOT / "reports" / "verification" / "gradients.md"

TERMS = (
    "*Profile*: a schedule length (`paper`, `cpu` = 1/12 of the paper's iterations for MNIST "
    "and 1/3 for CIFAR, `quick`, `smoke`), not a machine. "
    "*Gain*: points of test error removed (or LFW accuracy added) by the claimed head; the "
    "paper's gain is from its printed numbers. "
    "*Verdict*: a two-sided 95% t-test over networks: *supported* or *contradicted* beyond "
    "the critical value, else *inconclusive*; *no verdict* where a head did not fit its "
    "training data, *withdrawn* where its schedule had not converged. "
    f"*Fit*: {fit.rule_text()}. "
    "*Doubling check*: seed 0 trained twice as long, held against the seeds' 95% prediction "
    "interval (5% false alarms); *undecided* when it could not have seen a shift of the "
    "paper's effect. "
    "*Detects ≥ d*: the smallest true difference the test finds with 80% power at the "
    "measured spread."
)


def _link(target: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(target, out_dir)).as_posix()


def _runs_a_head(v: Verdict) -> str:
    counts = sorted({len(v.better.runs), len(v.than.runs)})
    return "/".join(map(str, counts))


def _ours(v: Verdict) -> str:
    return f"{v.gain:+.2f}" if v.better.values and v.than.values else "-"


def _verdict_cell(v: Verdict) -> str:
    text = f"**{v.verdict}**" if v.verdict in ("supported", "contradicted") else v.verdict
    if v.verdict in ("supported", "contradicted", "inconclusive") and v.convergence in (
        "undecided",
        "not checked",
    ):
        text += " †"
    return text


def _why(v: Verdict) -> str:
    if v.verdict in ("no verdict", "withdrawn", "not enough runs"):
        return v.reason
    power = power_line(v).replace("against the paper's gain of", "vs paper's")
    return power or v.reason


def verdict_table(rows: list[Verdict], out_dir: Path) -> list[str]:
    lines = [
        "| experiment (profile, runs a head) | claim | paper's gain | our gain | verdict | why |",
        "|---|---|---:|---:|---|---|",
    ]
    for v in rows:
        page = _link(pages.page_path(v.profile, v.experiment, out_dir), out_dir)
        title = EXPERIMENTS[v.experiment].title
        paper = "-" if v.paper_gain is None else f"{v.paper_gain:+.2f}"
        lines.append(f"| [{title}]({page}) (`{v.profile}`, {_runs_a_head(v)}) | {v.claim.text} "
                     f"| {paper} | {_ours(v)} | {_verdict_cell(v)} | {_why(v)} |")  # fmt: skip
    return lines


def _names(rows: list[Verdict]) -> str:
    """'"claim" on experiment', with the convergence flag where it applies."""
    return "; ".join(
        f'"{v.claim.text}" on {EXPERIMENTS[v.experiment].title}'
        + (f" (convergence {v.convergence})" if v.convergence in ("undecided", "not checked")
           else "")
        for v in rows
    )  # fmt: skip


def _range(values: list[float]) -> str:
    return (
        f"{min(values):.2f}"
        if min(values) == max(values)
        else (f"{min(values):.2f}-{max(values):.2f}")
    )


def bottom_line(rows: list[Verdict], runs) -> list[str]:
    """The answer in plain words, from the headline verdicts."""
    by = {k: [v for v in rows if v.verdict == k] for k in
          ("supported", "contradicted", "inconclusive", "no verdict", "withdrawn",
           "not enough runs")}  # fmt: skip
    lines = ["**Bottom line.**", ""]
    lines.append(
        "- **Reproduced:** "
        + (
            _names(by["supported"]) + "."
            if by["supported"]
            else "no claim: no head beats softmax at 95% on the runs that fit and converged."
        )
    )
    if by["contradicted"]:
        lines.append(f"- **Contradicted:** {_names(by['contradicted'])}: the margin head is "
                     "worse, on a schedule short of the paper's.")  # fmt: skip
    if by["inconclusive"]:
        detect = [v.test.detectable for v in by["inconclusive"]]
        gains = [v.paper_gain for v in by["inconclusive"] if v.paper_gain is not None]
        lines.append(f"- **Inconclusive ({len(by['inconclusive'])}):** the tests detect "
                     f"differences of {_range(detect)} points; the papers' gains are "
                     f"{_range(gains)}. More seeds would decide (see Power).")  # fmt: skip
    diverged = sorted({f"{h.label} on {EXPERIMENTS[v.experiment].title} ({', '.join(names)})"
                       for v in rows for h in (v.better, v.than)
                       if (names := h.named("diverged"))})  # fmt: skip
    if diverged:
        lines.append(f"- **Diverged, left out of every mean and test:** {'; '.join(diverged)}.")
    stopped = by["no verdict"] + by["withdrawn"] + by["not enough runs"]
    if stopped:
        lines.append(f"- **No verdict ({len(stopped)}):** "
                     + "; ".join(sorted({f'{v.reason} ({EXPERIMENTS[v.experiment].title})'
                                         for v in stopped})) + ".")  # fmt: skip
    lines.append("- **Not tried:** " + "; ".join(n.what for n in NOT_REPRODUCED)
                 + ": data not offline, or no GPU time yet (below).")  # fmt: skip
    lines.append(
        "- **Levels** sit far above the papers' on every table: "
        + _levels(runs)
        + " Compare heads with each other, not with the papers' levels."
    )
    return [*lines, ""]


LEVELS_PROFILE = "cpu"  # the longest schedule these machines ran for every table


def _levels(runs) -> str:
    """Why our levels differ from the papers', per table with results: the schedule's share
    of the paper's, how well the baseline head fit (or how many faces trained), and what the
    experiment declares of its data."""
    parts = []
    for exp in EXPERIMENTS.values():  # in the order the tables are declared
        results = runs.get((LEVELS_PROFILE, exp.name))
        if not results or not exp.claims or exp.checks or exp.recipe_study:
            continue
        paper = exp.runs("paper")[0].schedule.iterations
        ours = results[0]["config"]["schedule"]["iterations"]
        facts = [f"1/{paper / ours:.3g} of the paper's iterations"]
        faces = [r for r in results if r.get("faces")]
        baseline = [r for r in results if r["head"] == BASELINE and not r.get("faces")]
        if faces:
            people = sorted({r["faces"]["train_identities"] for r in faces})
            images = sorted({r["config"]["train_images"] for r in faces})
            facts.append(f"{people[0]}-{people[-1]} people and {images[0]:,}-{images[-1]:,} "
                         "training images")  # fmt: skip
        elif baseline:
            train = statistics.fmean(fit.train_error(r) or 0.0 for r in baseline)
            test = statistics.fmean(r["metrics"]["test_error"] for r in baseline)
            facts.append(f"{BASELINE} {train:.1f}% training, {test:.1f}% test error")
        if exp.level_note:
            facts[-1] += f" {exp.level_note}"
        parts.append(f"{exp.title}: {', '.join(facts)}")
    if not parts:
        return f"no table has `{LEVELS_PROFILE}` results yet."
    return f"at the `{LEVELS_PROFILE}` profile, " + "; ".join(parts) + "."


def not_reproduced_lines(runs, benchmark, gpu_benchmark) -> list[str]:
    lines = [
        "| not reproduced | where in the papers | why | what it would take "
        "| hours: CPU / one GPU |",
        "|---|---|---|---|---|",
    ]
    for item in NOT_REPRODUCED:
        cost = []
        for profile in item.profiles:
            specs = EXPERIMENTS[item.experiment].runs(profile)
            scale = item.runs / len(specs) if item.runs else 1.0
            cpu, gpu = (hours_needed(item.experiment, profile, 0, b) for b in
                        (benchmark, gpu_benchmark))  # fmt: skip
            cpu_text = "not benchmarked" if cpu is None else f"{cpu * scale:.1f}"
            gpu_text = "not benchmarked" if gpu is None else f"{gpu * scale:.2f}"
            cost.append(f"`{profile}`: {cpu_text} / {gpu_text}")
        lines.append(f"| {item.what} | {item.source} | {item.reason} | {item.takes} | "
                     f"{'; '.join(cost) or '-'} |")  # fmt: skip
    return [*lines, "", _benchmark_note(benchmark, gpu_benchmark), ""]


def _benchmark_note(benchmark, gpu_benchmark) -> str:
    def machine(b):
        hw = b["provenance"]["hardware"]
        return hw.get("gpu") or f"{hw.get('cpu')}, {hw.get('cpu_cores')} cores"

    parts = [f"CPU hours at the speed `make bench-train` measured on {machine(benchmark)} "
             f"(commit {benchmark['provenance']['commit'][:7]})" if benchmark else
             "no CPU training benchmark saved"]  # fmt: skip
    if gpu_benchmark:
        parts.append(f"GPU hours on {machine(gpu_benchmark)} in one process (`--jobs 8` "
                     "trained about twice as fast)")  # fmt: skip
    return (
        "Training hours only: " + "; ".join(parts) + ". An AVX2-only CPU trains 5-10x "
        "slower than an AMX one."
    )


def reproduction_lines(runs) -> list[str]:
    lines = []
    shown = set()
    for (_, name), _results in runs.items():
        exp = EXPERIMENTS.get(name)
        found = reproductions_of(name)
        if exp is None or exp.checks or not found or found in shown:
            continue
        shown.add(found)
        lines += [f"**{exp.source}**", "",
                  "| who | setup | reported | note |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| [{r.who}]({r.url}) | {r.setup} | {r.reported} | {r.caveat or '-'} |"
                  for r in found]  # fmt: skip
        lines.append("")
    return lines or ["None listed.", ""]


def power_lines(rows: list[Verdict]) -> list[str]:
    lines = ["| experiment (profile) | claim | spread (std) | detects ≥ | paper's gain | "
             "seeds a head to detect it |", "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for v in rows:
        if not v.test.enough:
            continue
        need = "-"
        if isinstance(v.test, Comparison) and v.paper_gain and v.paper_gain > 0:
            n = seeds_needed(v.test.std, v.paper_gain)
            need = "more than 100" if n is None else str(n)
        gain = "-" if v.paper_gain is None else f"{v.paper_gain:.2f}"
        lines.append(
            f"| {EXPERIMENTS[v.experiment].title} (`{v.profile}`) | {v.claim.text} | "
            f"{v.test.std:.3f} | {v.test.detectable:.2f} | {gain} | {need} |"
        )
    return [*lines, ""]


def _figure_number(path: Path) -> int:
    digits = path.name[3 : path.name.index("-")] if path.name.startswith("fig") else ""
    return int(digits) if digits.isdigit() else 99


def _markdown(doc: str) -> list[str]:
    """A docstring's text as markdown lines: a '- ' line starts a bullet, others continue the
    paragraph or bullet above them."""
    lines: list[str] = []
    for raw in doc.strip().splitlines():
        text = raw.strip()
        if text.startswith("- ") or not lines:
            lines.append(text)
        else:
            lines[-1] += " " + text
    # a blank line between the paragraph and the first bullet
    return [line if not line.startswith("- ") or i == 0 or lines[i - 1].startswith("- ")
            else "\n" + line for i, line in enumerate(lines)]  # fmt: skip


def _summary(caption: str, sentences: int = 2) -> str:
    """The caption's first sentences (its figure number and what the figure shows)."""
    parts = caption.strip().split(". ")
    return ". ".join(parts[:sentences]).rstrip(".") + "."


def figure_lines(figures_dir: Path, out_dir: Path) -> list[str]:
    pngs = sorted(Path(figures_dir).glob("fig*.png"), key=lambda p: (_figure_number(p), p.name))
    lines = []
    for png in pngs:
        txt = png.with_suffix(".txt")
        caption = _summary(txt.read_text()) if txt.exists() else "(no caption file)"
        lines += [
            f"![{png.stem}]({_link(png, out_dir)})",
            "",
            f"{caption} (full caption: [{txt.name}]({_link(txt, out_dir)}); "
            f"[PDF]({_link(png.with_suffix('.pdf'), out_dir)}))",
            "",
        ]
    drawn = {_figure_number(p) for p in pngs}
    missing = [n for n in range(1, 9) if n not in drawn]
    if missing:
        lines += [f"Not drawn (their inputs are missing): figure {', '.join(map(str, missing))}. "
                  "Figures are never drawn from placeholder numbers.", ""]  # fmt: skip
    return lines


def render_report(results_dir: Path = RESULTS_DIR, figures_dir: Path = FIGURES_DIR,
                  out_dir: Path = REPORT_PATH.parent, *, profiles=PROFILES,
                  command: str = COMMAND) -> str:  # fmt: skip
    runs = saved_runs(profiles, results_dir, tuple(EXPERIMENTS))
    every = verdicts(runs, convergence.outcomes(runs))
    rows = headline(every)
    benchmark, gpu_benchmark = load_benchmark(), load_benchmark(GPU_BENCHMARK)
    experiment_links = [
        f"[{EXPERIMENTS[name].title if name in EXPERIMENTS else name} (`{profile}`)]"
        f"({_link(pages.page_path(profile, name, out_dir), out_dir)})"
        for (profile, name) in runs
    ]
    lines = [
        "# Do L-Softmax (ICML 2016) and CosFace (CVPR 2018) reproduce?",
        "",
        *bottom_line(rows, runs),
        *(verdict_table(rows, out_dir) if rows else ["No results yet: no claim can be tested."]),
        "",
        "† convergence of that profile undecided or not checked: the verdict holds for its "
        "schedule. Each experiment links to its evidence, fit, convergence and provenance.",
        "",
        TERMS,
        "",
        "## What could not be reproduced, and why",
        "",
        *not_reproduced_lines(runs, benchmark, gpu_benchmark),
        "## Other reproductions",
        "",
        "Other people's numbers for the same tables (test error %, LFW accuracy %), as they "
        "reported them.",
        "",
        *reproduction_lines(runs),
        "## Convergence: the doubling check",
        "",
        *_markdown(convergence.__doc__.split("\n\n", 1)[1]),
        "",
        *convergence.convergence_lines(runs),
        "## Power",
        "",
        "What each headline comparison could detect at its measured spread, and how many seeds "
        "a head would detect the paper's gain (pooled t-test, 95%, 80% power). LFW pairs by "
        "split and seed, so its seeds are not computed here.",
        "",
        *power_lines(rows),
        "## Deviations from the papers",
        "",
        *deviation_lines(),
        "### The paper's text and the authors' release",
        "",
        *recipe_lines(runs),
        "## Compute",
        "",
        *compute_lines(runs, benchmark, gpu_benchmark),
        "## Derivations",
        "",
        f"- the losses and their gradients, derived in SymPy: [derivations.md]"
        f"({_link(DERIVATIONS, out_dir)})",
        f"- PyTorch heads against those derivations: [verification/gradients.md]"
        f"({_link(GRADIENTS, out_dir)})",
        "",
        "## Experiments",
        "",
        "Per experiment and profile: every verdict with its full test, each run's fit, the "
        "table, and one provenance block.",
        "",
        *(f"- {link}" for link in experiment_links),
        "",
        "## Figures",
        "",
        *figure_lines(figures_dir, out_dir),
        f"Assembled by `{command}` from the saved results under `reports/results/`; nothing "
        "here was trained by that command.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(results_dir: Path = RESULTS_DIR, figures_dir: Path = FIGURES_DIR,
                 out: Path = REPORT_PATH, *, profiles=PROFILES,
                 command: str = COMMAND) -> list[Path]:  # fmt: skip
    """Write REPORT.md and the experiment pages beside it (atomically); return their paths."""
    out = Path(out)
    text = render_report(results_dir, figures_dir, out.parent, profiles=profiles, command=command)
    with atomic_write(out, "w") as f:
        f.write(text)
    return [out, *pages.write_pages(results_dir, out.parent, profiles)]
