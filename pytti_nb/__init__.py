"""pytti_nb: CLIP-guided image and animation synthesis for notebooks and the command line.

The public API, for a notebook or a script (README: "From Python"):

    settings = load_settings("examples/demo.yaml", ["steps_per_scene=50"])
    run_plan = plan_run(settings)              # every problem at once, before a model loads
    job = prepare_run(settings=settings)       # checked again, models loaded, run folder made
    for snapshot in run_snapshots(job): ...    # Snapshot: image, losses, step, settings
    result = run_to_completion(job)            # or all of it at once: RunResult
    build_studio()                             # the notebook's studio (needs ipywidgets)

Names are imported on first use, so `import pytti_nb` loads neither torch nor the widgets.
"""

import importlib
from types import MappingProxyType

__version__ = "0.1.0"

# public name -> the module that defines it
_API = MappingProxyType(
    {
        "Settings": "config.schema",
        "load_settings": "config.files",
        "save_settings": "config.files",
        "RunPlan": "config.plan",
        "plan_run": "config.plan",
        "prepare_run": "run",
        "run_snapshots": "run",
        "run_to_completion": "run",
        "Job": "run",
        "RunResult": "run",
        "Snapshot": "engine.render",
        "ModelCache": "models.cache",
        "build_studio": "ui.studio",
        "PyttiError": "errors",
        "SettingsError": "errors",
    }
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'pytti_nb' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)


def __dir__():
    return sorted(__all__)
