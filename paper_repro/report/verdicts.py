"""Verdicts on the papers' claims, per experiment and profile, from the saved results.

A verdict is drawn only between heads whose runs fit their training data (`fit`), on runs
that did not diverge, and never where the doubling check found a compared head's schedule
not converged (`convergence`). The test (`statistics`): pooled two-sample t over seeds for
MNIST and CIFAR; for LFW, paired by split of people and seed (the split moves both heads'
accuracy; pairing takes it out). Every verdict states the smallest difference its test could
have detected."""

from __future__ import annotations

from dataclasses import dataclass

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.papers import Claim
from paper_repro.report.statistics import Comparison, Paired, seeds_needed
from paper_repro.report.values import final_value, higher_is_better, paper_gain

HEADLINE_ORDER = ("paper", "cpu", "quick", "smoke")  # the longest schedule measured leads


@dataclass(frozen=True)
class HeadRuns:
    """One head's runs in one (profile, experiment), each with its fit status."""

    label: str
    runs: tuple[dict, ...]
    statuses: tuple[str, ...]

    @property
    def kept(self) -> tuple[dict, ...]:
        """The runs that did not diverge: the ones means and tests use."""
        return tuple(r for r, s in zip(self.runs, self.statuses, strict=True) if s != "diverged")

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(v for r in self.kept if (v := final_value(r)) is not None)

    def named(self, status: str) -> list[str]:
        """'split seed k (training error x%)' of the runs with that status."""
        return [
            f"{(r['split'] + ' ') if r.get('split') else ''}seed {r['seed']} "
            f"({fit.train_error(r):.1f}% training error)"
            if fit.train_error(r) is not None else f"seed {r['seed']}"
            for r, s in zip(self.runs, self.statuses, strict=True) if s == status
        ]  # fmt: skip


def run_label(result: dict) -> str:
    """The head's label, and the run's variant where it has one (the recipe studies)."""
    variant = result.get("recipe", {}).get("variant", "")
    return result["head_label"] + (f" [{variant}]" if variant else "")


def head_runs(results: list[dict]) -> dict[str, HeadRuns]:
    """Head label (with the variant, if any) -> its runs, in the experiment's order (softmax
    first, a head's plain runs before its variants)."""
    statuses = fit.statuses(results)
    labels = [run_label(r) for r in results]
    order = sorted({(r.get("order", 0), label != r["head_label"], label)
                    for r, label in zip(results, labels, strict=True)})  # fmt: skip
    return {
        label: HeadRuns(label, tuple(r for r, lb in zip(results, labels, strict=True)
                                     if lb == label),
                        tuple(s for lb, s in zip(labels, statuses, strict=True) if lb == label))
        for *_, label in order
    }  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    profile: str
    experiment: str
    better: HeadRuns
    than: HeadRuns
    test: Comparison | Paired
    verdict: str  # supported, contradicted, inconclusive, not enough runs, no verdict, withdrawn
    reason: str  # why, in a few words
    paper_gain: float | None
    convergence: str  # the gravest doubling-check outcome of the two heads, or "not checked"

    @property
    def gain(self) -> float:
        """Ours: how much better `better` did than `than` (points; positive: better)."""
        return self.test.difference


def _test(better: HeadRuns, than: HeadRuns, higher: bool) -> Comparison | Paired:
    if better.runs and better.runs[0]["evaluator"] == "verification":

        def keyed(h):
            return {(r.get("split"), r["seed"]): v for r in h.kept
                    if (v := final_value(r)) is not None}  # fmt: skip

        a, b = keyed(better), keyed(than)
        return Paired(tuple((a[k], b[k]) for k in sorted(a, key=str) if k in b))
    # error falls as quality rises: the claim 'better beats than' is than - better > 0
    return (
        Comparison(better.values, than.values) if higher else Comparison(than.values, better.values)
    )


_GRAVITY = ("not converged", "undecided", "longer is worse", "not decidable", "converged",
            "not checked")  # fmt: skip


def verdicts(runs: dict[tuple[str, str], list[dict]],
             checks: dict[tuple[str, str, str], str]) -> list[Verdict]:  # fmt: skip
    """Every claim that an experiment with results can test, per profile. checks: the
    doubling check's outcomes (`convergence.outcomes`)."""
    out = []
    for (profile, name), results in runs.items():
        exp = EXPERIMENTS.get(name)
        if (exp is None or exp.checks or exp.recipe_study
                or results[0]["evaluator"] == "features-2d"):  # fmt: skip
            continue
        heads, higher = head_runs(results), higher_is_better(results)
        for claim in exp.claims:
            if claim.better not in heads or claim.than not in heads:
                continue
            better, than = heads[claim.better], heads[claim.than]
            test = _test(better, than, higher)
            outcomes = [
                checks.get((profile, name, h), "not checked") for h in (better.label, than.label)
            ]
            convergence = min(outcomes, key=_GRAVITY.index)
            verdict, reason = _gate(test, better, than, outcomes)
            out.append(
                Verdict(
                    claim,
                    profile,
                    name,
                    better,
                    than,
                    test,
                    verdict,
                    reason,
                    paper_gain(exp, claim.better, claim.than, higher),
                    convergence,
                )
            )
    return out


def _gate(test, better: HeadRuns, than: HeadRuns, outcomes: list[str]) -> tuple[str, str]:
    unfit = [(h.label, h.named("unfit"), len(h.runs)) for h in (better, than) if h.named("unfit")]
    if unfit:
        return "no verdict", "; ".join(f"{label} did not fit ({len(names)} of {n} runs)"
                                       for label, names, n in unfit)  # fmt: skip
    stale = [h.label for h, o in zip((better, than), outcomes, strict=True)
             if o == "not converged"]  # fmt: skip
    if stale:
        return "withdrawn", f"{', '.join(stale)} not converged (doubling check)"
    if not test.enough:
        return "not enough runs", f"{test.design}: needs 2 a side"
    verdict = test.verdict()
    low, high = test.interval
    return verdict, f"95% interval [{low:+.2f}, {high:+.2f}]; detects ≥ {test.detectable:.2f}"


def headline(verdicts_: list[Verdict]) -> list[Verdict]:
    """Per experiment, the verdicts of its longest measured schedule."""
    best: dict[str, str] = {}
    for v in verdicts_:
        current = best.get(v.experiment)
        if current is None or HEADLINE_ORDER.index(v.profile) < HEADLINE_ORDER.index(current):
            best[v.experiment] = v.profile
    return [v for v in verdicts_ if best[v.experiment] == v.profile]


def power_line(v: Verdict) -> str:
    """What this comparison can detect, and the seeds a head the paper's gain would need."""
    if not v.test.enough or v.paper_gain is None or v.paper_gain <= 0:
        return ""
    per_head = v.test.std * (2**0.5 if isinstance(v.test, Paired) else 1)
    need = seeds_needed(per_head, v.paper_gain) if isinstance(v.test, Comparison) else None
    text = f"detects ≥ {v.test.detectable:.2f} against the paper's gain of {v.paper_gain:.2f}"
    if need is not None and v.test.detectable > v.paper_gain:
        text += f"; {need} seeds a head would detect it at this std"
    return text
