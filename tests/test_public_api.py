"""The package's public API (pytti_nb/__init__.py): every name resolves, and importing the
package alone loads neither torch nor the widgets."""

import subprocess
import sys
from pathlib import Path

import pytti_nb

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_every_public_name_resolves_to_the_object_its_module_defines():
    import importlib

    for name in pytti_nb.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(f"pytti_nb.{pytti_nb._API[name]}")
        assert getattr(pytti_nb, name) is getattr(module, name)
    assert set(dir(pytti_nb)) >= set(pytti_nb.__all__)


def test_an_unknown_name_is_an_attribute_error():
    try:
        pytti_nb.render_everything  # noqa: B018
    except AttributeError as e:
        assert "render_everything" in str(e)
    else:
        raise AssertionError("pytti_nb.render_everything resolved")


def test_importing_the_package_loads_no_torch_and_no_widgets():
    code = "import sys, pytti_nb; print(sorted({'torch', 'ipywidgets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readme_example_plans_a_settings_file():
    settings = pytti_nb.load_settings(EXAMPLES / "demo.yaml", ["steps_per_scene=5"])
    run_plan = pytti_nb.plan_run(settings, check_models=False)
    assert isinstance(run_plan, pytti_nb.RunPlan)
    assert run_plan.settings.steps_per_scene == 5
