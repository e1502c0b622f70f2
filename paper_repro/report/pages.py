"""reports/experiments/<profile>-<experiment>.md: the evidence behind one experiment's
verdicts, out of REPORT.md's way: every test in full, each run's fit, the doubling check,
other reproductions, the table and one provenance block."""

from __future__ import annotations

import statistics
from pathlib import Path

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.fileio import atomic_write
from paper_repro.papers import reproductions_of
from paper_repro.report import convergence
from paper_repro.report.statistics import evidence
from paper_repro.report.tables import provenance_lines, render
from paper_repro.report.verdicts import head_runs, power_line, verdicts
from paper_repro.results import saved_runs

FOLDER = "experiments"


def page_path(profile: str, experiment: str, report_dir: Path) -> Path:
    return Path(report_dir) / FOLDER / f"{profile}-{experiment}.md"


def _fit_lines(results: list[dict]) -> list[str]:
    lines = ["| head | runs | final training error (%), mean (min - max) | fit | unfit | "
             "diverged |", "|---|---:|---|---:|---:|---:|"]  # fmt: skip
    named = []
    for label, head in head_runs(results).items():
        errors = [e for r in head.runs if (e := fit.train_error(r)) is not None]
        spread = (f"{statistics.fmean(errors):.1f} ({min(errors):.1f} - {max(errors):.1f})"
                  if errors else "not saved")  # fmt: skip
        counts = [head.statuses.count(s) for s in ("fit", "unfit", "diverged")]
        counts[0] += head.statuses.count("unknown")
        lines.append(f"| {label} | {len(head.runs)} | {spread} | "
                     f"{' | '.join(map(str, counts))} |")  # fmt: skip
        for status in ("unfit", "diverged"):
            if head.named(status):
                named.append(f"- {label}, {status}: {', '.join(head.named(status))}")
    return [*lines, "", *named, "" if named else "Every run fit its training data.", ""]


def render_page(profile: str, name: str, runs: dict, checks: dict, every) -> str:
    results = runs[(profile, name)]
    exp = EXPERIMENTS.get(name)
    title = exp.title if exp else name
    lines = [f"# {title}, profile `{profile}`", ""]
    if exp and exp.source:
        lines += [f"Reproduces {exp.source}. Back to [REPORT.md](../REPORT.md).", ""]
    if exp and exp.checks:
        lines += [
            f"The doubling check of {exp.checks}: its outcome, against that table's "
            f"seeds, is on [{profile}-{exp.checks}.md]({profile}-{exp.checks}.md).",
            "",
        ]
    mine = [v for v in every if (v.profile, v.experiment) == (profile, name)]
    if mine:
        unit = "% accuracy" if results[0]["evaluator"] == "verification" else "points"
        lines += ["## Verdicts", "", "| claim | verdict | why | the test in full |",
                  "|---|---|---|---|"]  # fmt: skip
        for v in mine:
            gated = v.verdict in ("no verdict", "withdrawn", "not enough runs")
            why = "; ".join(p for p in (v.reason if gated else "", power_line(v),
                                        f"convergence {v.convergence}") if p)  # fmt: skip
            lines.append(f"| {v.claim.text} ({v.claim.source}) | {v.verdict} | {why} | "
                         f"{evidence(v.test, unit)} |")  # fmt: skip
        lines.append("")
    if any(fit.train_error(r) is not None for r in results):
        lines += ["## Fit", "", fit.rule_text()[0].upper() + fit.rule_text()[1:] + ".", "",
                  *_fit_lines(results)]  # fmt: skip
    rows = [r for r in convergence.check_rows(runs)
            if (r["profile"], r["experiment"]) == (profile, name)]  # fmt: skip
    if rows:
        text = convergence.convergence_lines(
            {
                k: v
                for k, v in runs.items()
                if k[0] == profile
                and (k[1] == name or (k[1] in EXPERIMENTS and EXPERIMENTS[k[1]].checks == name))
            }
        )
        lines += ["## Convergence (doubling check)", "", *text]
    found = reproductions_of(name)
    if found and exp and not exp.checks:
        lines += ["## Other reproductions", "", "| who | setup | reported | note |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [f"| [{r.who}]({r.url}) | {r.setup} | {r.reported} | {r.caveat or '-'} |"
                  for r in found]  # fmt: skip
        lines.append("")
    table = render(exp, profile, results[0]["evaluator"], results) if exp else ""
    if table:
        lines += ["## Table", ""]
        lines += [("##" + line if line.startswith("#") else line) for line in table.splitlines()]
    else:
        lines += ["## Test error by each head's own rule", "", "| head | test error (%) | runs |",
                  "|---|---:|---:|"]  # fmt: skip
        lines += [f"| {label} | {statistics.fmean(h.values):.2f} | {len(h.values)} |"
                  for label, h in head_runs(results).items() if h.values]  # fmt: skip
        lines += ["", "## Provenance", "", *provenance_lines(results)]
    return "\n".join(lines).rstrip() + "\n"


def write_pages(results_dir: Path, report_dir: Path, profiles) -> list[Path]:
    runs = saved_runs(profiles, results_dir, tuple(EXPERIMENTS))
    checks = convergence.outcomes(runs)
    every = verdicts(runs, checks)
    written = []
    for profile, name in runs:
        path = page_path(profile, name, report_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as f:
            f.write(render_page(profile, name, runs, checks, every))
        written.append(path)
    return written
