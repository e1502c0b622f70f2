"""Command line behind the Makefile.

    python -m paper_repro reproduce [EXPERIMENT ...] [--profile quick] [--data-root DIR]
    python -m paper_repro tables [--profile quick]
    python -m paper_repro features [STUDY ...] [--profile quick]
    python -m paper_repro figures
    python -m paper_repro report

`reproduce` prints its plan and an estimated time, trains every missing cell (finished cells
are reused, interrupted ones resume from their checkpoint), then writes the tables; the
experiment `lfw` is the face-verification table. `features` trains the 2-D feature studies
behind figures 1 and 4. `figures` and `report` only read saved results."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from paper_repro import face, visual
from paper_repro.data import DataError, load_dataset
from paper_repro.experiments import EXPERIMENTS, PROFILES, cells, check_profile, get_experiment
from paper_repro.models import make_network
from paper_repro.report.document import REPORT_PATH, write_report
from paper_repro.report.figures import FIGURES_DIR, make_figures
from paper_repro.report.tables import TABLES_DIR, write_table
from paper_repro.results import RESULTS_DIR, result_path
from paper_repro.train import RUNS_DIR, train_cell


def default_device() -> str:
    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"


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


def default_profile(device: str) -> str:
    return "paper" if device.startswith("cuda") else "quick"


def measure_throughput(network: str, device: str, batch_size: int, steps: int = 1) -> float:
    """Training images/s of `network` on random data, for the time estimate only."""
    net = make_network(network).to(device)
    shape = net.spec.in_channels, net.spec.image_size, net.spec.image_size
    x = torch.randn(batch_size, *shape, device=device)
    net(x).sum().backward()  # warm-up
    tick = time.perf_counter()
    for _ in range(steps):
        net(x).sum().backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - tick)


def _plan(names, profile, data_root, device, results_dir):
    """[(experiment, missing cells, reason it cannot run or '')] and prints the plan."""
    plan, total_s = [], 0.0
    print(f"plan: profile '{profile}' on {device}; results in {results_dir}/{profile}/")
    for name in names:
        exp = get_experiment(name)
        todo = [
            c
            for c in cells(exp, profile)
            if not result_path(profile, exp.name, c.run_id, results_dir).exists()
        ]
        reason = ""
        if todo:
            try:
                load_dataset(exp.dataset, "test", data_root)
            except DataError as exc:
                reason = str(exc)
        n = len(cells(exp, profile))
        line = f"  {exp.name:<14} {exp.label:<28} {n - len(todo)}/{n} cells done"
        if reason:
            line += ", cannot run: data missing (see below)"
        elif todo:
            sched = todo[0].schedule
            speed = measure_throughput(exp.network, device, sched.batch_size)
            seconds = len(todo) * sched.iterations * sched.batch_size / speed
            total_s += seconds
            line += f", {len(todo)} to train: ~{seconds / 60:.0f} min at ~{speed:.0f} images/s"
        print(line)
        plan.append((exp, todo, reason))
    print(f"estimated training time: ~{total_s / 60:.0f} min (evaluation not included)")
    return plan


def cmd_reproduce(args) -> int:
    init_distributed(args.device)
    device = args.device or default_device()
    profile = check_profile(args.profile or default_profile(device))
    explicit = bool(args.experiments)
    names = args.experiments or [*EXPERIMENTS, face.EXPERIMENT]
    with_lfw = face.EXPERIMENT in names
    names = [n for n in names if n != face.EXPERIMENT]
    for name in names:
        get_experiment(name)  # unknown names fail before any work
    command = args.command or "python -m paper_repro " + shlex.join(sys.argv[1:])
    failed = []
    dirs = {"results_dir": args.results_dir, "tables_dir": args.tables_dir}
    for exp, todo, reason in _plan(names, profile, args.data_root, device, args.results_dir):
        if reason:
            print(f"\n{exp.name}: {reason}", file=sys.stderr)
            failed.append(exp.name)
            write_table(exp, profile, missing=f"The data is not available here: {reason}", **dirs)
            continue
        if args.dry_run:
            continue
        for cell in todo:
            train_cell(
                cell,
                data_root=args.data_root,
                device=device,
                runs_dir=args.runs_dir,
                results_dir=args.results_dir,
                command=command,
                progress=not args.no_progress,
            )
        print(f"table: {write_table(exp, profile, **dirs)}")
    if with_lfw and not args.dry_run:
        try:
            table = face.run_lfw(profile, data_root=args.data_root, device=device,
                                 runs_dir=args.runs_dir, command=command,
                                 progress=not args.no_progress, **dirs)  # fmt: skip
            print(f"table: {table}")
        except DataError as exc:
            print(f"\nlfw: {exc}", file=sys.stderr)
            failed.append(face.EXPERIMENT)
    if failed and explicit:
        return 2
    return 0


def cmd_tables(args) -> int:
    for profile in [args.profile] if args.profile else PROFILES:
        for exp in EXPERIMENTS.values():
            if (args.results_dir / profile / exp.name).exists():
                print(
                    write_table(
                        exp,
                        check_profile(profile),
                        results_dir=args.results_dir,
                        tables_dir=args.tables_dir,
                    )
                )
        if (args.results_dir / profile / face.EXPERIMENT).exists():
            print(face.write_lfw_table(profile, args.results_dir, args.tables_dir))
    return 0


def cmd_features(args) -> int:
    device = args.device or default_device()
    for name in args.studies or list(visual.STUDIES):
        visual.get_study(name)
    for name in args.studies or list(visual.STUDIES):
        for path in visual.train_study(name, args.profile, out_dir=args.features_dir,
                                       data_root=args.data_root, device=device,
                                       command=args.command or "make features",
                                       progress=not args.no_progress):  # fmt: skip
            print(path)
    return 0


def cmd_figures(args) -> int:
    for path in make_figures(args.results_dir, args.features_dir, args.figures_dir,
                             command="make figures"):  # fmt: skip
        print(path)
    return 0


def cmd_report(args) -> int:
    print(write_report(args.results_dir, args.features_dir, args.figures_dir, args.out,
                       command="make report"))  # fmt: skip
    return 0


def _output_options(parser) -> None:
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="results JSON")
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR, help="markdown tables")
    parser.add_argument("--features-dir", type=Path, default=visual.FEATURES_DIR)
    parser.add_argument("--figures-dir", type=Path, default=FIGURES_DIR)


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
    rep = sub.add_parser("reproduce", help="train missing cells and write the tables")
    rep.add_argument("experiments", nargs="*", help=f"default: all of {', '.join(EXPERIMENTS)}")
    rep.add_argument(
        "--profile", help=f"one of {', '.join(PROFILES)}; default paper on a GPU, quick on CPU"
    )
    rep.add_argument("--data-root", help="data folder (default $PAPER_REPRO_DATA or ./data)")
    rep.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    rep.add_argument("--dry-run", action="store_true", help="print the plan only")
    rep.add_argument("--no-progress", action="store_true", help="no progress bars")
    rep.add_argument("--command", help="the command to record in the results (Makefile sets it)")
    rep.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="checkpoints")
    _output_options(rep)
    rep.set_defaults(func=cmd_reproduce)
    tab = sub.add_parser("tables", help="rewrite reports/tables from saved results")
    tab.add_argument("--profile")
    _output_options(tab)
    tab.set_defaults(func=cmd_tables)
    feat = sub.add_parser("features", help="train the 2-D feature studies (figures 1 and 4)")
    feat.add_argument("studies", nargs="*", help=f"default: all of {', '.join(visual.STUDIES)}")
    feat.add_argument("--profile", default="quick", choices=visual.VISUAL_PROFILES)
    feat.add_argument("--data-root", help="data folder (default $PAPER_REPRO_DATA or ./data)")
    feat.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    feat.add_argument("--no-progress", action="store_true", help="no progress bars")
    feat.add_argument("--command", help="the command to record with the features")
    feat.add_argument("--features-dir", type=Path, default=visual.FEATURES_DIR)
    feat.set_defaults(func=cmd_features)
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
