"""The import direction the README draws: every module imports only modules on its floor or
below, report/ reads saved results and imports no training or evaluation code, and
derivations/ and paper_repro/ never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from paper_repro.provenance import REPO_ROOT

# floor of each module (prefix match: a package covers its modules); imports go down or level
FLOORS = {
    "paper_repro": 0,  # the package marker: its __init__ imports nothing
    "paper_repro.fileio": 0,
    "paper_repro.provenance": 0,
    "paper_repro.verification": 1,
    "paper_repro.losses": 1,
    "paper_repro.models": 1,
    "paper_repro.data": 1,
    "paper_repro.results": 1,
    "paper_repro.spec": 2,
    "paper_repro.steps": 2,
    "paper_repro.monitoring": 2,
    "paper_repro.checkpoints": 2,
    "paper_repro.recipes": 2,
    "paper_repro.fit": 2,
    "paper_repro.evaluators": 2,
    "paper_repro.device_data": 2,
    "paper_repro.bench": 2,
    "paper_repro.bench_report": 2,
    "paper_repro.experiments": 3,
    "paper_repro.papers": 3,
    "paper_repro.runner": 3,
    "paper_repro.bench_train": 3,
    "paper_repro.gpu_check": 4,
    "paper_repro.bench_precision": 4,
    "paper_repro.planner": 4,
    "paper_repro.report": 4,
    "paper_repro.__main__": 5,
}
TRAINING = (
    "paper_repro.runner",
    "paper_repro.evaluators",
    "paper_repro.steps",
    "paper_repro.monitoring",
)  # report/ must not reach these


def floor(module: str) -> int:
    # a package covers its modules; the top package name covers only its own __init__
    matches = [k for k in FLOORS if module == k or (module.startswith(k + ".") and "." in k)]
    if not matches:
        raise AssertionError(f"{module} has no floor in tests/test_layers.py: add it")
    return FLOORS[max(matches, key=len)]


def modules(package: str):
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        yield name, path


def imports(name: str, path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def violations(package_modules) -> list[str]:
    bad = []
    for name, path in package_modules:
        own = floor(name)
        for target in imports(name, path):
            if target.startswith("derivations"):
                bad.append(f"{name} imports {target}: the SymPy twin stays apart")
            if not target.startswith("paper_repro.") or target == name:
                continue
            try:
                other = floor(target)
            except AssertionError:
                continue  # a name imported from a module, not a module
            if other > own:
                bad.append(f"{name} (floor {own}) imports {target} (floor {other})")
            if name.startswith("paper_repro.report") and target.startswith(TRAINING):
                bad.append(f"{name} imports training code {target}")
    return bad


def test_imports_point_down_only():
    assert violations(modules("paper_repro")) == []


def test_derivations_never_import_paper_repro_or_torch():
    for name, path in modules("derivations"):
        found = imports(name, path)
        assert not {m for m in found if m.split(".")[0] in ("paper_repro", "torch")}, name


@pytest.mark.parametrize(
    "planted",
    ["from paper_repro.runner import train_run", "from paper_repro import experiments"],
)
def test_a_planted_upward_import_is_caught(planted, tmp_path):
    path = tmp_path / "style.py"
    path.write_text((REPO_ROOT / "paper_repro/losses/base.py").read_text() + f"\n{planted}\n")
    assert violations([("paper_repro.losses.base", path)])
    report = tmp_path / "tables.py"
    report.write_text("from paper_repro.runner import train_run\n")
    assert any("training code" in v for v in violations([("paper_repro.report.x", report)]))
