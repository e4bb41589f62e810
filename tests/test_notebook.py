"""pyttitools.ipynb: paired with its jupytext source, stored without outputs, thin, and runnable
headless through its parameters cell on a real kernel."""

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from notebooks import execute, inject, printed

from pytti_nb.config.files import save_settings
from pytti_nb.config.settings import from_dict
from pytti_nb.io.checkpoint import load_checkpoint
from pytti_nb.io.png_meta import read_png_metadata

pytestmark = pytest.mark.colab_stack

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "pyttitools.ipynb"
SOURCE = ROOT / "notebook_src" / "pyttitools.py"
EDITED = "a blue square on a white background"
PARAMETERS = {"settings_file", "settings_yaml", "render_on_start", "output_root"}


def cells(notebook):
    """What must agree between the two files: cell kinds, sources and tags."""
    return [
        (c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in notebook.cells
    ]


def test_notebook_and_its_jupytext_source_have_the_same_cells():
    assert cells(jupytext.read(NOTEBOOK)) == cells(jupytext.read(SOURCE)), (
        "pyttitools.ipynb and notebook_src/pyttitools.py drifted apart; edit one, then run "
        "`jupytext --sync pyttitools.ipynb` (the newer file wins)"
    )


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in notebook.metadata


def test_notebook_is_thin_and_has_one_parameters_cell_of_plain_assignments():
    notebook = jupytext.read(SOURCE)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    for cell in code:
        tree = ast.parse(cell.source)
        assert not [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        ], cell.source[:60]
        # the setup cell is the longest: it installs the package, so it cannot call into it
        assert len(cell.source.splitlines()) <= 11
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", ())]
    assert len(tagged) == 1
    statements = ast.parse(tagged[0].source).body
    assert all(isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) for s in statements)
    assert {s.targets[0].id for s in statements} == PARAMETERS
    assert "colab-badge" in notebook.cells[0].source


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run headless on a real kernel: a foreground render through its parameters,
    then a Render click from a cell that returns while the render goes on as a task."""
    folder = tmp_path_factory.mktemp("nb")
    tiny = {
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "width": 12,
        "height": 12,
        "pixel_size": 4,
        "cutouts": 4,
        "steps_per_scene": 8,
        "save_every": 4,
        "display_every": 2,
        "seed": 3,
        "device": "cpu",
        "file_namespace": "headless",
    }
    save_settings(from_dict(tiny), folder / "tiny.yaml")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    inject(
        notebook,
        settings_file=str(folder / "tiny.yaml"),
        render_on_start=True,
        output_root=str(folder / "out"),
    )
    notebook.cells += [
        nbformat.v4.new_code_cell(source)
        for source in (
            "studio.panel.controls['steps_per_scene'].value = 100000\n"
            "studio.panel.controls['file_namespace'].value = 'task'\n"
            "task = studio.render()\n"
            "print('returned while', studio.runner.state)",
            # the render goes on as a task on the kernel's loop while this cell awaits
            "import asyncio\n"
            "while studio.runner.state != 'running' or studio.runner.session.step < 2:\n"
            "    await asyncio.sleep(0.02)\n"
            "print('running', studio.runner.session.step)",
            # a live edit, as typed into the scenes box, reaches the render at a later step
            f"studio.panel.controls['scenes'].value = {EDITED!r}\n"
            "while 'live edit applied' not in studio.status.value:\n"
            "    await asyncio.sleep(0.02)\n"
            "print('edited', studio.status.value)\n"
            "print('stopping at', studio.runner.session.step)\n"
            "studio.stop_button.click()",
            "outcome = await studio.runner.wait()\n"
            "print('finally', outcome.state, studio.status.value)",
        )
    ]
    execute(notebook, folder)
    return notebook, folder


def test_headless_run_renders_frames_through_the_parameters_cell(executed):
    notebook, folder = executed
    run = folder / "out" / "headless"
    assert sorted(p.name for p in (run / "frames").glob("*.png")) == ["000001.png", "000002.png"]
    assert load_checkpoint(run)["step"] == 8
    assert (run / "headless.mp4").is_file()
    setup = next(c for c in notebook.cells if "prepare_notebook" in c.source)
    assert "CPU is slow" in printed(setup) or "GPU:" in printed(setup)
    studio_cell = next(c for c in notebook.cells if "build_studio" in c.source)
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in studio_cell.outputs
    )


def test_a_render_task_runs_on_the_kernel_loop_takes_a_live_edit_and_stops(executed):
    notebook, folder = executed
    started, running, edited, final = (printed(c) for c in notebook.cells[-4:])
    # the Render click returned at once; the kernel then ran the next cells while it rendered
    assert re.fullmatch(r"returned while loading\n", started)
    assert int(re.fullmatch(r"running (\d+)\n", running).group(1)) >= 2
    applied = int(re.search(r"live edit applied at step (\d+)", edited).group(1))
    step = int(re.search(r"stopping at (\d+)", edited).group(1))
    assert 2 < applied <= step
    assert final.startswith("finally stopped") and final.rstrip().endswith("stopped")
    # the click landed between two step pulls: exactly one more step ran, then it saved
    run = folder / "out" / "task"
    assert load_checkpoint(run)["step"] == step + 1
    (last,) = sorted((run / "frames").glob("*.png"))[-1:]
    assert read_png_metadata(last)["settings"]["scenes"] == EDITED  # the edit reached the run
