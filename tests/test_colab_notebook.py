"""The notebook's Colab branches, run on a real kernel with a stand-in `google.colab` on the path:
the setup cell installs pytti-nb by its own line, enables the widget manager and mounts Drive;
renders then go to Drive. A failed install, or Drive refused, is one line that says what to do.

The stand-in records each call into a JSON-lines file; a temporary folder stands in for
/content/drive. A harness cell (not part of the notebook) puts the stand-in on the path and
makes pip's run a recording, as on Colab before pytti-nb is installed.
"""

import json
import sys
import textwrap

import pytest
import yaml
from notebooks import code_cell, errors, execute, inject, load, parameters_index, printed
from tiny import tiny_settings

from pytti_nb.io.png_meta import read_png_metadata

pytestmark = pytest.mark.colab_stack

STANDIN = {
    "google/colab/__init__.py": '''
        """Stand-in for Colab's google.colab: records what the notebook asks of Colab."""
        import json, os

        def record(*call):
            with open(os.environ["PYTTI_STANDIN_LOG"], "a") as log:
                log.write(json.dumps(call) + "\\n")
    ''',
    "google/colab/output.py": """
        from . import record

        def enable_custom_widget_manager():
            record("output.enable_custom_widget_manager")
    """,
    "google/colab/drive.py": """
        import os
        from . import record

        def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
            record("drive.mount", mountpoint)
            if os.environ.get("PYTTI_STANDIN_DRIVE") == "refuse":
                raise ValueError("mount failed")  # what Colab raises when access is refused
            os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
    """,
}

# Runs before the setup cell: Colab's kernel has imported google.colab, pytti_nb is not yet
# installed, and pip's run is recorded (returning `returncode`, with pip's wall of text).
HARNESS = """
import importlib.util, json, os, subprocess, sys
from pathlib import Path
sys.path.insert(0, {standin!r})
import google.colab
import pytti_nb.ui.setup
pytti_nb.ui.setup.DRIVE_MOUNT = Path({drive!r})
_find_spec, _run = importlib.util.find_spec, subprocess.run
def _missing(name, *args, **kwargs):
    return None if name == "pytti_nb" else _find_spec(name, *args, **kwargs)
def _pip(argv, **kwargs):
    google.colab.record("pip", argv, kwargs)
    return subprocess.CompletedProcess(argv, {returncode}, "", "ERROR: no such thing\\n" * 40)
importlib.util.find_spec, subprocess.run = _missing, _pip
"""
RESTORE = "importlib.util.find_spec, subprocess.run = _find_spec, _run"


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """(folder, log, drive): the stand-in package's folder, its log file and the Drive folder."""
    folder = tmp_path / "standin"
    for name, source in STANDIN.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(source))
    log, drive = tmp_path / "calls.jsonl", tmp_path / "drive"
    return folder, log, drive


def colab_notebook(colab, *, returncode=0, **parameters):
    """The notebook with the harness before its setup cell (and its undoing after it)."""
    folder, _, drive = colab
    notebook = load()
    setup = notebook.cells.index(code_cell(notebook, "prepare_notebook"))
    harness = HARNESS.format(standin=str(folder), drive=str(drive), returncode=returncode)
    notebook.cells.insert(setup, nbformat_cell(harness))
    notebook.cells.insert(setup + 2, nbformat_cell(RESTORE))
    if parameters:
        inject(notebook, **parameters)
    return notebook


def nbformat_cell(source):
    """A code cell."""
    import nbformat

    return nbformat.v4.new_code_cell(source)


def calls(colab) -> list:
    """What the notebook asked of the stand-in, in order."""
    return [json.loads(line) for line in colab[1].read_text().splitlines()]


def test_on_colab_the_setup_cell_installs_enables_widgets_mounts_drive_and_renders_there(
    colab, tmp_path
):
    settings = tiny_settings(file_namespace="colab", steps_per_scene=4, save_every=4)
    text = yaml.safe_dump(settings)
    notebook = colab_notebook(colab, settings_yaml=text, render_on_start=True)
    execute(notebook, tmp_path, env={"PYTTI_STANDIN_LOG": str(colab[1])})

    setup = code_cell(notebook, "prepare_notebook")
    source = dict(line.split(" = ", 1) for line in setup.source.splitlines() if " = " in line)
    assert '# @param {type:"string"}' in source["PACKAGE_SOURCE"]  # a field of Colab's form
    package_source = source["PACKAGE_SOURCE"].split("  #")[0].strip().strip('"')
    pip, widgets, mount = calls(colab)
    assert pip[0] == "pip" and pip[1][1:] == [
        "-m", "pip", "install", "-q", f"pytti-nb[notebook] @ {package_source}"
    ]  # fmt: skip
    assert pip[1][0] == sys.executable or pip[1][0].endswith("python3")
    assert widgets == ["output.enable_custom_widget_manager"]
    assert mount == ["drive.mount", str(colab[2])]
    drive_root = colab[2] / "MyDrive" / "pytti_nb"
    assert f"Renders are saved under {drive_root}" in printed(setup)

    studio = code_cell(notebook, "build_studio")
    assert not errors(studio), errors(studio)
    frames = sorted((drive_root / "colab" / "frames").glob("*.png"))
    assert [f.name for f in frames] == ["000001.png"]
    used = read_png_metadata(frames[0])["settings"]
    assert used["scenes"] == settings["scenes"] and used["seed"] == settings["seed"]
    assert used["output_root"] == str(drive_root)  # the notebook's choice, not the text's


def test_a_failed_install_is_one_line_saying_what_to_set(colab, tmp_path):
    notebook = colab_notebook(colab, returncode=1)
    notebook.cells = notebook.cells[: parameters_index(notebook)]  # up to the setup cell
    execute(notebook, tmp_path, allow_errors=True, env={"PYTTI_STANDIN_LOG": str(colab[1])})
    setup = code_cell(notebook, "prepare_notebook")
    shown = printed(setup) + "".join("\n".join(e["traceback"]) for e in errors(setup))
    assert "Traceback" not in shown and "no such thing" not in shown  # not pip's wall of text
    told, line = shown.strip().splitlines()
    assert told.startswith("Installing pytti-nb from git+https://")
    assert line.startswith("UsageError: pytti-nb could not be installed from PACKAGE_SOURCE")
    assert "set PACKAGE_SOURCE in this cell's form" in line
    assert [c[0] for c in calls(colab)] == ["pip"]  # nothing ran after the failed install


def test_drive_refused_is_one_line_and_renders_stay_on_the_runtime(colab, tmp_path):
    notebook = colab_notebook(colab)
    notebook.cells = notebook.cells[: parameters_index(notebook)]
    env = {"PYTTI_STANDIN_LOG": str(colab[1]), "PYTTI_STANDIN_DRIVE": "refuse"}
    execute(notebook, tmp_path, env=env)
    setup = code_cell(notebook, "prepare_notebook")
    assert not errors(setup)
    lines = printed(setup).splitlines()
    assert lines[0].startswith("Installing pytti-nb from")
    assert lines[1].startswith("Google Drive is not mounted (mount failed): renders stay on")
    assert "run this cell again to mount Drive" in lines[1]
    assert lines[-1] == f"Renders are saved under {tmp_path / 'out'}"
    assert [c[0] for c in calls(colab)] == [
        "pip",
        "output.enable_custom_widget_manager",
        "drive.mount",
    ]
