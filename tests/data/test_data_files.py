"""paper_repro.data.files: data root, verified reads, atomic writes, downloads."""

from __future__ import annotations

import gzip
import urllib.error
from pathlib import Path

import pytest

from paper_repro.data import files
from paper_repro.data.files import DataError, FileSpec
from tests.data.tiny_datasets import md5, sha256

CONTENT = b"the quick brown fox " * 100
REAL_FETCH = files.fetch  # captured at import, before the autouse fixture patches it


def spec_for(data: bytes, **kw) -> FileSpec:
    kw.setdefault("urls", ("https://a.invalid/f.bin", "https://b.invalid/f.bin"))
    return FileSpec("f.bin", md5(data), **kw)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- roots


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert files.data_root() == tmp_path / "data"
    monkeypatch.setenv("PAPER_REPRO_DATA", str(tmp_path / "env"))
    assert files.data_root() == tmp_path / "env"
    assert files.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert files.data_root("rel") == tmp_path / "rel"  # absolute, relative to the cwd


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPER_REPRO_CACHE")
    assert files.cache_dir() == tmp_path / ".cache" / "paper_repro"
    monkeypatch.setenv("PAPER_REPRO_CACHE", str(tmp_path / "c"))
    assert files.cache_dir() == tmp_path / "c"
    assert files.cache_dir(tmp_path / "x") == tmp_path / "x"


# ---------------------------------------------------------------- verification


def test_read_verified_returns_content(tmp_path):
    (tmp_path / "f.bin").write_bytes(CONTENT)
    assert files.read_verified(tmp_path / "f.bin", spec_for(CONTENT)) == CONTENT
    files.verify_file(tmp_path / "f.bin", spec_for(CONTENT))
    sha = FileSpec("f.bin", sha256(CONTENT), algorithm="sha256")
    files.verify_file(tmp_path / "f.bin", sha)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("reader", [files.read_verified, files.verify_file])
