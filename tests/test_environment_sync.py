"""environment.yml (conda users) and pyproject.toml (pip users) must list the same packages
with the same version ranges."""

from __future__ import annotations

import re
import tomllib

import yaml

from paper_repro.provenance import REPO_ROOT


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower().replace("_", "-")


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return {_normalise(r) for r in project["dependencies"] + extras}


def environment_requirements() -> set[str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {_normalise(r) for r in pip_section if not r.startswith("-e")}


def test_environment_yml_matches_pyproject():
    ours, conda = pyproject_requirements(), environment_requirements()
    assert ours == conda, (
        f"only in pyproject: {ours - conda}; only in environment.yml: {conda - ours}"
    )


def test_python_versions_agree():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert f"python{project['requires-python']}" in env["dependencies"]
