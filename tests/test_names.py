"""A head is named in its own two files, the registries and the experiment list; the report
renders what experiments declare and names neither a head nor an experiment. Checked on the
string literals of the code: a literal equal to a head's key (or a label of it, "<key> m=..."),
or in report/ to an experiment's name."""

from __future__ import annotations

import ast
from pathlib import Path

import derivations
from paper_repro.experiments import EXPERIMENTS
from paper_repro.losses import HEADS
from paper_repro.provenance import REPO_ROOT

REGISTRIES = {"paper_repro/losses/__init__.py", "derivations/__init__.py"}
EXPERIMENT_LIST = "paper_repro/experiments.py"


def own_files(key: str) -> set[str]:
    """The head's package file and its SymPy twin (whose module name may differ)."""
    twin = Path(derivations.MODULES[key].__file__).relative_to(REPO_ROOT).as_posix()
    package = Path(__import__(HEADS[key].__module__, fromlist=["_"]).__file__)
    return {package.relative_to(REPO_ROOT).as_posix(), twin}


def literals(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def named(files) -> list[str]:
    """'path:line: what' for every literal naming a head outside its rooms, or an experiment
    in report/."""
    bad = []
    for relative, path in files:
        for line, text in literals(path):
            key = text.split(" m=")[0]
            allowed = {*REGISTRIES, EXPERIMENT_LIST, *own_files(key)} if key in HEADS else set()
            if key in HEADS and relative not in allowed:
                bad.append(f"{relative}:{line}: head {text!r}")
            if relative.startswith("paper_repro/report/") and text in EXPERIMENTS:
                bad.append(f"{relative}:{line}: experiment {text!r}")
    return bad


def package_files():
    for package in ("paper_repro", "derivations"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            yield path.relative_to(REPO_ROOT).as_posix(), path


def test_heads_and_experiments_are_named_only_where_they_are_declared():
    assert named(package_files()) == []


def test_a_planted_name_is_caught(tmp_path):
    planted = tmp_path / "tables.py"
    planted.write_text('HEAD = "lmcl"\nLABEL = "lsoftmax m=4"\nTABLE = "mnist"\n')
    assert len(named([("paper_repro/report/tables.py", planted)])) == 3
    # the same literals are at home in the experiment list, the head's at home in its file
    assert named([(EXPERIMENT_LIST, planted)]) == []
    assert named([("paper_repro/losses/lmcl.py", planted)]) == [
        "paper_repro/losses/lmcl.py:2: head 'lsoftmax m=4'"
    ]
