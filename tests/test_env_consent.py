"""A file from someone else cannot read the renderer's environment, or write this machine's
paths into a run's files, unless the person rendering says so (--allow-env, or the studio's
checkbox); it says so when it tries, and every variable read is named."""

import json
import os
from pathlib import Path

import pytest
import yaml
from inprocess import run_cli

from pytti_nb.config.pytti_import import import_pytti
from pytti_nb.errors import SettingsError
from pytti_nb.sweep.spec import load_sweep
from pytti_nb.ui import build_studio, compat

SECRET = "s3cr3t-value-never-to-be-copied"
HEADER = "# @package _global_\n"


@pytest.fixture
def secret(monkeypatch):
    """An environment holding a secret, as a cloud notebook holds a token."""
    monkeypatch.setenv("PYTTI_TEST_TOKEN", SECRET)
    monkeypatch.setenv("PYTTI_TEST_NAME", "PYTTI_TEST_TOKEN")
    return SECRET


def pytti_file(folder: Path, **values) -> Path:
    """A PyTTI Hydra overlay holding `values` (demo perceptor, tiny render)."""
    data = {
        "scenes": "a red circle",
        "perceptors": ["demo"],
        "width": 8,
        "height": 8,
        "pixel_size": 1,
        "cutouts": 2,
        "steps_per_scene": 2,
        "save_every": 2,
        "display_every": 0,
        "seed": 3,
        "file_namespace": "run",
        **values,
    }
    path = folder / "theirs.yaml"
    path.write_text(HEADER + yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "value",
    [
        "${oc.env:PYTTI_TEST_TOKEN}",
        "a castle by ${oc.env:PYTTI_TEST_TOKEN}",
        "${oc.env:${oc.env:PYTTI_TEST_NAME}}",  # a variable named by another
        "${oc.env: PYTTI_TEST_TOKEN }",
    ],
)
def test_a_file_cannot_read_the_environment_unasked(secret, value):
    with pytest.raises(SettingsError) as caught:
        import_pytti({"scenes": value, "ViTB32": True})
    message = "\n".join(caught.value.problems)
    assert "--allow-env" in message and "PYTTI_TEST_" in message
    assert secret not in message


def test_allowed_the_file_reads_it_and_the_report_names_each_variable(secret):
    ours, notes = import_pytti(
        {"scenes": "by ${oc.env:PYTTI_TEST_TOKEN}", "ViTB32": True}, allow_env=True
    )
    assert ours["scenes"] == f"by {secret}"
    assert "read the environment variable 'PYTTI_TEST_TOKEN' (allowed)" in notes
    assert all(secret not in note for note in notes)


def test_a_default_is_used_without_reading_and_the_report_says_so(secret):
    ours, notes = import_pytti({"scenes": "${oc.env:PYTTI_TEST_TOKEN,a lake}", "ViTB32": True})
    assert ours["scenes"] == "a lake"
    assert any("'PYTTI_TEST_TOKEN' was not read" in note for note in notes)


def test_pyttis_path_resolvers_put_no_path_of_this_machine_in_the_settings():
    ours, _ = import_pytti(
        {
            "scenes": "a",
            "ViTB32": True,
            "models_parent_dir": "${path_join:${user_cache:},pytti}",
            "init_image": "${path_join:images,start.png}",
        }
    )
    assert ours["models_cache_dir"] == "~/.cache/pytti" and ours["init_image"] == "images/start.png"
    assert str(Path.home()) not in json.dumps(ours) and os.getcwd() not in json.dumps(ours)


@pytest.mark.parametrize("command", ["render", "validate", "import-pytti", "share"])
def test_every_command_refuses_it_until_allowed(secret, tmp_path, command):
    path = pytti_file(tmp_path, file_namespace="${oc.env:PYTTI_TEST_TOKEN}")
    dest = {"import-pytti": [tmp_path / "ours.yaml"], "share": [tmp_path / "s.ipynb"]}
    extra = dest.get(command, [])
    if command == "render":
        extra += ["--out", tmp_path / "out", "--quiet"]
    code, out, err, *_ = run_cli(command, path, *extra)
    assert code == 2 and "--allow-env" in err and "PYTTI_TEST_TOKEN" in err
    assert secret not in out + err
    assert not any(secret in str(p) for p in tmp_path.rglob("*"))  # no folder named by it
    code, out, err, *_ = run_cli(command, path, *extra, "--allow-env")
    assert code == 0, err
    assert "read the environment variable 'PYTTI_TEST_TOKEN' (allowed)" in out


def test_a_sweep_with_a_pytti_base_refuses_it_until_allowed(secret, tmp_path):
    pytti_file(tmp_path, scenes="${oc.env:PYTTI_TEST_TOKEN}")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "theirs.yaml", "seeds": [1, 2]}))
    with pytest.raises(SettingsError) as caught:
        load_sweep(sweep, out=tmp_path / "out")
    assert "--allow-env" in "\n".join(caught.value.problems)
    spec = load_sweep(sweep, out=tmp_path / "out", allow_env=True)
    assert spec.base["scenes"] == secret


def test_the_studio_asks_before_a_dropped_file_reads_the_environment(secret, tmp_path):
    studio = build_studio(output_root=str(tmp_path))
    content = pytti_file(tmp_path, scenes="${oc.env:PYTTI_TEST_TOKEN}").read_bytes()
    compat.receive(studio.files.upload, "theirs.yaml", content)
    message = studio.files.message.value
    assert "error:" in message and "let PyTTI files read environment variables" in message
    assert secret not in message and studio.panel.controls["scenes"].value != secret
    studio.files.allow_env.value = True
    compat.receive(studio.files.upload, "theirs.yaml", content)
    assert studio.settings().scenes == secret
    assert "read the environment variable" in studio.files.message.value
