"""Command line behind the Makefile.

    python -m paper_repro reproduce [EXPERIMENT ...] [--profile quick] [--data-root DIR]
    python -m paper_repro train --data PATH [--labels PATH] --head lsoftmax --hyper m=4
    python -m paper_repro tables [--profile quick]
    python -m paper_repro figures
    python -m paper_repro report

`reproduce` prints its plan and an estimated time, trains every run that is not done
(finished runs are reused, interrupted ones resume from their checkpoint), then writes the
tables. Every experiment (the tables, `lfw`, the 2-D feature studies `lsoftmax-2d` and
`cosface-toy`) is a list of runs for the one runner. `train` trains one head on a user's
own data. `figures` and `report` only read saved results."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from paper_repro import planner
from paper_repro.checkpoints import RUNS_DIR, is_done, result_path
from paper_repro.data import Catalog, DataError, own_faces, user
from paper_repro.experiments import (
    DEFAULT_EXPERIMENTS,
    EXPERIMENTS,
    PROFILES,
    RELEASE_TABLES,
    USER_LAM_MIN,
    check_profile,
    get_experiment,
    user_faces_run,
    user_run,
    with_recipe,
)
from paper_repro.fileio import atomic_write
from paper_repro.losses import BASELINE, head_class
from paper_repro.losses.schedule import LambdaSchedule
from paper_repro.models import make_network, network_for
from paper_repro.provenance import bf16_native, hardware
from paper_repro.report import agreement
from paper_repro.report.compute import GPU_BENCHMARK, load_benchmark, speeds
from paper_repro.report.document import REPORT_PATH, write_report
from paper_repro.report.figures import FIGURES_DIR, fig7_roc, make_figures
from paper_repro.report.statistics import pooled_std
from paper_repro.report.tables import TABLES_DIR, write_table
from paper_repro.report.verdicts import head_runs
from paper_repro.results import RESULTS_DIR, USER_DIR, ResultError, load_results, read_result
from paper_repro.runner import measure_throughput, train_run
from paper_repro.spec import RECIPES


def default_device() -> str:
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"


def default_precision(device: str) -> str:
    """bf16 autocast of the network where the hardware computes bf16 (CUDA GPUs, CPUs with
    AMX-BF16 or AVX512-BF16), float32 elsewhere; the heads compute in float32 either way."""
    return "bf16" if bf16_native(device) else "fp32"


def init_distributed(device: str | None) -> None:
    """Under torchrun (WORLD_SIZE > 1): join the process group (NCCL on GPUs, gloo on CPU)
    and keep the console to rank 0."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    cuda = torch.cuda.is_available() and device != "cpu"
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def use_compile(choice: str, device: str) -> bool:
    """Whether to torch.compile: `auto` compiles where inductor can generate code (a CUDA GPU,
    or a CPU with a C compiler on PATH)."""
    if choice != "auto":
        return choice == "on"
    return device.startswith("cuda") or any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


def default_profile(device: str) -> str:
    """The paper's schedule on a GPU; named experiments on a CPU get the `quick` one (with
    nothing named, a CPU trains the budget plan instead: `budget_plan`)."""
    return "paper" if device.startswith("cuda") else "quick"


# the loss, the optimiser step and the data take about a quarter more than the network's
# forward and backward that the plan times (the MNIST `quick` table on the AMX Xeon: ~953
# images/s planned, ~790 trained)
OVERHEAD = 1.25


def speed_here(spec, device, compiled: bool) -> tuple[float, str]:
    """(images/s, how it was measured) of a run's network here, compiled where the run is."""
    speed = measure_throughput(spec, device, steps=2, compiled=compiled, seconds=5.0)
    return speed, "compiled, measured here" if compiled else "eager, measured here"


