"""Running pyttitools.ipynb (or a copy of it) headless on a real kernel, as the tests do."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "pyttitools.ipynb"


def load(path=NOTEBOOK):
    """A notebook as nbformat's node."""
    return nbformat.read(str(path), as_version=4)


def code_cell(notebook, marker: str):
    """The one code cell whose source contains `marker`."""
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and marker in c.source]
    return cell


def parameters_index(notebook) -> int:
    """Index of the cell tagged `parameters`."""
    return next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", ())
    )


def inject(notebook, **values):
    """Papermill's convention: a cell tagged injected-parameters after the parameters cell."""
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(parameters_index(notebook) + 1, cell)


def execute(notebook, folder, *, allow_errors=False, timeout=120, env=None):
    """Run every cell on a python3 kernel started in `folder`; the notebook, with outputs."""
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )
    # one thread: the CPU is shared with the test process (jupyter_client starts the kernel
    # with this interpreter, so the package is importable there)
    client.execute(env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    return notebook


def printed(cell, stream: str | None = None) -> str:
    """Everything a cell printed (to one stream, when named)."""
    return "".join(
        o.get("text", "")
        for o in cell.outputs
        if o.output_type == "stream" and (stream is None or o.get("name") == stream)
    )


def errors(cell) -> list[dict]:
    """The error outputs of a cell (what a front end draws as a traceback)."""
    return [o for o in cell.outputs if o.output_type == "error"]
