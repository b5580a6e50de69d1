"""CLI output in a pipe (80 columns): one batch reads top to bottom, ids are never cut."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

BATCH_ID = "nightly-export.2026-11-21.transaction_logs.part-0007"


def test_check_and_models_list_read_at_80_columns(cli_external, tmp_path):
    cli_external.env.pop("COLUMNS", None)  # a pipe: rich falls back to 80
    path = tmp_path / "b.jsonl"
    path.write_text(
        "".join(
            f'{{"id": "r{i}", "timestamp": "2026-11-21T10:00:00Z", "data": {{"value": {i}}}}}\n'
            for i in range(5)
        )
    )
    check = cli_external.run(
        "quality", "check", str(path), "--source", "transaction_logs", "--store",
        "--batch-id", BATCH_ID,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    lines = [line.strip() for line in check.stdout.splitlines()]
    assert f"batch         {BATCH_ID}" in lines  # vertical: key, then the whole id
    assert any(line.startswith("completeness") for line in lines)
    assert "…" not in check.stdout
    # no rules stored for this source: the seed's defaults, and the output says so
    assert "no rules stored for source transaction_logs: the default rules applied" in (
        " ".join(check.stdout.split())
    )
    assert any(line.startswith("completeness") and "(record level)" in line for line in lines)
    assert cli_external.run("demo", "--setup-only").returncode == 0
    listed = cli_external.run("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "demo.missing" in listed.stdout and "demo.spike" in listed.stdout
    assert "…" not in listed.stdout
    assert "entrypoint, reads left out at 80 columns" in listed.stderr
    batches = cli_external.run("batches", "list")
    assert batches.returncode == 0 and "…" not in batches.stdout
