"""The GPU check script stays runnable: on the CPU it measures and prints its table (of the
demo perceptor's tiny architecture here; on a card, ViT-B-32 unless told otherwise)."""

import re
import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def run_script(monkeypatch, *args):
    """Run tools/gpu_check.py with args as its command line."""
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    runpy.run_path(str(SCRIPT), run_name="__main__")


def test_the_gpu_check_prints_its_table_on_the_cpu(capsys, monkeypatch):
    args = ["--device", "cpu", "--model", "demo", "--size", "32", "--cutouts", "2", "--steps", "3"]
    run_script(monkeypatch, *args, "--precisions", "fp32")
    out = capsys.readouterr().out
    assert "pytti_nb GPU check: CPU" in out and "| configuration | step ms |" in out
    assert "demo (random weights), 32x32, 2 cutouts" in out
    row = re.search(r"\| fp32 \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d)x \|", out)
    assert row and all(float(v) > 0 for v in row.groups()), out


def test_the_gpu_check_measures_vit_b_32_unless_told_otherwise(capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        run_script(monkeypatch, "--help")
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--model MODEL open_clip model (default ViT-B-32)" in help_text, help_text
