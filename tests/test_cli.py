"""`python -m paper_repro`: plan, reuse of finished runs, a user's own data, clear errors.
The reproduce tests read the offline MNIST (../shared/data), as a fresh machine would."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import paper_repro.__main__ as cli_module
from paper_repro.__main__ import main
from paper_repro.data import files
from paper_repro.provenance import REPO_ROOT
from paper_repro.results import read_result

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
needs_mnist = pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs ../shared")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    def offline(url, dest):
        raise OSError("no network")

    monkeypatch.setattr(files, "fetch", offline)


def cli(tmp_path, *args):
    out = ["--results-dir", str(tmp_path / "results")]
    if args[0] in ("reproduce", "tables"):
        out += ["--tables-dir", str(tmp_path / "tables")]
    if args[0] in ("reproduce", "train"):
        out += ["--runs-dir", str(tmp_path / "runs"), "--no-progress", "--device", "cpu"]
    return main([*args, *out])


@needs_mnist
def test_reproduce_smoke_writes_results_and_table_then_reuses_them(tmp_path, capsys):
    args = ("reproduce", "mnist", "--profile", "smoke", "--data-root", str(SHARED_DATA))
    assert cli(tmp_path, *args) == 0
    results = sorted((tmp_path / "results" / "smoke" / "mnist").glob("*.json"))
    assert [p.stem for p in results] == [
        "lsoftmax-m2-seed0", "lsoftmax-m3-seed0", "lsoftmax-m4-seed0", "softmax-seed0"
    ]  # fmt: skip
    table = (tmp_path / "tables" / "smoke-mnist.md").read_text()
    assert "| softmax | - |" in table and "SMOKE profile" in table
    capsys.readouterr()
    assert cli(tmp_path, *args) == 0
    assert "4/4 runs done" in capsys.readouterr().out


@needs_mnist
def test_reproduce_trains_your_own_runs_and_compares_them_with_the_reference(
    tmp_path, monkeypatch, capsys
):
    import paper_repro.__main__ as entry

    monkeypatch.setattr(entry, "USER_DIR", tmp_path / "mine")
    monkeypatch.setattr(entry, "RESULTS_DIR", tmp_path / "reference")
    monkeypatch.setattr(entry, "TABLES_DIR", tmp_path / "reference-tables")
    args = ["reproduce", "mnist", "--profile", "smoke", "--seeds", "2", "--data-root",
            str(SHARED_DATA), "--runs-dir", str(tmp_path / "runs"), "--no-progress",
            "--device", "cpu"]  # fmt: skip
    assert main([*args, "--reference"]) == 0  # a maintainer refreshes the reference
    assert len(list((tmp_path / "reference" / "smoke" / "mnist").glob("*.json"))) == 8
    assert (tmp_path / "reference-tables" / "smoke-mnist.md").exists()
    capsys.readouterr()
    assert main(args) == 0  # a user: the reference is not theirs
    out = capsys.readouterr().out
    assert "0/8 runs done, 8 to train" in out
    assert len(list((tmp_path / "mine" / "results" / "smoke" / "mnist").glob("*.json"))) == 8
    assert (tmp_path / "mine" / "tables" / "smoke-mnist.md").exists()
    comparison = (tmp_path / "mine" / "comparison.md").read_text()
    # the same seeds and code on the same CPU: bit-identical, so inside the reference's range
    row = next(line for line in comparison.splitlines() if "| softmax |" in line)
    assert "`smoke` / mnist" in row and "+0.00" in row and row.endswith("| agrees |")
    assert "| lsoftmax m=4 |" in comparison and "comparison:" in out
    capsys.readouterr()
    assert main(args) == 0  # interrupted or finished: its own runs resume, never retrained
    assert "8/8 runs done" in capsys.readouterr().out


def test_the_default_on_a_cpu_is_the_plan_that_fits_the_budget(tmp_path, monkeypatch, capsys):
    import paper_repro.__main__ as entry

    speeds = {"table1-mnist": 128.0, "face-quick": 1000.0, "table1-cifar10": 60.0}
    monkeypatch.setattr(entry, "speed_here", lambda spec, device, compiled: (
        speeds[spec.network], "measured here"))  # fmt: skip
    assert cli(tmp_path, "reproduce", "--dry-run", "--budget", "120") == 0
    out = capsys.readouterr().out
    assert "a budget of 120 min" in out
    # MNIST: 1500 x 256 images at 128 / 1.25 images/s = 62.5 min a run: 8 runs do not fit
    assert "~62.5 min a `cpu` run" in out
    assert "left out: mnist `cpu` at 2 seed(s) (8 runs): ~500 min here" in out
    # LFW: 2400 x 128 at 1000 / 1.25 = 6.4 min a run: 12 runs a seed, one seed fits
    assert "lfw `cpu`: 12 runs (2 a head), ~77 min here" in out and "detects differences" in out
    # the 43 min left: softmax and LMCL alone on a second seed (4 new runs, 26 min)
    assert "lfw `cpu`: 8 runs (4 a head), ~26 min here. does LMCL beat softmax" in out
    assert "on one GPU" in out and not (tmp_path / "results").exists()
    assert cli(tmp_path, "reproduce", "--jobs", "2") == 2  # the budget plan runs in one process
    assert "--jobs trains named experiments" in capsys.readouterr().err


@needs_mnist
def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, capsys):
    args = ("reproduce", "mnist", "cosface-toy", "--profile", "smoke", "--dry-run")
    assert cli(tmp_path, *args, "--data-root", str(SHARED_DATA)) == 0
    out = capsys.readouterr().out
    assert "0/4 runs done, 4 to train" in out and "estimated training time" in out
    assert "images/s (eager, measured here" in out  # the speed says how it was measured
    assert not (tmp_path / "results").exists()


@needs_mnist
def test_recipe_release_plans_the_release_tables_and_refuses_tables_without_one(tmp_path, capsys):
    args = ("reproduce", "mnist", "--recipe", "release", "--profile", "smoke", "--dry-run",
            "--compile", "off", "--data-root", str(SHARED_DATA))  # fmt: skip
    assert cli(tmp_path, *args) == 0
    assert "mnist-release  MNIST, the authors' released recipe 0/4 runs" in capsys.readouterr().out
    assert cli(tmp_path, "reproduce", "lfw", "--recipe", "release", "--dry-run") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'lfw' has no release recipe" in err[0]


def test_unknown_experiment_exits_2_with_the_valid_names(tmp_path, capsys):
    assert cli(tmp_path, "reproduce", "imagenet") == 2
    assert "unknown experiment 'imagenet'; valid experiments: mnist" in capsys.readouterr().err


def test_missing_data_offline_says_which_files_to_put_where(tmp_path, capsys):
    code = cli(tmp_path, "reproduce", "cifar100", "--profile", "smoke",
               "--data-root", str(tmp_path / "empty"))  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert str(tmp_path / "empty" / "cifar100") in err and "cifar-100-python.tar.gz" in err
    table = (tmp_path / "tables" / "smoke-cifar100.md").read_text()
    assert "No results" in table and "not available" in table


@pytest.mark.parametrize("profile", ["fast", "PAPER"])
def test_unknown_profile(tmp_path, capsys, profile):
    assert cli(tmp_path, "reproduce", "mnist", "--profile", profile) == 2
    assert f"unknown profile '{profile}'" in capsys.readouterr().err


# ------------------------------------------------------------------ a user's own data


def image_tree(root, classes=("cat", "dog"), per_class=25, size=(28, 28), mode="L"):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            shape = size[::-1] if mode == "L" else (*size[::-1], 3)
            pixels = rng.integers(0, 256, shape, dtype=np.uint8) // (c + 1)
            Image.fromarray(pixels, mode).save(root / name / f"{k:03d}.png")
    return root


def idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())
    return path


def test_train_on_an_image_folder_with_a_margin_head_then_reuse(tmp_path, capsys):
    tree = image_tree(tmp_path / "pets")
    args = ("train", "--data", str(tree), "--head", "lsoftmax", "--hyper", "m=4",
            "--profile", "smoke")  # fmt: skip
    assert cli(tmp_path, *args) == 0
    out = capsys.readouterr().out
    assert "40 training images of 2 classes, network table1-mnist" in out  # 10 of 50 held out
    [path] = (tmp_path / "results" / "smoke" / "user").glob("*.json")
    result = read_result(path)
    assert result["hyper"]["m"] == 4 and result["metrics"]["test_images"] == 10
    assert result["dataset"] == f"folder:{tree}" and result["provenance"]["commit"]
    assert cli(tmp_path, *args) == 0
    assert "done already" in capsys.readouterr().out


def test_train_sets_lambda_floor_and_keeps_each_dataset_and_floor_apart(tmp_path, capsys):
    """make train's L-Softmax floor is 5 unless LAMBDA_MIN says otherwise; a second dataset or
    floor is another result file, never an overwrite; LAMBDA_MIN on a head without lambda is
    one line."""
    pets, cars = image_tree(tmp_path / "pets"), image_tree(tmp_path / "cars", ("a", "b", "c"))
    base = ("train", "--head", "lsoftmax", "--hyper", "m=2", "--profile", "smoke")
    assert cli(tmp_path, *base, "--data", str(pets)) == 0
    assert "lambda floor 5" in capsys.readouterr().out
    assert cli(tmp_path, *base, "--data", str(cars)) == 0
    assert cli(tmp_path, *base, "--data", str(pets), "--lambda-min", "0") == 0
    assert "lambda floor 0" in capsys.readouterr().out
    assert cli(tmp_path, "train", "--data", str(pets), "--head", "lmcl", "--hyper", "s=30",
               "--profile", "smoke") == 0  # fmt: skip
    assert cli(tmp_path, "train", "--data", str(pets), "--head", "lmcl", "--profile", "smoke") == 0
    lmcl = sorted(p.name for p in (tmp_path / "results" / "smoke" / "user").glob("lmcl-*.json"))
    assert len(lmcl) == 2 and lmcl[0].endswith("-s30-seed0.json")  # s given: its own file
    paths = sorted((tmp_path / "results" / "smoke" / "user").glob("lsoftmax-*.json"))
    assert len(paths) == 3
    floors = sorted(read_result(p)["hyper"]["lam"]["lam_min"] for p in paths)
    assert floors == [0.0, 5.0, 5.0]
    assert {read_result(p)["dataset"] for p in paths} == {f"folder:{pets}", f"folder:{cars}"}
    assert cli(tmp_path, "train", "--data", str(pets), "--head", "lmcl", "--lambda-min", "3",
               "--profile", "smoke") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "LAMBDA_MIN is the lambda floor of lsoftmax and asoftmax" in err
    assert len(err.strip().splitlines()) == 1


def test_train_takes_the_combined_margin_head_by_name(tmp_path, capsys):
    tree = image_tree(tmp_path / "pets")
    args = ("train", "--data", str(tree), "--head", "combined", "--hyper", "m1=2",
            "--hyper", "m3=0.1", "--profile", "smoke")  # fmt: skip
    assert cli(tmp_path, *args) == 0
    [path] = (tmp_path / "results" / "smoke" / "user").glob("combined-2-0.3-0.1-*.json")
    result = read_result(path)
    assert result["head_label"] == "combined (2, 0.3, 0.1)"
    assert result["hyper"] == {"s": 64.0, "m1": 2.0, "m2": 0.3, "m3": 0.1}


def test_user_run_floors_only_the_annealed_heads():
    from paper_repro.experiments import USER_LAM_MIN, user_run

    lsoftmax = user_run("folder:/d", "table1-mnist", "lsoftmax", {"m": 2}, "quick")
    lam = lsoftmax.head.kwargs["lam"]
    assert lam.lam_min == USER_LAM_MIN == 5.0 and lam.base == 1000.0  # the original annealing
    asoftmax = user_run("folder:/d", "table1-mnist", "asoftmax", {}, "quick", lam_min=2.0)
    assert asoftmax.head.kwargs["lam"].lam_min == 2.0  # given: replaces A-Softmax's own 5
    assert "lam" not in user_run("folder:/d", "table1-mnist", "lmcl", {}, "quick").head.kwargs
    with pytest.raises(ValueError, match="LAMBDA_MIN"):
        user_run("folder:/d", "table1-mnist", "lsoftmax", {}, "quick", lam_min=-1.0)


def test_train_resumes_after_an_interruption(tmp_path):
    tree = image_tree(tmp_path / "pets")
    from paper_repro.experiments import user_run
    from paper_repro.runner import train_run

    spec = user_run(f"folder:{tree}", "table1-mnist", "softmax", {}, "smoke")
    kw = {"runs_dir": tmp_path / "runs", "results_dir": tmp_path / "r", "progress": False}
    assert train_run(spec, stop_after=2, **kw) is None  # killed after two steps
    resumed = train_run(spec, **kw)
    whole = train_run(spec, runs_dir=tmp_path / "runs2", results_dir=tmp_path / "r2",
                      progress=False)  # fmt: skip
    assert resumed["curves"] == whole["curves"] and resumed["metrics"] == whole["metrics"]


def test_train_on_idx_files_with_a_test_split(tmp_path):
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (40, 32, 32, 3)), np.arange(40) % 3
    args = [
        "train",
        "--data",
        str(idx(tmp_path / "x.idx", images)),
        "--labels",
        str(idx(tmp_path / "y.idx", labels)),
        "--test-data",
        str(idx(tmp_path / "tx.idx", images[:9])),
        "--test-labels",
        str(idx(tmp_path / "ty.idx", labels[:9])),
        "--profile",
        "smoke",
    ]
    assert cli(tmp_path, *args) == 0
    [path] = (tmp_path / "results" / "smoke" / "user").glob("*.json")
    result = read_result(path)
    assert result["config"]["network"] == "table1-cifar10" and result["metrics"]["test_images"] == 9


def test_train_reads_gzipd_idx_as_mnist_ships_it(tmp_path):
    """Fashion-MNIST's train-images-idx3-ubyte.gz: the same bytes, gzip'd."""
    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (40, 28, 28)), np.arange(40) % 2
    plain = [idx(tmp_path / "x.idx", images), idx(tmp_path / "y.idx", labels)]
    zipped = []
    for path in plain:
        target = tmp_path / f"{path.stem}-idx-ubyte.gz"
        target.write_bytes(gzip.compress(path.read_bytes()))
        zipped.append(target)
    from paper_repro.data import user

    for paths in (plain, zipped):
        split = user.load_split("train", source=f"idx:{paths[0]},{paths[1]}")
        assert split.images.shape == (32, 1, 28, 28)  # every 5th image held out
    a = user.load_split("train", source=f"idx:{plain[0]},{plain[1]}")
    b = user.load_split("train", source=f"idx:{zipped[0]},{zipped[1]}")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    args = ["train", "--data", str(zipped[0]), "--labels", str(zipped[1]), "--profile", "smoke"]
    assert cli(tmp_path, *args) == 0


@pytest.mark.parametrize(
    "problem,message",
    [
        ("one class", "one sub-folder per class"),
        ("empty class", "no images"),
        ("unreadable", "cannot read image"),
        ("mixed sizes", "every image must have the same size"),
        ("odd size", "no Table-1 network takes 1x20x20"),
    ],
)
def test_bad_image_folders_are_named_in_a_clear_error(problem, message, tmp_path, capsys):
    tree = image_tree(tmp_path / "d", classes=("a",) if problem == "one class" else ("a", "b"),
                      size=(20, 20) if problem == "odd size" else (28, 28))  # fmt: skip
    if problem == "empty class":
        (tree / "c").mkdir()
    if problem == "unreadable":
        (tree / "a" / "005.png").write_bytes(b"not a png")
    if problem == "mixed sizes":
        Image.new("L", (30, 28)).save(tree / "b" / "zzz.png")
    assert cli(tmp_path, "train", "--data", str(tree), "--profile", "smoke") == 2
    err = capsys.readouterr().err
    assert message in err
    if problem in ("unreadable", "mixed sizes"):
        assert ("005.png" if problem == "unreadable" else "zzz.png") in err


@pytest.mark.parametrize(
    "problem,message",
    [
        ("count", "labels have shape (39,)"),
        ("header", "IDX header says shape"),
        ("test label", "label 7 out of range"),
        ("one class", "one class only"),
        ("zip", "this is a zip archive, not IDX"),
        ("truncated gzip", "not a valid gzip file"),
    ],
)
def test_bad_idx_files_are_named_in_a_clear_error(problem, message, tmp_path, capsys):
    images, labels = np.zeros((40, 28, 28)), np.arange(40) % 2
    x, y = idx(tmp_path / "x.idx", images), idx(tmp_path / "y.idx", labels)
    if problem == "count":
        idx(y, labels[:39])
    if problem == "header":
        y.write_bytes(y.read_bytes()[:-3])
    if problem == "one class":
        idx(y, labels * 0)
    if problem == "zip":
        with zipfile.ZipFile(y, "w") as z:
            z.writestr("y.idx", idx(tmp_path / "inner.idx", labels).read_bytes())
    if problem == "truncated gzip":
        y.write_bytes(gzip.compress(y.read_bytes())[:-20])
    args = ["train", "--data", str(x), "--labels", str(y), "--profile", "smoke"]
    if problem == "test label":
        args += [
            "--test-data",
            str(idx(tmp_path / "tx.idx", images[:4])),
            "--test-labels",
            str(idx(tmp_path / "ty.idx", np.array([0, 1, 7, 1]))),
        ]
    assert cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err and ("ty.idx" if problem == "test label" else "y.idx") in err


def test_bad_hyper_parameters_are_refused_with_the_valid_names(tmp_path, capsys):
    tree = image_tree(tmp_path / "pets")
    assert cli(tmp_path, "train", "--data", str(tree), "--head", "lmcl", "--hyper", "k=3") == 2
    assert "NAME one of s, m for head 'lmcl'" in capsys.readouterr().err
    assert cli(tmp_path, "train", "--data", str(tree), "--head", "lsoftmax", "--hyper", "m=0") == 2
    assert "m must be an integer >= 1" in capsys.readouterr().err


def test_compile_choice(monkeypatch):
    from paper_repro import __main__ as cli_module

    monkeypatch.setattr(cli_module.shutil, "which", lambda name: None)  # no C compiler
    assert not cli_module.use_compile("auto", "cpu") and cli_module.use_compile("auto", "cuda")
    assert cli_module.use_compile("on", "cpu") and not cli_module.use_compile("off", "cuda")
    monkeypatch.setattr(cli_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert cli_module.use_compile("auto", "cpu")


def test_default_reproduce_leaves_the_doubling_checks_out(tmp_path, capsys):
    assert cli(tmp_path, "reproduce", "--profile", "smoke", "--dry-run") == 0
    plan = capsys.readouterr().out
    assert "mnist " in plan and "lfw " in plan and "-x2" not in plan


@needs_mnist
def test_part_k_of_jobs_n_trains_every_nth_run_and_leaves_the_table(tmp_path, monkeypatch,
                                                                     capsys):  # fmt: skip
    args = ("reproduce", "mnist", "--profile", "smoke", "--data-root", str(SHARED_DATA),
            "--compile", "off", "--jobs", "2")  # fmt: skip
    folder = tmp_path / "results" / "smoke" / "mnist"

    def measured(*_, **__):
        raise AssertionError("a part of --jobs measured the speed: its parent planned")

    # the parent printed the plan, checked the data and measured the speed once
    monkeypatch.setattr(cli_module, "measure_throughput", measured)
    assert cli(tmp_path, *args, "--part", "1") == 0
    assert "plan:" not in capsys.readouterr().out
    assert sorted(p.stem for p in folder.glob("*.json")) == [
        "lsoftmax-m2-seed0",
        "lsoftmax-m4-seed0",
    ]
    assert not (tmp_path / "tables").exists()  # the parent writes it once every part has ended
    assert cli(tmp_path, *args, "--part", "0") == 0
    assert len(list(folder.glob("*.json"))) == 4


@needs_mnist
def test_jobs_trains_each_run_once_in_parallel_processes_then_writes_the_table(tmp_path):
    command = ("--command", "make reproduce-mnist JOBS=2")
    args = ("reproduce", "mnist", "--profile", "smoke", "--data-root", str(SHARED_DATA),
            "--compile", "off", "--jobs", "2", *command)  # fmt: skip
    assert cli(tmp_path, *args) == 0
    results = [read_result(p) for p in (tmp_path / "results" / "smoke" / "mnist").glob("*.json")]
    assert sorted(r["head_label"] for r in results) == [
        "lsoftmax m=2", "lsoftmax m=3", "lsoftmax m=4", "softmax"
    ]  # fmt: skip
    assert {r["command"] for r in results} == {"make reproduce-mnist JOBS=2"}
    assert "| softmax | - |" in (tmp_path / "tables" / "smoke-mnist.md").read_text()


def test_a_class_sorted_folder_gives_smoke_subsets_with_every_class(tmp_path, capsys):
    """The own-data reader lists class by class; the smoke profile's 256-image subsets take
    both classes in proportion, so the test error is not 0% by holding one class only."""
    data = tmp_path / "two"
    for part in ("train", "test"):
        image_tree(data / part, classes=("a", "b"), per_class=300)
    assert cli(tmp_path, "train", "--data", str(data), "--profile", "smoke") == 0
    [path] = (tmp_path / "results" / "smoke" / "user").glob("*.json")
    result = read_result(path)
    assert result["metrics"]["test_images"] == 256
    # 4 steps cannot separate the classes: near chance (50%), far from a one-class 0%
    assert 20.0 < result["metrics"]["test_error"] < 80.0

    from paper_repro.data import Catalog
    from paper_repro.experiments import user_run
    from paper_repro.runner import training_split

    spec = user_run(f"folder:{data}", "table1-mnist", "softmax", {}, "smoke")
    train, _ = training_split(spec, Catalog(), (1, 28, 28))
    assert torch.bincount(train.labels).tolist() == [128, 128]


@needs_mnist
def test_a_damaged_checkpoint_or_result_in_a_table_costs_one_line_and_the_table_completes(
    tmp_path, capsys
):
    args = ("reproduce", "mnist", "--profile", "smoke", "--data-root", str(SHARED_DATA))
    ckpt = tmp_path / "runs" / "smoke" / "mnist" / "lsoftmax-m3-seed0.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"\x80\x02 a checkpoint cut short by a disk fault")
    assert cli(tmp_path, *args) == 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1  # one line for the fault, no traceback
    assert "lsoftmax-m3-seed0.pt cannot be read" in err and "Traceback" not in err
    results = tmp_path / "results" / "smoke" / "mnist"
    assert len(list(results.glob("*.json"))) == 4 and ckpt.with_name(ckpt.name + ".bad").exists()
    (results / "softmax-seed0.json").write_text('{"schema": "paper_repro.resu')  # truncated
    assert cli(tmp_path, *args) == 0
    out = capsys.readouterr().out
    assert "softmax-seed0.json" in out and "its run is trained again" in out
    assert "3/4 runs done" in out and len(list(results.glob("*.json"))) == 4
