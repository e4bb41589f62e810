"""Shared fixtures: tiny settings for fast CPU renders; the Colab-only tests' marker."""

import os

import pytest
import shared_ray
import torch
from tiny import TINY

# one thread: tiny models gain nothing from more, and threads oversubscribe a shared CI box;
# the processes tests start (renders, sweep drivers and workers, kernels) inherit it, as torch's
# spinning threads on two busy cores cost a render several times its work
torch.set_num_threads(1)
for threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(threads, "1")


# The slowest files, slowest first. `make test` hands whole files to two xdist workers in
# collection order (--no-loadscope-reorder: xdist would otherwise start the files with the
# most tests first, which leaves these few-test, long files to the end, run by one worker
# while the other idles). Starting them first leaves only short files for the tail.
SLOW_FIRST = (
    "test_sweep.py",
    "browser/test_studio_jupyterlab.py",
    "browser/test_studio_voila.py",
    "test_sweep_hostile.py",
    "test_cli.py",
    "test_hostile.py",
    "test_guidance_inputs.py",
    "test_render_e2e.py",
    "test_optimizers.py",
    "test_vqgan_models.py",
    "test_share.py",
    "test_notebook.py",
    "test_colab_notebook.py",
    "test_limited_palette.py",
    "test_ui_studio.py",
    "test_faults.py",
    "test_fourier.py",
    "test_hostile_fuzz.py",
)


def pytest_configure(config):
    """Start the run's shared Ray instance (shared_ray) before the test processes exist."""
    shared_ray.start(config)


def pytest_unconfigure(config):
    """End it with the run."""
    shared_ray.stop(config)


def pytest_collection_modifyitems(config, items):
    """Leave the Colab-only tests out (deselected, never skipped) outside that environment;
    start the slowest files first."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    tests = os.path.dirname(__file__)
    items.sort(key=lambda item: rank.get(os.path.relpath(item.path, tests), len(rank)))
    if os.environ.get("PYTTI_COLAB_ENV") == "1":
        return
    colab = [item for item in items if item.get_closest_marker("colab_env")]
    if colab:
        config.hook.pytest_deselected(items=colab)
        items[:] = [item for item in items if not item.get_closest_marker("colab_env")]


@pytest.fixture
def tiny(tmp_path):
    """Settings of a render that takes a second or two on the CPU, writing under tmp_path."""
    return {**TINY, "output_root": str(tmp_path / "out")}


@pytest.fixture(scope="session")
def tiny_depth_model(tmp_path_factory):
    """A folder holding a tiny Depth Anything model with random weights, saved by transformers
    exactly as a downloaded model is, so it loads through the same path as a real one."""
    return _tiny_depth_model(tmp_path_factory, "relative")


@pytest.fixture(scope="session")
def tiny_metric_depth_model(tmp_path_factory):
    """Like tiny_depth_model, a metric one (metres, as Depth Anything V2 Metric's)."""
    return _tiny_depth_model(tmp_path_factory, "metric")


def _tiny_depth_model(tmp_path_factory, kind):
    """A tiny random Depth Anything of that depth_estimation_type, saved in a folder."""
    from pytti_nb.models.depth import random_depth_anything

    folder = tmp_path_factory.mktemp("depth") / f"tiny-depth-anything-{kind}"
    torch.manual_seed(0)
    model, processor = random_depth_anything(
        width=32, layers=4, heads=2, neck=(8, 16, 32, 32), fusion=16, head=8, size=56, kind=kind
    )
    with torch.no_grad():  # a positive output that varies with the image, as a trained head's
        model.head.conv2.bias.fill_(0.5)
        model.head.conv3.weight.normal_(0.0, 1.0)
        model.head.conv3.bias.fill_(0.5)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vqgan(tmp_path_factory):
    """A tiny VQGAN (f4, 16 codes, random weights) saved as a taming checkpoint and config;
    its .ckpt path is a vqgan_model setting that loads through the same path as a download."""
    from vqgan_fixtures import save_taming_checkpoint, tiny_random_vqgan

    model = tiny_random_vqgan()
    folder = tmp_path_factory.mktemp("vqgan")
    save_taming_checkpoint(model, folder / "tiny.ckpt", folder / "tiny.yaml")
    return folder / "tiny.ckpt"


@pytest.fixture(scope="session")
def trained_vqgan(tmp_path_factory):
    """A tiny f2 VQGAN trained for a few seconds on colour blocks (vqgan_training), saved as a
    taming checkpoint: its encode and decode mean something, as a real model's do."""
    from filelock import FileLock
    from vqgan_fixtures import save_taming_checkpoint
    from vqgan_training import train_tiny_vqgan

    # Trained once per run: under xdist the workers share their run's temporary folder, and
    # the first to get here trains (about 15 s of CPU) while the other waits for its file.
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    folder = root / "trained-vqgan"
    with FileLock(str(root / "trained-vqgan.lock")):
        if not (folder / "blocks.ckpt").is_file():
            part = root / "trained-vqgan.part"
            part.mkdir(exist_ok=True)
            save_taming_checkpoint(train_tiny_vqgan(), part / "blocks.ckpt", part / "blocks.yaml")
            part.rename(folder)
    return folder / "blocks.ckpt"


@pytest.fixture
def offline(monkeypatch):
    """Every network probe fails at once, as offline (no test may wait for a network)."""
    from pytti_nb.models import network

    monkeypatch.setattr(network, "reachable", lambda *a, **k: False)


@pytest.fixture(scope="module")
def perceptor_check_imported():
    """Import what checking a perceptor name imports, so no timed test pays for it."""
    import contextlib

    from pytti_nb.perception.specs import check_perceptor_spec

    with contextlib.suppress(Exception):
        check_perceptor_spec("RN50@openai")
