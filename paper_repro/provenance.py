"""Where a number came from: commit, software and hardware, recorded with every result."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """HEAD's hash, with '-dirty' when tracked files outside reports/ differ from it. reports/
    holds outputs, not code: a command that rewrites its committed results, tables or figures
    one run at a time must not mark its own later runs dirty. A copy of a clean checkout sent
    to another machine (a GPU) names its commit in $PAPER_REPRO_COMMIT, which wins: such a copy
    may carry a stale .git (seen: the .git of an older commit under the sent tree)."""
    named = os.environ.get("PAPER_REPRO_COMMIT")
    if named:
        return f"{named} (named by $PAPER_REPRO_COMMIT)"
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_native(device: str | torch.device = "cpu") -> bool:
    """Whether the device computes bf16 in hardware: a CUDA GPU that supports it, or a CPU
    with AMX-BF16 or AVX512-BF16. Elsewhere (an AVX2 CPU) bf16 is emulated and slower than
    float32, so runs default to float32 there."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def hardware(device: str | torch.device = "cpu") -> dict:
    device = torch.device(device)
    info = {
        "device": device.type,
        "cpu": cpu_name(),
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_native": bf16_native(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def software() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }


def describe(device: str | torch.device = "cpu") -> dict:
    return {"commit": git_commit(), "software": software(), "hardware": hardware(device)}
