"""One formatter and one linter for the whole tree: ruff, configured in pyproject.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args):
    """Run ruff from this environment over the repository; returns the completed process."""
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_tree_is_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, "run `make format`:\n" + result.stdout + result.stderr


def test_tree_passes_the_linter():
    result = ruff("check", ".")
    assert result.returncode == 0, "run `make format`:\n" + result.stdout + result.stderr
