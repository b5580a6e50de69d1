"""Guard: the suites that hold fixed dates pass with the machine's clock a year ahead.

A test that pins its data to a literal date and then lets the code read the
real clock for a look-back window passes only until that date ages out of the
window (issue: promotion gates failing from 2026-11-28). libfaketime shifts
the clock of pytest and of the PostgreSQL server it starts; every such test
must take "now" from the data (an injected clock) to pass here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The partitions tests pass `now` to every call; they stay out because
# lock_timeout never fires in a server under libfaketime (the test would hang).
# Two groups run at once, each pytest with its own server: one pytest is one
# core, and CI has two (65 s instead of 117 on a 2-core machine).
GROUPS = [
    ["tests/unit"],
    ["tests/integration/models", "tests/integration/quality", "tests/integration/alerts"],
]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime package")
def test_date_pinned_suites_pass_with_the_clock_a_year_ahead() -> None:
    env = {**os.environ, "FAKETIME_DONT_RESET": "1"}
    cmd = ["faketime", "-f", "+365d", sys.executable, "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider"]  # fmt: skip
    probe = subprocess.run(
        ["faketime", "-f", "+365d", sys.executable, "-c",
         "import datetime; print(datetime.date.today().toordinal())"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    import datetime

    shift = int(probe.stdout) - datetime.date.today().toordinal()
    assert shift >= 364, f"faketime shifted the clock by {shift} days, not a year"
    runs = [
        subprocess.Popen(
            [*cmd, *group],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for group in GROUPS
    ]
    try:
        outputs = [run.communicate(timeout=600) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    for group, run, (out, err) in zip(GROUPS, runs, outputs, strict=True):
        assert run.returncode == 0, f"{group}:\n{out[-4000:]}{err[-2000:]}"
