"""The heads declare themselves: the registry, each head's hyper-parameters with defaults and
ranges, labels, and the list the SymPy twin derives (kept independently in derivations/)."""

from __future__ import annotations

import importlib.util
import inspect

import pytest

import derivations
from paper_repro.losses import HEADS, make_head


def test_registry_names_every_head_by_its_key():
    assert all(cls.key == name for name, cls in HEADS.items())
    assert len({cls.title for cls in HEADS.values()}) == len(HEADS)


def test_the_package_and_the_derivations_list_the_same_heads():
    assert tuple(HEADS) == derivations.HEADS


@pytest.mark.parametrize("name", HEADS)
def test_declared_hypers_are_the_constructor_keywords_with_its_defaults(name):
    cls = HEADS[name]
    params = inspect.signature(cls.__init__).parameters
    keywords = {
        k: p.default for k, p in params.items() if k not in ("self", "in_features", "num_classes")
    }
    assert {h.name: h.default for h in cls.hypers} == keywords
    assert cls.margin is None or cls.margin in keywords


@pytest.mark.parametrize(
    "name,hyper",
    [(n, h) for n, cls in HEADS.items() for h in cls.hypers if h.kind in (int, float)],
    ids=lambda v: getattr(v, "name", v),
)
def test_declared_ranges_are_the_ones_the_constructor_enforces(name, hyper):
    """Just outside a declared bound fails; on the lower bound it builds, except where the
    bound is open (s > 0)."""
    below = hyper.low - 1 if hyper.high is None else hyper.high + 1
    with pytest.raises(ValueError, match=hyper.name):
        make_head(name, 4, 3, **{hyper.name: hyper.kind(below)})
    if hyper.low_open:
        with pytest.raises(ValueError, match=hyper.name):
            make_head(name, 4, 3, **{hyper.name: hyper.kind(hyper.low)})
    else:
        make_head(name, 4, 3, **{hyper.name: hyper.kind(hyper.low)})


def test_configure_fills_defaults_and_compresses_the_annealing():
    hyper = HEADS["lsoftmax"].configure(1800, m=2)
    assert hyper["m"] == 2
    schedule, reference = HEADS["lsoftmax"].annealing
    assert hyper["lam"].gamma == pytest.approx(schedule.gamma * reference / 1800)
    assert hyper["lam"](1800) == pytest.approx(schedule(reference))  # same fraction of training
    assert HEADS["lmcl"].configure(10) == {"s": 64.0, "m": 0.35}
    with pytest.raises(TypeError, match="takes s, m"):
        HEADS["lmcl"].configure(10, k=3)


def test_labels_and_run_names():
    assert HEADS["softmax"].label({}) == "softmax" and HEADS["softmax"].run_name({}) == "softmax"
    assert HEADS["lsoftmax"].label({"m": 3}) == "lsoftmax m=3"
    assert HEADS["lsoftmax"].run_name({"m": 3}) == "lsoftmax-m3"
    assert HEADS["lmcl"].label({"m": 0.0, "s": 16.0}) == "normalised softmax (lmcl m=0)"
    assert HEADS["bdlmcl"].label({"m": 0.0}) == "bdlmcl m=0.0"


def test_parse_reads_command_line_values_in_their_kind():
    m = HEADS["lsoftmax"].hypers[0]
    assert m.parse("4") == 4
    with pytest.raises(ValueError, match="m must be int"):
        m.parse("2.5")
    with pytest.raises(ValueError, match="command line"):
        HEADS["lsoftmax"].hypers[1].parse("0.1")


def test_choice_hypers_parse_only_their_choices():
    unselected = next(h for h in HEADS["bdlmcl"].hypers if h.name == "unselected")
    assert unselected.parse("no_margin") == "no_margin"
    with pytest.raises(ValueError, match="drop, no_margin"):
        unselected.parse("keep")
    with pytest.raises(ValueError, match="unselected"):
        make_head("bdlmcl", 4, 3, unselected="keep")


@pytest.mark.parametrize("name", HEADS)
def test_a_head_has_every_piece_it_needs(name):
    """What a new head must declare, in its two files, for the registries, the oracle, the
    property tests and the equation index to be built from it."""
    cls = HEADS[name]
    module = derivations.MODULES.get(name)
    assert module is not None, f"no module in derivations/ declares KEY = {name!r}"
    # the oracle takes the head's hyper-parameters (a lambda schedule as a constant lambda)
    assert [p.name for p in module.PARAMS] == [h.name for h in cls.hypers]
    assert module.EQUATIONS, "the derivation declares no entry of the equation index"
    # the oracle calls logit_spec with the STRUCTURAL parameter by name, and nothing else
    takes = set(inspect.signature(module.logit_spec).parameters)
    assert takes == ({module.STRUCTURAL} if module.STRUCTURAL else set())
    cited = {p.paper_ref for p in module.proofs()}
    uncited = [e.label for e in module.EQUATIONS if e.label not in cited]
    assert not uncited, f"index entries no proof of the module cites: {uncited}"
    assert callable(cls.reference_logits) and cls.title and cls.colours
    for h in cls.hypers:
        if h.kind is str:
            assert h.default in h.choices
            continue
        assert h.drawn is not None, f"{h.name}: no range for the property tests"
        low, high = h.drawn
        assert h.low <= low < high <= (h.high if h.high is not None else float("inf"))
    # the settings it is benchmarked and GPU-checked at build it, and its twin (if declared)
    # takes the keywords it gives, for every one of them (where the bench extra is installed)
    assert cls.benchmarked, "no setting to benchmark"
    for hyper in cls.benchmarked:
        make_head(name, 8, 10, **hyper)
        if cls.metric_learning_twin and importlib.util.find_spec("pytorch_metric_learning"):
            from pytorch_metric_learning import losses

            twin = getattr(losses, cls.metric_learning_twin)
            twin(num_classes=10, embedding_size=8, **cls.twin_kwargs(hyper))
