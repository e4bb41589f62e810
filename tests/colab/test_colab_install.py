"""The notebook's own install line, resolved against Colab's package versions: it adds only what
Colab lacks and changes nothing Colab ships (on Colab an upgrade of a package the kernel has
imported means restarting the runtime before anything works).

Runs in the Colab-like environment (tools/colab_env.sh), before pytti-nb is installed there:
Colab's packages are installed at Colab's versions, so pip keeps them, as on Colab, and its dry
run (`--dry-run --report`, constraints from tools/colab/pip-freeze.gpu.txt) lists only what the
line would add or change; no torch is downloaded.
"""

import importlib.util
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

pytestmark = pytest.mark.colab_env

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "tools" / "colab" / "versions.py"
# What Colab lacks and pytti-nb needs; anything else new is a decision to make, not a drift.
ADDITIONS = {"pytti-nb", "open-clip-torch", "ftfy"}


def colab_versions():
    """tools/colab/versions.py, loaded from its file."""
    spec = importlib.util.spec_from_file_location("colab_versions", VERSIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Installed(Exception):
    """Raised by the recording pip run, to stop the setup cell there."""


def setup_cell_install(monkeypatch) -> tuple[list[str], str]:
    """The pip command the setup cell runs on Colab before pytti-nb is installed, and its
    PACKAGE_SOURCE: the cell is run here up to that command, with google.colab stood in."""
    notebook = json.loads((ROOT / "pyttitools.ipynb").read_text())
    (source,) = [
        "".join(c["source"])
        for c in notebook["cells"]
        if c["cell_type"] == "code" and "prepare_notebook" in "".join(c["source"])
    ]
    ran = []

    def pip(argv, **kwargs):
        ran.append(list(argv))
        raise _Installed

    find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", pip)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pytti_nb" else find_spec(name, *a),
    )
    namespace = {}
    with pytest.raises(_Installed):
        exec(compile(source, "setup cell", "exec"), namespace)
    monkeypatch.undo()
    (argv,) = ran
    return argv, namespace["PACKAGE_SOURCE"]


def test_the_setup_cells_install_changes_nothing_colab_ships(monkeypatch, tmp_path):
    versions = colab_versions()
    argv, package_source = setup_cell_install(monkeypatch)
    assert argv[1:4] == ["-m", "pip", "install"] and argv[-1].endswith(f" @ {package_source}")
    requirement = argv[-1].replace(package_source, f"file://{ROOT}")
    constraints = tmp_path / "colab.txt"
    constraints.write_text(versions.constraints())
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--report", str(report)]
    command += ["-c", str(constraints), *argv[4:-1], requirement]
    pip = subprocess.run(command, capture_output=True, text=True, timeout=600)
    held = re.findall(r"The user requested \(constraint\) ([\w.-]+)==", pip.stdout + pip.stderr)
    assert pip.returncode == 0, (
        f"the setup cell's install would change what Colab ships: {sorted(set(held))}\n"
        + pip.stderr[-3000:]
    )
    colab = versions.versions()
    installed = {
        versions.canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    changed = {n: (colab[n], v) for n, v in installed.items() if n in colab and colab[n] != v}
    assert not changed, f"would change Colab's (from, to): {changed}"
    new = set(installed) - set(colab)
    assert new <= ADDITIONS, f"would add packages Colab lacks: {sorted(new - ADDITIONS)}"
    assert {"pytti-nb"} <= new
