"""Atomic writes: the old file or the complete new one, never a partial write."""

from __future__ import annotations

from pathlib import Path

import pytest

from paper_repro import fileio


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "sub" / "out.json"
    fileio.atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    with fileio.atomic_write(target, "w") as f:
        f.write("twö")
    assert target.read_text(encoding="utf-8") == "twö"
    assert leftovers(target.parent) == []


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), fileio.atomic_write(target) as f:
        f.write(b"new but incomplete")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError), fileio.atomic_write(tmp_path / "x", "ab"):
        pass