def plan(names, profile, catalog, device, precision, results_dir, compiled=False, seeds=None,
         estimate=True):  # fmt: skip
    """[(experiment, runs, runs to train, reason it cannot run or '')]; prints the plan.
    Speeds are measured here as the runs train (compiling once where they compile: inductor
    caches the kernels for the runs). seeds: seeds 0..seeds-1 instead of the profile's.
    estimate=False (a part of --jobs, whose parent printed the plan): the run lists alone,
    without loading data, measuring speed or printing."""
    out, total_s = [], 0.0
    if not estimate:
        for name in names:
            exp = get_experiment(name)
            runs = exp.runs(profile, precision)
            runs = planner.with_seeds(runs, seeds) if seeds else runs
            out.append((exp, runs, [r for r in runs if not is_done(r, results_dir)], ""))
        return out
    print(f"plan: profile '{profile}' on {device} ({precision}); results in {results_dir}/")
    for name in names:
        exp = get_experiment(name)
        runs = exp.runs(profile, precision)
        if seeds:
            runs = planner.with_seeds(runs, seeds)
        todo = [r for r in runs if not is_done(r, results_dir)]
        name_unreadable(todo, results_dir)
        stale = sum(result_path(r, results_dir).exists() for r in todo)
        reason = ""
        if todo:
            try:
                catalog.load(
                    todo[0].dataset, todo[0].split or "test", **_face_args(todo[0], catalog)
                )
            except DataError as exc:
                reason = str(exc)
        line = f"  {exp.name:<14} {exp.title:<30} {len(runs) - len(todo)}/{len(runs)} runs done"
        if stale:
            line += f" ({stale} saved with other settings: retrained)"
        if reason:
            line += ", cannot run: data missing (see below)"
        elif todo:
            speed, how = speed_here(todo[0], device, compiled)
            images = sum(r.schedule.iterations * r.schedule.batch_size for r in todo)
            seconds = OVERHEAD * images / speed
            total_s += seconds
            line += (f", {len(todo)} to train: ~{seconds / 60:.0f} min at ~{speed:.0f} "
                     f"images/s ({how})")  # fmt: skip
        print(line)
        out.append((exp, runs, todo, reason))
    print(
        f"estimated training time: ~{total_s / 60:.0f} min (the network's measured speed, "
        f"x{OVERHEAD:g} for the loss, optimiser and data; evaluation not included)"
    )
    return out


def name_unreadable(todo, results_dir) -> None:
    """One line for each saved result that cannot be read (its run is trained again)."""
    for spec in todo:
        path = result_path(spec, results_dir)
        if path.exists():
            try:
                read_result(path)
            except ResultError as exc:
                print(f"  {exc}: its run is trained again")


def budget_plan(catalog, device, precision, results_dir, compiled, budget_min, recipe="paper"):
    """With nothing named on a CPU: the candidates of `planner.CPU_CANDIDATES` that fit
    `budget_min` minutes here, each with as many seeds as fit; prints what will run, how long,
    what it can answer at that size, and what is left out (its cost here and on one GPU).
    Returns [(experiment, runs, runs to train, '')] like `plan`."""
    gpu = load_benchmark(GPU_BENCHMARK)
    print(f"plan: `make reproduce` on this CPU ({hardware(device).get('cpu')}, {precision}), "
          f"a budget of {budget_min:.0f} min (BUDGET= to change; PROFILE= or named "
          f"experiments train those instead); results in {results_dir}/")  # fmt: skip
    seconds, done = {}, set()
    candidates = planner.for_recipe(planner.CPU_CANDIDATES, recipe)
    for c in candidates:
        spec = get_experiment(c.experiment).runs(c.profile, precision)[0]
        if c.experiment not in seconds:
            speed, how = speed_here(spec, device, compiled)
            seconds[c.experiment] = (
                OVERHEAD * spec.schedule.iterations * spec.schedule.batch_size / speed
            )
            print(f"  {spec.network}: {speed:.0f} images/s ({how}): "
                  f"~{seconds[c.experiment] / 60:.1f} min a `{c.profile}` run")  # fmt: skip
        runs = planner.with_seeds(get_experiment(c.experiment).runs(c.profile, precision),
                                  c.max_seeds)  # fmt: skip
        done |= {planner.key(r) for r in runs if is_done(r, results_dir)}
    chosen, left = planner.choose(candidates, seconds, budget_min * 60, done, precision)
    print("will train:" if chosen else "will train nothing: no candidate fits the budget here")
    out = []
    for choice in chosen:
        c, runs = choice.candidate, list(choice.runs)
        std = _reference_std(c)
        size = planner.detectable(std, choice.networks_a_head)
        power = (f"detects differences of {size:.2f} points or more between two heads (the "
                 f"reference's between-run std {std:.2f})" if math.isfinite(size) else
                 "what it can detect is unknown: no reference runs of this table to take a "
                 "spread from")  # fmt: skip
        print(f"  {c.experiment} `{c.profile}`: {len(runs)} runs ({choice.networks_a_head} a "
              f"head), ~{choice.seconds / 60:.0f} min here. {c.question} At this size: "
              f"{power}")  # fmt: skip
        todo = [r for r in runs if not is_done(r, results_dir)]
        name_unreadable(todo, results_dir)
        out.append((get_experiment(c.experiment), runs, todo, ""))
    for choice in left:
        c = choice.candidate
        on_gpu = _gpu_minutes(choice.runs, gpu)
        print(f"  left out: {c.experiment} `{c.profile}` at {choice.seeds} seed(s) "
              f"({len(choice.runs)} runs): ~{choice.seconds / 60:.0f} min here, "
              f"{on_gpu} on one GPU")  # fmt: skip
    print(
        "  left out: every other table and profile (`make reproduce PROFILE=paper` on a GPU; "
        "`make reproduce-<experiment> PROFILE=cpu SEEDS=n` for one of them here)"
    )
    return out


