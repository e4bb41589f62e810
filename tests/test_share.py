"""A setup shared as a notebook: `share` and the studio's Share button write a copy of the
notebook whose parameters cell holds the settings as YAML text; run headless, it renders them.
The text is data, read like a settings file: hostile text is refused as from a file."""

import ast
import json

import pytest
import yaml
from inprocess import run_cli
from notebooks import code_cell, errors, execute, inject, load, printed
from tiny import tiny_settings

from pytti_nb.config.files import save_settings
from pytti_nb.config.settings import from_dict
from pytti_nb.config.share import PARAMETER, python_string, shared_notebook, shared_yaml
from pytti_nb.errors import OutputError, SettingsError
from pytti_nb.io.png_meta import read_png_metadata
from pytti_nb.ui import build_studio

pytestmark = pytest.mark.colab_stack


def parameters_of(notebook) -> dict:
    """The values the parameters cell assigns (literals only, as the notebook requires)."""
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", ()))
    source = "".join(cell["source"])
    return {s.targets[0].id: ast.literal_eval(s.value) for s in ast.parse(source).body}


@pytest.mark.parametrize(
    "text",
    [
        "scenes: a\n",
        'scenes: say """hi"""\n',
        "scenes: 'a \\\\ b'\n",
        'scenes: ends in a quote"\n',
        "a\r\nb",
        "",
        "unicode: \u00e9\u2028x\n",
    ],
)
def test_the_embedded_text_is_a_literal_that_reads_back_exactly(text):
    literal = python_string(text)
    (statement,) = ast.parse(f"x = {literal}").body
    assert isinstance(statement.value, ast.Constant) and statement.value.value == text


def test_share_writes_the_notebook_with_the_settings_as_data_and_no_output_choices(tmp_path):
    settings = from_dict(tiny_settings(output_root="/somewhere/private", allow_overwrite=True))
    save_settings(settings, tmp_path / "mine.yaml")
    code, out, err, *_ = run_cli("share", tmp_path / "mine.yaml", tmp_path / "s.ipynb")
    assert code == 0, err
    assert out.splitlines()[0] == f"wrote {tmp_path / 's.ipynb'}"
    assert "output_root and allow_overwrite are not shared" in out
    notebook = json.loads((tmp_path / "s.ipynb").read_text())
    values = parameters_of(notebook)
    assert set(values) == {"settings_file", PARAMETER, "render_on_start", "output_root"}
    shared = yaml.safe_load(values[PARAMETER])
    assert shared["scenes"] == settings.scenes and shared["seed"] == settings.seed
    assert "output_root" not in shared and "allow_overwrite" not in shared
    assert values["settings_file"] == "" and values["output_root"] == ""
    # the rest is the notebook itself
    original = load()
    assert [c["cell_type"] for c in notebook["cells"]] == [c.cell_type for c in original.cells]
    assert code_cell(original, "build_studio").source in [
        "".join(c["source"]) for c in notebook["cells"]
    ]
    # an existing file is never replaced
    code, _, err, *_ = run_cli("share", tmp_path / "mine.yaml", tmp_path / "s.ipynb")
    assert code == 2 and "exists" in err and "--force" in err


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """A shared notebook of tiny settings, run headless with render_on_start."""
    folder = tmp_path_factory.mktemp("shared")
    settings = from_dict(tiny_settings(scenes="a blue square", seed=7, file_namespace="mine"))
    notebook = shared_notebook(settings)
    (folder / "s.ipynb").write_text(json.dumps(notebook))
    import nbformat

    run = nbformat.read(str(folder / "s.ipynb"), as_version=4)
    inject(run, render_on_start=True, output_root=str(folder / "out"))
    return execute(run, folder), folder


def test_an_exported_notebook_renders_its_embedded_settings_headless(shared_run):
    notebook, folder = shared_run
    studio = code_cell(notebook, "build_studio")
    assert not errors(studio), errors(studio)
    assert "done" in printed(studio)
    (png,) = sorted((folder / "out" / "mine" / "frames").glob("*.png"))[-1:]
    used = read_png_metadata(png)["settings"]
    assert (used["scenes"], used["seed"], used["width"]) == ("a blue square", 7, 12)


def test_hostile_embedded_settings_are_one_clear_message_in_the_cell(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    notebook = load()
    inject(notebook, settings_yaml=bomb, output_root=str(tmp_path / "out"))
    execute(notebook, tmp_path, allow_errors=True)
    studio = code_cell(notebook, "build_studio")
    (error,) = errors(studio)
    shown = "\n".join(error["traceback"])
    assert "Traceback" not in shown and "File " not in shown
    assert "settings_yaml" in shown and "fix or empty settings_yaml" in shown
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scenes: [1, 2\n", "settings_yaml"),
        ("!!python/object/apply:os.system [echo hi]\n", "settings_yaml"),
        ("width: 10000000\n", "width"),
        ("x" * 300_000, "settings_yaml"),
    ],
)
def test_embedded_settings_are_checked_as_a_settings_file_is(tmp_path, text, expected):
    with pytest.raises(SettingsError) as caught:
        build_studio(output_root=str(tmp_path), settings_text=text)
    problems = "\n".join(caught.value.problems)
    assert expected in problems
    assert caught.value.problems[-1].startswith("fix or empty settings_yaml")


def test_an_embedded_name_that_leaves_the_output_folder_is_refused_before_writing(tmp_path):
    text = yaml.safe_dump(tiny_settings(file_namespace="../../outside"))
    studio = build_studio(output_root=str(tmp_path / "out"), settings_text=text)
    assert studio.render() is None
    status = studio.status.value
    assert "error: the settings have problems" in status and "file_namespace" in status
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "outside").exists()


def test_embedded_output_choices_are_not_used(tmp_path, capsys):
    text = yaml.safe_dump({"scenes": "a", "output_root": "/etc", "allow_overwrite": True})
    studio = build_studio(output_root=str(tmp_path / "mine"), settings_text=text)
    assert studio.settings().output_root == str(tmp_path / "mine")
    assert studio.settings().allow_overwrite is False and studio.settings().scenes == "a"
    notes = capsys.readouterr().out
    assert "output_root '/etc' is not used" in notes and "allow_overwrite" in notes


def test_the_studio_share_button_writes_a_new_notebook_each_time(tmp_path):
    studio = build_studio(output_root=str(tmp_path), settings=from_dict(tiny_settings()))
    studio.files.share_button.click()
    studio.files.share_button.click()
    shared = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert shared == ["run(1).ipynb", "run.ipynb"]
    values = parameters_of(json.loads((tmp_path / "shared" / "run.ipynb").read_text()))
    assert yaml.safe_load(values[PARAMETER]) == yaml.safe_load(shared_yaml(studio.settings()))
    assert "download run(1).ipynb" in studio.files.download.value
    assert "shared notebook saved as" in studio.files.message.value


def test_share_refuses_a_linked_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "shared").symlink_to(tmp_path / "elsewhere")
    studio = build_studio(output_root=str(tmp_path), settings=from_dict(tiny_settings()))
    studio.files.share_button.click()
    assert "is a link" in studio.files.message.value
    assert not any((tmp_path / "elsewhere").iterdir())
    with pytest.raises(OutputError):
        from pytti_nb.config.share import share_notebook

        share_notebook(studio.settings())
