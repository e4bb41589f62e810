"""Versions of Python and of the libraries that shape a render, recorded with every output."""

from __future__ import annotations

import importlib.metadata
import platform

# Recorded name -> distribution name on PyPI.
DISTRIBUTIONS = {
    "torch": "torch",
    "open_clip": "open_clip_torch",
    "numpy": "numpy",
    "pillow": "pillow",
}


def distribution_version(name: str) -> str:
    """Installed version of distribution `name`, or "absent"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def environment_versions() -> dict[str, str]:
    """Versions of python, pytti_nb, torch, open_clip, numpy, pillow ("absent" if not installed)."""
    from pytti_nb import __version__  # late import: pytti_nb/__init__ may grow to import submodules

    versions = {"python": platform.python_version(), "pytti_nb": __version__}
    versions.update({key: distribution_version(dist) for key, dist in DISTRIBUTIONS.items()})
    return versions