def _reference_std(candidate) -> float:
    """The between-run std of the reference's runs of that table, pooled over its heads."""
    results = load_results(candidate.profile, candidate.experiment, RESULTS_DIR)
    return pooled_std([h.values for h in head_runs(results).values()])[0]


def _gpu_minutes(runs, benchmark) -> str:
    if benchmark is None:
        return "not estimated (no GPU benchmark saved)"
    speed = speeds(benchmark).get(runs[0].network)
    if speed is None:
        return "not estimated (network not benchmarked on a GPU)"
    images = sum(r.schedule.iterations * r.schedule.batch_size for r in runs)
    return f"~{images / speed[0] / 60:.0f} min"


def _face_args(spec, catalog: Catalog) -> dict:
    """What loading a face dataset needs besides the split (as the runner loads it)."""
    if catalog.get(spec.dataset).kind != "faces":
        return {}
    return {"shape": make_network(spec.network).input_shape, "min_images": spec.min_images}


def output_dirs(args) -> dict:
    """Where this reproduction's results and tables go: the user's own folder
    (runs/reproduce/), or the project's reference under reports/ with --reference."""
    home = (RESULTS_DIR, TABLES_DIR) if args.reference else (USER_DIR / "results",
                                                             USER_DIR / "tables")  # fmt: skip
    return {"results_dir": args.results_dir or home[0], "tables_dir": args.tables_dir or home[1]}


