"""The saved results the figure tests share."""

from __future__ import annotations

import pytest

from paper_repro.results import write_result
from tests.report.fakes import result_path
from tests.report.figure_fakes import fake_result, run_name


@pytest.fixture
def results_dir(tmp_path):
    """quick/mnist: softmax x3 seeds (angles near 21 deg), lsoftmax m=2 x3 (near 7 deg),
    m=4 x1; m=3 has no results."""
    root = tmp_path / "results"
    for head, margin, errors, peak in (
        ("softmax", None, [1.0, 1.2, 1.7], 10),
        ("lsoftmax", 2, [0.8, 0.9, 1.0], 3),
        ("lsoftmax", 4, [0.7], 3),
    ):
        for seed, err in enumerate(errors):
            path = result_path("quick", "mnist", run_name(head, margin, seed), root)
            write_result(path, fake_result(head, margin, seed, err, peak=peak))
    return root
