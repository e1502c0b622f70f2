"""The commit recorded with every result: '-dirty' for changed code, not for changed outputs."""

from __future__ import annotations

import subprocess

import pytest

from paper_repro import provenance


@pytest.fixture
def repo(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "reports" / "table.md").write_text("old\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("PAPER_REPRO_COMMIT", raising=False)
    return tmp_path


def test_clean_commit_has_no_suffix(repo):
    assert len(provenance.git_commit()) == 40


def test_rewritten_outputs_do_not_make_the_commit_dirty(repo):
    (repo / "reports" / "table.md").write_text("new\n")
    (repo / "reports" / "new.json").write_text("{}\n")  # untracked
    assert not provenance.git_commit().endswith("-dirty")


def test_changed_code_makes_the_commit_dirty(repo):
    (repo / "code.py").write_text("x = 2\n")
    assert provenance.git_commit().endswith("-dirty")


def test_outside_git_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("PAPER_REPRO_COMMIT", raising=False)
    assert provenance.git_commit() == "unknown"


def test_a_sent_copy_names_its_commit_over_a_stale_git(repo, monkeypatch):
    (repo / "code.py").write_text("x = 2\n")  # the sent tree, under an older .git
    monkeypatch.setenv("PAPER_REPRO_COMMIT", "f" * 40)
    assert provenance.git_commit() == "f" * 40 + " (named by $PAPER_REPRO_COMMIT)"