def cmd_reproduce(args) -> int:
    init_distributed(args.device)
    device = args.device or default_device()
    precision = args.precision or default_precision(device)
    budgeted = not args.experiments and not args.profile and not device.startswith("cuda")
    profile = check_profile(args.profile or default_profile(device))
    # every table and study; the doubling checks (mnist-x2, ...) and the recipe studies only
    # when named; --recipe release: the release's version of each table that has one
    if args.recipe == "release" and not args.experiments:
        names = list(RELEASE_TABLES.values())
    else:
        names = args.experiments or list(DEFAULT_EXPERIMENTS)
    for name in names:
        get_experiment(name)  # unknown names fail before any work
    names = [with_recipe(n, args.recipe) for n in names]
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be 1 or more, got {args.seeds}")
    command = args.command or "python -m paper_repro " + shlex.join(sys.argv[1:])
    if budgeted and args.jobs > 1:
        raise ValueError("--jobs trains named experiments: name them (with --profile and "
                         "--seeds), or leave --jobs out for the budget plan")  # fmt: skip
    catalog = Catalog(args.data_root)
    failed, position = [], 0
    dirs = output_dirs(args)
    compiled = use_compile(args.compile, device)
    # one plan, printed by the parent of --jobs (data checked, speed measured once); its parts
    # only list the runs
    planned = (budget_plan(catalog, device, precision, dirs["results_dir"], compiled,
                           args.budget, args.recipe) if budgeted else
               plan(names, profile, catalog, device, precision, dirs["results_dir"], compiled,
                    args.seeds, estimate=args.part is None))  # fmt: skip
    if args.jobs > 1 and args.part is None and not args.dry_run:
        return run_jobs(args, planned, profile, command)
    for i, (exp, runs, todo, reason) in enumerate(planned):
        if reason:
            print(f"\n{exp.name}: {reason}", file=sys.stderr)
            failed.append(exp.name)
            write_table(exp, runs[0].profile, runs[0].evaluator,
                        missing=f"The data is not available here: {reason}", **dirs)  # fmt: skip
            continue
        if args.dry_run:
            continue
        # parts split the full list, not what is left to do: one that starts after another
        # finished a run must still draw the same runs
        mine = {r.run_id for i, r in enumerate(runs, start=position)
                if args.part is None or i % args.jobs == args.part}  # fmt: skip
        position += len(runs)
        for spec in (r for r in todo if r.run_id in mine):
            if is_done(spec, dirs["results_dir"]):
                continue  # an earlier part of the plan trained it (plans may share runs)
            train_run(spec, catalog=catalog, device=device, runs_dir=args.runs_dir,
                      results_dir=dirs["results_dir"], command=command,
                      progress=not args.no_progress, compile_net=compiled)  # fmt: skip
        # a plan may train one table in two parts: its table is written after the last
        last = exp.name not in {e.name for e, *_ in planned[i + 1 :]}
        if args.part is None and not args.dry_run and last:
            print(f"table: {write_table(exp, runs[0].profile, runs[0].evaluator, **dirs)}")
    if args.part is None and not args.dry_run and not args.reference:
        compare(planned, dirs["results_dir"])
    return 2 if failed and args.experiments else 0


def compare(planned, results_dir: Path) -> Path | None:
    """Prints, and writes beside the user's results, each cell trained here beside the
    reference's and the paper's, with the test of agreement with the reference."""
    user = {(runs[0].profile, exp.name): load_results(runs[0].profile, exp.name, results_dir)
            for exp, runs, _, reason in planned if not reason}  # fmt: skip
    user = {k: v for k, v in user.items() if v}
    if not user:
        return None
    table = agreement.lines(agreement.rows(user, RESULTS_DIR))
    path = Path(results_dir).parent / "comparison.md"
    text = "\n".join([
        "# Your runs beside the reference and the paper", "",
        "Yours: trained by `make reproduce` into this folder. Reference: the results committed "
        "under `reports/results/`. *agrees*: your mean lies inside the 95% range that the "
        "reference's seeds predict for a mean of as many runs as yours; *differs*: outside "
        "it (another machine, precision or torch can move a number by its rounding; a "
        "difference far beyond the seeds' spread is worth a look). Diverged runs are left "
        "out on both sides.", "", *table, ""])  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(text)
    print("\n".join(["", *table, "", f"comparison: {path}"]))
    return path


