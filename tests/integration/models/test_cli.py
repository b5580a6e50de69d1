"""`pgwarden models ...` run as the installed command against this test's database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def pgwarden(conninfo: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "pgwarden"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGWARDEN_"))}
    env.update(PGWARDEN_DSN=conninfo, COLUMNS="200", PYTHONPATH=str(ROOT))
    return subprocess.run([*cmd, "models", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


def test_cli_registers_runs_explains_and_compares(db_conninfo, services):
    from pgwarden.demo.models import register_demo_models

    register_demo_models(services)
    ran = pgwarden(db_conninfo, "run-cycle", "--demo", "--cycle-id", "cli-1", "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["status"] == "OK" and report["counts"]["OK"] == 4

    dot = pgwarden(db_conninfo, "graph", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert '"demo.spike" -> "demo.risk" [label="spikes"];' in dot.stdout

    cmp = pgwarden(db_conninfo, "compare", "demo.spike", "--since", "7d", "--json")
    assert cmp.returncode == 0, cmp.stderr
    cand = json.loads(cmp.stdout)["candidates"][0]
    assert cand["version"] == "v2" and cand["cycles"] == 1 and cand["coverage"] == 1.0

    bad = pgwarden(db_conninfo, "add-dependency", "demo.spike", "demo.risk", "-k", "loop")
    assert bad.returncode == 1
    assert "demo.spike -> demo.risk -> demo.spike" in bad.stderr.replace("\n", " ")
