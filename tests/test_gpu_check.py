"""The GPU check script stays runnable: on the CPU it measures and prints its table."""

import re
import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def test_the_gpu_check_prints_its_table_on_the_cpu(capsys, monkeypatch):
    args = ["--device", "cpu", "--size", "32", "--cutouts", "2", "--steps", "1"]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args, "--precisions", "fp32"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "pytti_nb GPU check: CPU" in out and "| configuration | step ms |" in out
    row = re.search(r"\| fp32 \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d)x \|", out)
    assert row and all(float(v) > 0 for v in row.groups()), out