def run_jobs(args, planned, profile, command) -> int:
    """--jobs N: N processes of this command at once, process k training the k-th, (k+N)-th,
    ... run of the experiments' list where not done yet (one GPU has room for several of these
    small networks, and one process leaves it idle between its kernels); the tables are
    written once all have ended. `planned` is this process's plan: the parts train the
    experiments whose data it found, without planning again.
    An interrupt stops them all; each resumes from its last checkpoint."""
    dirs = output_dirs(args)
    for exp, runs, _, reason in planned:
        if reason:
            print(f"\n{exp.name}: {reason}", file=sys.stderr)
            write_table(exp, runs[0].profile, runs[0].evaluator,
                        missing=f"The data is not available here: {reason}", **dirs)  # fmt: skip
    ready = [(exp, runs) for exp, runs, _, reason in planned if not reason]
    argv = [sys.executable, "-m", "paper_repro", "reproduce", *(e.name for e, _ in ready),
            "--profile", profile, "--command", command, "--jobs", str(args.jobs),
            "--no-progress", "--results-dir", str(dirs["results_dir"]),
            "--tables-dir", str(dirs["tables_dir"]),
            *(["--seeds", str(args.seeds)] if args.seeds else []),
            *(f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
              if k in ("data_root", "device", "precision", "compile", "runs_dir")
              and v is not None)]  # fmt: skip
    procs = [subprocess.Popen([*argv, "--part", str(k)]) for k in range(args.jobs)] if ready else []
    try:
        codes = [p.wait() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
    for exp, runs in ready:
        write_table(exp, profile, runs[0].evaluator, **dirs)
    if not args.reference:
        compare([(exp, runs, [], "") for exp, runs in ready], dirs["results_dir"])
    missing = len(ready) < len(planned) and args.experiments
    return max([*codes, 2 if missing else 0])


def parse_hyper(head: str, pairs: list[str]) -> dict:
    """["m=4", "s=30"] -> {"m": 4, "s": 30.0}, each in the kind the head declares."""
    declared = {h.name: h for h in head_class(head).hypers}
    hyper = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in declared:
            raise ValueError(
                f"--hyper takes NAME=VALUE with NAME one of {', '.join(declared) or 'none'} "
                f"for head {head!r}, got {pair!r}"
            )
        hyper[key] = declared[key].parse(value)
    return hyper


def cmd_train(args) -> int:
    task = args.task or ("verify" if (args.network or "").startswith("face-") else "classify")
    if args.task is None and task == "verify":
        print(f"network {args.network} is a face network: training for verification "
              "(TASK=verify); TASK=classify to classify the folder's classes")  # fmt: skip
    if task == "verify":
        return _train_verification(args)
    if args.pairs or args.box:
        raise ValueError("--pairs and --box are for TASK=verify (a folder of people)")
    device = args.device or default_device()
    paths = [args.data, args.labels, args.test_data, args.test_labels]
    if args.labels:
        given = [str(Path(p).expanduser().absolute()) for p in paths if p]
        if len(given) not in (2, 4):
            raise ValueError("IDX data needs --labels, and --test-data with --test-labels")
        name = "idx:" + ",".join(given)
    else:
        name = user.dataset_name(args.data)
    catalog = Catalog(args.data_root)
    train = catalog.load(name, "train")
    shape = tuple(train.images.shape[1:])
    network = args.network or network_for(shape)
    takes = make_network(network).input_shape
    if tuple(takes) != shape:
        raise ValueError(
            f"network {network} takes {'x'.join(map(str, takes))} images, the data has "
            f"{'x'.join(map(str, shape))}: resize the images or name another network (faces: "
            "TASK=verify converts any image to the network's input)"
        )
    spec = user_run(
        name,
        network,
        args.head,
        parse_hyper(args.head, args.hyper),
        args.profile,
        args.seed,
        args.precision or default_precision(device),
        args.lambda_min,
    )
    lam = spec.head.kwargs.get("lam")
    floor = (f", lambda floor {lam.lam_min:g} (set by LAMBDA_MIN=)"
             if isinstance(lam, LambdaSchedule) else "")  # fmt: skip
    print(f"{spec.name}: {len(train)} training images of {len(train.classes)} classes, "
          f"network {network}, {spec.schedule.iterations} iterations ({spec.profile})"
          f"{floor}")  # fmt: skip
    result = _train(spec, args, catalog, device)
    if result is not None and not result.get("diverged"):
        print(f"test error {result['metrics']['test_error']:.2f}%: "
              f"{result_path(spec, args.results_dir)}")  # fmt: skip
    return 0


def _train(spec, args, catalog, device) -> dict | None:
    """Train `spec` unless its result exists (then None, said)."""
    if is_done(spec, args.results_dir):
        print(f"done already: {result_path(spec, args.results_dir)}")
        return None
    command = args.command or "python -m paper_repro " + shlex.join(sys.argv[1:])
    return train_run(spec, catalog=catalog, device=device, runs_dir=args.runs_dir,
                     results_dir=args.results_dir, command=command,
                     progress=not args.no_progress,
                     compile_net=use_compile(args.compile, device))  # fmt: skip


def _train_verification(args) -> int:
    """TASK=verify: a folder of people (paper_repro.data.own_faces) trains the network on
    some of them and is tested on pairs of the others: 10-fold accuracy, ROC, TAR."""
    if args.labels:
        raise ValueError("TASK=verify takes a folder with one sub-folder per person, not IDX")
    device = args.device or default_device()
    name = own_faces.dataset_name(args.data, args.pairs, args.box)
    network = args.network or "face-quick"
    spec = user_faces_run(name, network, args.head, parse_hyper(args.head, args.hyper),
                          args.profile, args.seed,
                          args.precision or default_precision(device))  # fmt: skip
    c, h, w = make_network(network).input_shape
    # the people and pairs are known once the runner has read the folder: said after it
    print(f"{spec.name}: images converted to {'luma' if c == 1 else 'RGB'} {w}x{h} (the input "
          f"of network {network}) from "
          f"{'box ' + args.box if args.box else 'the largest centred box of that shape'}; "
          f"{spec.schedule.iterations} iterations of batch {spec.schedule.batch_size} "
          f"({spec.profile})")  # fmt: skip
    result = _train(spec, args, Catalog(args.data_root), device)
    path = result_path(spec, args.results_dir)
    result = result or read_result(path)
    if result.get("diverged"):
        return 0  # said in one line when it happened; the result records it
    print(f"{result['faces']['split']}; {result['faces']['test']}")
    m = result["metrics"]
    roc = fig7_roc([result], [path], path.with_name(path.stem + "-roc"), result["command"])
    folds = list(m["fold_accuracy"].values())
    std = statistics.stdev(folds) if len(folds) > 1 else 0.0
    tar = (f"TAR {m['tar_at_far']:.1f}% at FAR {m['far']:g}" if m["far"] >= m["far_resolution"]
           else f"TAR at FAR {m['far']:g} not resolved (too few mismatched pairs: the lowest "
                f"FAR they resolve is {m['far_resolution']:.2g})")  # fmt: skip
    print(f"verification accuracy {m['accuracy']:.2f} ± {std:.2f}% over {len(folds)} folds, "
          f"{tar}: {path}; ROC: {roc[0]}")  # fmt: skip
    return 0


def cmd_tables(args) -> int:
    for profile in [args.profile] if args.profile else PROFILES:
        for exp in EXPERIMENTS.values():
            if (args.results_dir / profile / exp.name).exists():
                path = write_table(
                    exp,
                    profile,
                    exp.runs(profile)[0].evaluator,
                    results_dir=args.results_dir,
                    tables_dir=args.tables_dir,
                )
                if path:
                    print(path)  # fmt: skip
    return 0


def cmd_figures(args) -> int:
    for path in make_figures(args.results_dir, args.figures_dir, command="make figures"):
        print(path)
    return 0


def cmd_report(args) -> int:
    for path in write_report(args.results_dir, args.figures_dir, args.out, command="make report"):
        print(path)
    return 0


def _output_options(parser) -> None:
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="results JSON")
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR, help="markdown tables")
    parser.add_argument("--figures-dir", type=Path, default=FIGURES_DIR)


