"""A head is named in its own two files, the registries and the experiment list; the report
renders what experiments declare and names neither a head nor an experiment. Checked on the
code's string literals and imports: a literal that is a head's key, one of its labels or run
names ("<key> m=...", "<key>-m..."), or in report/ an experiment's name (alone or in backticks
in a text) and an import of a head class or of a head's reference logits."""

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


def head_of(text: str) -> str | None:
    """The head a literal names: its key, or a label or run name of one of its settings."""
    for key, head in HEADS.items():
        names = {head.label(h) for h in head.benchmarked} | {head.run_name(h) for h in
                                                               head.benchmarked}  # fmt: skip
        if text == key or text.startswith((f"{key} m=", f"{key}-m")) or text in names:
            return key
    return None


def report_imports(path: Path) -> list[tuple[int, str]]:
    """(line, name) of each head class or reference-logits function a file imports."""
    return [(node.lineno, alias.name) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) for alias in node.names
            if alias.name.endswith(("Head", "_logits"))]  # fmt: skip


def named(files) -> list[str]:
    """'path:line: what' for every literal naming a head outside its rooms, or an experiment
    in report/, and every import of a head into report/."""
    bad = []
    for relative, path in files:
        in_report = relative.startswith("paper_repro/report/")
        for line, text in literals(path):
            key = head_of(text)
            allowed = {*REGISTRIES, EXPERIMENT_LIST, *own_files(key)} if key else set()
            if key and relative not in allowed:
                bad.append(f"{relative}:{line}: head {text!r}")
            if in_report and (text in EXPERIMENTS or any(f"`{e}`" in text for e in EXPERIMENTS)):
                bad.append(f"{relative}:{line}: experiment {text!r}")
        if in_report:
            bad += [f"{relative}:{line}: imports {name}" for line, name in report_imports(path)]
    return bad


def package_files():
    for package in ("paper_repro", "derivations"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            yield path.relative_to(REPO_ROOT).as_posix(), path


def test_heads_and_experiments_are_named_only_where_they_are_declared():
    assert named(package_files()) == []


def test_a_planted_name_is_caught(tmp_path):
    planted = tmp_path / "tables.py"
    planted.write_text('HEAD = "lmcl"\nLABEL = "lsoftmax m=4"\nTABLE = "mnist"\n'
                       'RUN = "lsoftmax-m4"\nTEXT = "the `cifar10-jpeg` tables"\n'
                       "from paper_repro.losses import LMCLHead\n")  # fmt: skip
    assert len(named([("paper_repro/report/tables.py", planted)])) == 6
    # the literals are at home in the experiment list, a head's in its own file; an import of
    # a head counts in report/ only
    assert named([(EXPERIMENT_LIST, planted)]) == []
    assert named([("paper_repro/losses/lmcl.py", planted)]) == [
        "paper_repro/losses/lmcl.py:2: head 'lsoftmax m=4'",
        "paper_repro/losses/lmcl.py:4: head 'lsoftmax-m4'",
    ]