def test_damaged_file_names_file_and_both_checksums(tmp_path, damage, reader):
    bad = bytearray(CONTENT)
    if damage == "flip":
        bad[len(bad) // 2] ^= 0x01
    else:
        del bad[-7:]
    path = tmp_path / "f.bin"
    path.write_bytes(bad)
    spec = spec_for(CONTENT)
    with pytest.raises(DataError) as e:
        reader(path, spec)
    msg = str(e.value)
    assert str(path) in msg and spec.digest in msg and md5(bytes(bad)) in msg
    assert "https://a.invalid/f.bin" in msg  # where to get a good copy


def test_wrong_expected_checksum(tmp_path):
    (tmp_path / "f.bin").write_bytes(CONTENT)
    with pytest.raises(DataError, match=r"checksum mismatch.*expected md5 0{32}"):
        files.read_verified(tmp_path / "f.bin", FileSpec("f.bin", "0" * 32))


def test_gunzip_spec_checks_uncompressed_content(tmp_path):
    # Two different gzip wrappers (name/mtime in the header) of the same content pass.
    spec = FileSpec("f.gz", md5(CONTENT), gunzip=True, max_bytes=len(CONTENT))
    for mtime in (0, 123456):
        (tmp_path / "f.gz").write_bytes(gzip.compress(CONTENT, mtime=mtime))
        assert files.read_verified(tmp_path / "f.gz", spec) == CONTENT


def test_truncated_gzip_is_a_data_error(tmp_path):
    gz = gzip.compress(CONTENT)
    (tmp_path / "f.gz").write_bytes(gz[: len(gz) // 2])
    spec = FileSpec("f.gz", md5(CONTENT), gunzip=True)
    with pytest.raises(DataError) as e:
        files.read_verified(tmp_path / "f.gz", spec)
    assert str(tmp_path / "f.gz") in str(e.value) and spec.digest in str(e.value)


def test_gzip_larger_than_allowed_is_rejected(tmp_path):
    (tmp_path / "f.gz").write_bytes(gzip.compress(bytes(10_000)))
    with pytest.raises(DataError, match="more than 100 bytes"):
        files.read_verified(tmp_path / "f.gz", FileSpec("f.gz", "0", gunzip=True, max_bytes=100))


def test_file_larger_than_allowed_is_rejected_unread(tmp_path):
    (tmp_path / "f.bin").write_bytes(CONTENT)
    with pytest.raises(DataError, match="wrong file"):
        files.read_verified(tmp_path / "f.bin", spec_for(CONTENT, max_bytes=10))


# ---------------------------------------------------------------- atomic writes


def test_download_verifies_then_renames(tmp_path, monkeypatch):
    seen = []

    def fetch(url, dest):
        dest = Path(dest)
        # Writes go to a hidden temporary name in the same folder, never the final name.
        assert dest.parent == tmp_path and dest.name != "f.bin" and dest.name.startswith(".")
        assert not (tmp_path / "f.bin").exists()
        seen.append(url)
        dest.write_bytes(CONTENT)

    monkeypatch.setattr(files, "fetch", fetch)
    [path] = files.ensure_files([spec_for(CONTENT)], tmp_path, download_missing=True, label="T")
    assert path.read_bytes() == CONTENT and seen == ["https://a.invalid/f.bin"]
    assert leftovers(tmp_path) == []


def test_partial_download_leaves_no_file(tmp_path, monkeypatch):
    def fetch(url, dest):
        Path(dest).write_bytes(CONTENT[:100])  # connection drops mid-way
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(files, "fetch", fetch)
    spec = spec_for(CONTENT)
    with pytest.raises(DataError) as e:
        files.ensure_files([spec], tmp_path, download_missing=True, label="Tiny")
    assert list(tmp_path.iterdir()) == []  # neither the final file nor a temporary one
    msg = str(e.value)
    assert str(tmp_path / "f.bin") in msg and spec.digest in msg
    assert "https://a.invalid/f.bin" in msg and "https://b.invalid/f.bin" in msg
    assert "connection reset" in msg and "PAPER_REPRO_DATA" in msg


def test_corrupt_download_is_discarded_and_next_mirror_used(tmp_path, monkeypatch):
    def fetch(url, dest):
        Path(dest).write_bytes(b"<html>mirror error page</html>" if "//a." in url else CONTENT)

    monkeypatch.setattr(files, "fetch", fetch)
    [path] = files.ensure_files([spec_for(CONTENT)], tmp_path, download_missing=True, label="T")
    assert path.read_bytes() == CONTENT and leftovers(tmp_path) == []


def test_corrupt_download_everywhere_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "fetch", lambda url, dest: Path(dest).write_bytes(b"junk"))
    with pytest.raises(DataError, match="checksum mismatch"):
        files.ensure_files([spec_for(CONTENT)], tmp_path, download_missing=True, label="T")
    assert list(tmp_path.iterdir()) == []


def test_missing_with_download_disabled_never_fetches(tmp_path, monkeypatch):
    def fetch(url, dest):
        raise AssertionError("must not download")

    monkeypatch.setattr(files, "fetch", fetch)
    with pytest.raises(DataError, match="downloading is disabled") as e:
        files.ensure_files(
            [spec_for(CONTENT)],
            tmp_path / "ds",
            download_missing=False,
            label="Tiny",
            hint="HINT-TEXT",
        )
    assert str(tmp_path / "ds" / "f.bin") in str(e.value) and "HINT-TEXT" in str(e.value)


def test_read_only_root_gives_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "fetch", lambda url, dest: Path(dest).write_bytes(CONTENT))
    blocker = tmp_path / "ro"
    blocker.write_bytes(b"")  # a file where the folder should be: mkdir fails like on a RO root
    with pytest.raises(DataError, match="download failed"):
        files.ensure_files([spec_for(CONTENT)], blocker / "ds", download_missing=True, label="T")


def test_fetch_reads_urls_with_urllib(tmp_path):
    # The real fetch (the autouse fixture replaces files.fetch), without network:
    # urllib also opens file:// URLs.
    src = tmp_path / "src.bin"
    src.write_bytes(CONTENT)
    REAL_FETCH(src.as_uri(), tmp_path / "dest.bin")
    assert (tmp_path / "dest.bin").read_bytes() == CONTENT
