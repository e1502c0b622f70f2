"""`python -m paper_repro`: plan, reuse of finished cells, clear errors."""

from __future__ import annotations

import pytest

from paper_repro.__main__ import main


def cli(tmp_path, *args):
    out = ["--results-dir", str(tmp_path / "results"), "--tables-dir", str(tmp_path / "tables")]
    if args[0] == "reproduce":
        out += ["--runs-dir", str(tmp_path / "runs"), "--no-progress", "--device", "cpu"]
    return main([*args, *out])


def test_reproduce_smoke_writes_results_and_table_then_reuses_them(tiny_data, tmp_path, capsys):
    assert cli(tmp_path, "reproduce", "mnist", "--profile", "smoke") == 0
    results = sorted((tmp_path / "results" / "smoke" / "mnist").glob("*.json"))
    assert [p.stem for p in results] == [
        "lsoftmax-m2-seed0", "lsoftmax-m3-seed0", "lsoftmax-m4-seed0", "softmax-seed0"
    ]  # fmt: skip
    table = (tmp_path / "tables" / "smoke-mnist.md").read_text()
    assert "| softmax | - |" in table and "SMOKE profile" in table
    capsys.readouterr()
    assert cli(tmp_path, "reproduce", "mnist", "--profile", "smoke") == 0
    assert "4/4 cells done" in capsys.readouterr().out


def test_unknown_experiment_exits_2_with_the_valid_names(tmp_path, capsys):
    assert cli(tmp_path, "reproduce", "imagenet") == 2
    assert "unknown experiment 'imagenet'; valid experiments: mnist" in capsys.readouterr().err


def test_missing_data_offline_says_which_files_to_put_where(tmp_path, monkeypatch, capsys):
    from paper_repro.data import files

    def offline(url, dest):
        raise OSError("no network")

    monkeypatch.setattr(files, "fetch", offline)
    code = cli(tmp_path, "reproduce", "cifar100", "--profile", "smoke",
               "--data-root", str(tmp_path / "empty"))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert str(tmp_path / "empty" / "cifar100") in err and "cifar-100-python.tar.gz" in err
    table = (tmp_path / "tables" / "smoke-cifar100.md").read_text()
    assert "No results" in table and "not available" in table


def test_dry_run_prints_the_plan_and_trains_nothing(tiny_data, tmp_path, capsys):
    assert cli(tmp_path, "reproduce", "mnist", "--profile", "smoke", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "0/4 cells done, 4 to train" in out and "estimated training time" in out
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("profile", ["fast", "PAPER"])
def test_unknown_profile(tmp_path, capsys, profile):
    assert cli(tmp_path, "reproduce", "mnist", "--profile", profile) == 2
    assert f"unknown profile '{profile}'" in capsys.readouterr().err
