"""Colab's runtime packages, as Colab publishes them, for the Colab-like test environment.

pip-freeze.gpu.txt beside this file is kept verbatim from googlecolab/backend-info (SOURCE, as
of DATE): the GPU runtime's `pip freeze`. Its torch builds carry a local version (+cu128, from
PyTorch's own index); PyPI's wheel of the same release is the one installed here, so a version's
local part is dropped. PyPI's build of that release links CUDA 13 where Colab's links CUDA 12.8,
so the CUDA runtime wheels (nvidia-*, cuda-*) come with PyPI's torch and are not held to Colab's
(the CPU code of the two builds is the same). Lines that name a URL instead of a version
(Colab's own package, a few NVIDIA wheels) cannot be constraints and are left out.

    python tools/colab/versions.py constraints   # Colab's versions as a pip constraints file
    python tools/colab/versions.py base          # the packages the Colab-like environment holds
    python tools/colab/versions.py added BEFORE AFTER    # what an install added
    python tools/colab/versions.py changed BEFORE AFTER  # fail naming what an install changed
"""

import re
import sys
from pathlib import Path

FREEZE = Path(__file__).with_name("pip-freeze.gpu.txt")
SOURCE = (
    "https://github.com/googlecolab/backend-info/blob/"
    "a72407924822ea377410b69f0a290150bcb5c9c2/pip-freeze.gpu.txt"
)
DATE = "2026-08-19"
PYTHON = "3.13"  # Colab's Python 3.13.15 (os-info-gpu.txt of the same commit)

# What the Colab-like environment installs, each at Colab's version: everything pytti-nb or its
# tests import that Colab already has, the classic Notebook front end nearest to Colab's, and
# Colab's pip, which runs the notebook's setup cell.
BASE = (
    "pip", "torch", "torchvision", "numpy", "pillow", "scipy", "opencv-python-headless",
    "transformers", "huggingface-hub", "safetensors", "timm", "regex", "tqdm", "pyyaml",
    "imageio-ffmpeg", "ipywidgets", "widgetsnbextension", "jupyterlab-widgets", "ipyevents",
    "ipykernel", "ipython", "jupyter-client", "traitlets", "tornado", "nbclient", "nbformat",
    "notebook", "nbclassic", "jupytext", "pytest",
)  # fmt: skip


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


CUDA_RUNTIME = re.compile(r"(nvidia|cuda)-")  # wheels of the CUDA build, not of Python code


def versions() -> dict[str, str]:
    """Colab's version of each package it pins, by canonical name (local versions dropped)."""
    pinned = {}
    for line in FREEZE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")) or " @ " in line or "==" not in line:
            continue
        name, version = line.split("==", 1)
        pinned[canonical(name)] = version.split("+", 1)[0]
    return pinned


def frozen(path) -> dict[str, str]:
    """Name -> version of a `pip freeze` file (URL lines keep their URL as the version)."""
    found = {}
    for line in Path(path).read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
        elif " @ " in line:
            name, version = line.split(" @ ", 1)
        else:
            continue
        found[canonical(name.strip())] = version.strip()
    return found


def changed(before, after) -> list[str]:
    """Packages of `before` that `after` removed or holds at another version."""
    old, new = frozen(before), frozen(after)
    return [
        f"{n} {v} -> {new.get(n, 'removed')}" for n, v in sorted(old.items()) if new.get(n) != v
    ]


def added(before, after) -> list[str]:
    """Packages `after` holds that `before` did not."""
    return sorted(set(frozen(after)) - set(frozen(before)))


def constraints() -> str:
    """Colab's versions as a pip constraints file."""
    header = f"# Colab's GPU runtime packages as of {DATE}, from {SOURCE}\n"
    pinned = sorted((n, v) for n, v in versions().items() if not CUDA_RUNTIME.match(n))
    return header + "".join(f"{name}=={v}\n" for name, v in pinned)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "constraints":
        sys.stdout.write(constraints())
    elif what == "base":
        print(" ".join(BASE))
    elif what == "added" and len(sys.argv) == 4:
        print(" ".join(added(sys.argv[2], sys.argv[3])))
    elif what == "changed" and len(sys.argv) == 4:
        moved = changed(sys.argv[2], sys.argv[3])
        new = added(sys.argv[2], sys.argv[3])
        print(f"installing pytti-nb added {', '.join(new) or 'nothing'}")
        if moved:
            sys.exit("installing pytti-nb changed packages Colab ships: " + "; ".join(moved))
    else:
        sys.exit("usage: versions.py constraints | base | added|changed BEFORE AFTER")
