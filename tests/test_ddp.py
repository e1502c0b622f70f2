"""DistributedDataParallel under torchrun on CPU (gloo, 2 processes) against a single process.

Both draw the same global batches; DDP averages the two shards' gradients, which equals the
full-batch gradient except for batch norm, whose statistics are per shard on CPU. So the
runs agree closely but not bit for bit: the test requires the DDP run to be much closer to the
single-process run with the same seed than that run is to one with another seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from paper_repro.provenance import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from paper_repro.__main__ import init_distributed
    from paper_repro.data import Catalog
    from paper_repro.experiments import get_experiment
    from paper_repro.runner import train_run

    init_distributed("cpu")
    out, seed = Path(sys.argv[1]), int(sys.argv[3])
    [spec] = [r for r in get_experiment("mnist").runs("smoke")
              if r.run_id == f"lsoftmax-m2-seed0"]
    spec = spec.__class__(**{**spec.__dict__, "seed": seed})
    result = train_run(spec, catalog=Catalog(sys.argv[2]), runs_dir=out / "runs",
                       results_dir=out / "results", progress=False)
    print("RESULT", json.dumps({"world": result["provenance"]["world_size"],
                                "loss": result["curves"]["train_loss"]}))
    """
)


def train(tmp_path, name, nproc, seed=0):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [sys.executable, *(launcher if nproc > 1 else []), str(script),
           str(tmp_path / name), str(SHARED_DATA), str(seed)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    return result["world"], np.array(result["loss"])


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs ../shared/data/mnist")
def test_two_process_gloo_ddp_matches_single_process(tmp_path):
    world, ddp = train(tmp_path, "ddp", nproc=2)
    assert world == 2
    _, single = train(tmp_path, "single", nproc=1)
    _, other_seed = train(tmp_path, "other", nproc=1, seed=1)
    gap_ddp = np.max(np.abs(ddp - single) / single)
    gap_seed = np.max(np.abs(other_seed - single) / single)
    print(f"relative loss gap: DDP {gap_ddp:.4f}, other seed {gap_seed:.4f}")
    assert gap_ddp < 0.05, (ddp, single)
    assert gap_ddp < gap_seed / 3, (gap_ddp, gap_seed)
