"""The requirements admit Colab's own versions (tools/colab/pip-freeze.gpu.txt), so the notebook's
install on Colab keeps what Colab ships; and the two lists of them agree."""

import importlib.util
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def colab_versions():
    """tools/colab/versions.py, loaded from its file."""
    spec = importlib.util.spec_from_file_location(
        "colab_versions", ROOT / "tools/colab/versions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def requirements_txt() -> list[Requirement]:
    """requirements.txt's requirements."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(s.split("#")[0]) for s in lines if s.split("#")[0].strip()]


def test_every_floor_is_at_or_below_colabs_version():
    versions = colab_versions()
    colab = versions.versions()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = [*pyproject["dependencies"], *pyproject["optional-dependencies"]["notebook"]]
    for requirement in [*requirements_txt(), *map(Requirement, named)]:
        name = versions.canonical(requirement.name)
        if name in colab:
            assert requirement.specifier.contains(colab[name], prereleases=True), (
                f"{requirement} excludes Colab's {name} {colab[name]}"
            )


def test_requirements_txt_and_pyproject_name_the_same_requirements():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = [*pyproject["dependencies"], *pyproject["optional-dependencies"]["notebook"]]
    assert sorted(map(str, requirements_txt())) == sorted(str(Requirement(r)) for r in named)


def test_the_kept_colab_list_names_colabs_widgets_generation():
    colab = colab_versions().versions()
    assert colab["ipywidgets"].startswith("7.") and colab["torch"] == "2.11.0"