def _run_options(parser) -> None:
    parser.add_argument("--data-root", help="data folder (default $PAPER_REPRO_DATA or ./data)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help="network precision (default: bf16 where the hardware computes it natively: CUDA "
        "GPUs, CPUs with AMX-BF16 or AVX512-BF16; fp32 elsewhere)",
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "on", "off"),
        default=os.environ.get("PAPER_REPRO_COMPILE", "auto"),
        help="torch.compile the network (auto: where a C compiler or CUDA is present; falls "
        "back to eager if compiling fails; recorded in the results; default "
        "$PAPER_REPRO_COMPILE or auto)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--command", help="the command to record in the results (Makefile)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="checkpoints")  # fmt: skip


def main(argv=None) -> int:
    # Large-margin logits give probabilities below float32's normal range, and CPU matmuls over
    # subnormals run up to 40x slower; flushing must happen before the first parallel op to
    # reach the OpenMP workers (measured in reports/benchmarks). No effect on CUDA.
    torch.set_flush_denormal(True)
    parser = argparse.ArgumentParser(
        prog="python -m paper_repro",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command_name", required=True)
    rep = sub.add_parser("reproduce", help="train the runs not done yet and write the tables")
    tables = ", ".join(DEFAULT_EXPERIMENTS)
    rep.add_argument(
        "experiments", nargs="*", help=f"default: {tables} (the doubling checks when named)"
    )
    rep.add_argument(
        "--profile", help=f"one of {', '.join(PROFILES)}; default paper on a GPU, quick on CPU"
    )
    rep.add_argument("--dry-run", action="store_true", help="print the plan only")
    rep.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("PAPER_REPRO_JOBS", "1")),
        help="train N runs at once in N processes (for a GPU; default 1)",
    )
    rep.add_argument("--part", type=int, help=argparse.SUPPRESS)  # set by --jobs
    rep.add_argument("--seeds", type=int, help="seeds 0..N-1 instead of the profile's")
    rep.add_argument(
        "--recipe",
        choices=RECIPES,
        default="paper",
        help="paper: the papers' text (default); release: the authors' released Caffe set-up "
        "for MNIST and CIFAR-10(+) (paper_repro/recipes.py), as the tables *-release",
    )
    rep.add_argument(
        "--budget",
        type=float,
        default=planner.BUDGET_MINUTES,
        help="minutes the default plan on a CPU may train (default %(default)g)",
    )
    rep.add_argument(
        "--reference",
        action="store_true",
        help="write into the project's reference, reports/results and reports/tables "
        "(maintainers); default: your own runs/reproduce/",
    )
    _run_options(rep)
    rep.add_argument("--results-dir", type=Path, help="default: runs/reproduce/results")
    rep.add_argument("--tables-dir", type=Path, help="default: runs/reproduce/tables")
    rep.set_defaults(func=cmd_reproduce)
    tr = sub.add_parser("train", help="train one head on your own data (classes or faces)")
    tr.add_argument("--data", required=True,
                    help="a folder with one sub-folder per class (optionally train/ and test/), "
                    "or an IDX images file (with --labels)")  # fmt: skip
    tr.add_argument("--labels", help="IDX labels file of --data")
    tr.add_argument("--test-data", help="IDX test images (default: every 5th image held out)")
    tr.add_argument("--test-labels", help="IDX test labels")
    tr.add_argument("--head", default=BASELINE, help="a registered head (paper_repro.losses)")
    tr.add_argument("--hyper", action="append", default=[], help="NAME=VALUE, e.g. m=4")
    tr.add_argument("--network", help="default: the Table-1 network for the image size")
    tr.add_argument("--profile", default="quick", help=f"schedule: one of {', '.join(PROFILES)}")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--lambda-min", type=float,
                    help="lsoftmax, asoftmax: the lambda floor (default: at least "
                    f"{USER_LAM_MIN:g}; 0 is the original code's decay to 0)")  # fmt: skip
    tr.add_argument("--results-dir", type=Path, default=RUNS_DIR / "results")
    tr.add_argument(
        "--task",
        choices=("classify", "verify"),
        help="classify the folder's classes, or verify: one sub-folder per person, tested on "
        "pairs of people held out (default: verify for a face- network, else classify)",
    )
    tr.add_argument("--pairs", help="verify: an LFW-format pairs file (default: drawn pairs)")
    tr.add_argument("--box", help="verify: X0,Y0,X1,Y1 to cut from every image (default: centred)")
    _run_options(tr)
    tr.set_defaults(func=cmd_train)
    tab = sub.add_parser("tables", help="rewrite reports/tables from saved results")
    tab.add_argument("--profile")
    _output_options(tab)
    tab.set_defaults(func=cmd_tables)
    fig = sub.add_parser("figures", help="render reports/figures from saved results")
    _output_options(fig)
    fig.set_defaults(func=cmd_figures)
    rep_doc = sub.add_parser("report", help="write reports/REPORT.md from saved results")
    _output_options(rep_doc)
    rep_doc.add_argument("--out", type=Path, default=REPORT_PATH)
    rep_doc.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, DataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
