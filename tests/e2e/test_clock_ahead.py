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
# Two pytest-xdist workers, each with its own server: CI has two cores.
SUITES = ["tests/unit", "tests/integration/models", "tests/integration/quality",
          "tests/integration/alerts"]  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime package")
def test_date_pinned_suites_pass_with_the_clock_a_year_ahead(tmp_path: Path) -> None:
    env = {**os.environ, "FAKETIME_DONT_RESET": "1"}
    probe = subprocess.run(
        ["faketime", "-f", "+365d", sys.executable, "-c",
         "import datetime; print(datetime.date.today().toordinal())"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    import datetime

    shift = int(probe.stdout) - datetime.date.today().toordinal()
    assert shift >= 364, f"faketime shifted the clock by {shift} days, not a year"
    # --basetemp: a pytest that makes its own under /tmp/pytest-of-<user> sets that
    # directory to 0700, and the servers that other workers of this session run
    # there as another user (under root) lose their data directory mid-test.
    run = subprocess.run(
        ["faketime", "-f", "+365d", sys.executable, "-m", "pytest", "-q", "-x",
         "-p", "no:cacheprovider", "-n", "2", "--basetemp", str(tmp_path / "inner"),
         *SUITES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout, run.stdout[-2000:]
