"""scipy and numpy load when the detectors first run, not when pgwarden.quality is imported."""

import subprocess
import sys


def test_importing_quality_loads_neither_scipy_nor_numpy():
    code = (
        "import sys, pgwarden.quality, pgwarden.quality.anomaly, pgwarden.quality.hooks\n"
        "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
