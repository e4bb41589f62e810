"""Fuzz what a hostile user controls: random YAML, JSON and PyTTI documents through `validate`
and `import-pytti`, random PNG metadata through `validate`, random settings through a whole tiny render, random
checkpoint contents through a resume to its end. Each ends in success (a render in its final
snapshot) or our own error with a message (a documented exit code), never a traceback, within a
work bound (function calls, not seconds: the same on any machine) and a memory bound."""

import json
import shutil
from itertools import pairwise

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inprocess import run_cli
from PIL import Image, PngImagePlugin
from tiny import tiny_settings

from pytti_nb.config.pytti_import import pytti_defaults
from pytti_nb.config.schema import schema_by_name
from pytti_nb.errors import PyttiError
from pytti_nb.io.checkpoint import load_checkpoint, save_checkpoint
from pytti_nb.run import make_session, prepare_run, run_snapshots

EXIT_CODES = (0, 2, 3, 4)
MAX_MESSAGE = 20_000
MAX_PEAK_MB = 250
MAX_CALLS = 2_000_000  # calls one command may make (tests/inprocess.py; ~35k seen): not seconds
FUZZ = dict(
    derandomize=True,  # the same examples every run: CI never flakes
    deadline=None,  # no wall-clock limit: MAX_CALLS bounds each command's work instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TINY = tiny_settings(
    smaller=True,
    drop=("learning_rate",),
    steps_per_scene=4,
    save_every=2,
    display_every=0,
    depth_model="none",
    flow_model="dis",
)
NAMES = sorted(schema_by_name())
PYTTI_NAMES = sorted(pytti_defaults())
FRAGMENTS = [
    "&a ", "*a", "&b ", "*b", "!!str ", "!!int ", "!!set ", "!!binary ", "!!python/tuple ",
    "[", "]", "{", "}", ": ", ", ", "- ", "? ", "\n", "\n  ", "010", "yes", "no", "1e3",
    "1_000", ".inf", "-.nan", "~", "null", "0x1F", "${seed}", "${now:%f}", "${oc.env:HOME}",
    "# @package _global_\n", "'", '"', "|\n  ", ">\n  ", "\t", "\\u0000", "12:30:00",
    "2024-01-01", "9" * 30, "a" * 50, "scenes", "width", "file_namespace", "perceptors",
    "output_root", "allow_overwrite", "ViTB32", "use_mmc", "mmc_models", "seed", "<<",
    "SETTINGS:", "{'a': (1, 2)}", "batch_index: 0\n", "-1", "1e400", "0.5",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "0", "1e300", "-1", "yes", "no", "off", "demo", "sin(t)", "a:2_r:0.5"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
fragment_text = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)


def documents(names, base):
    """Settings documents: random text, raw bytes, fragments, random mappings, and valid
    settings (`base`) with a few values changed to anything."""
    mapping = st.dictionaries(
        st.one_of(st.sampled_from(names), st.text(max_size=12)), values, max_size=8
    )
    changed = st.dictionaries(st.sampled_from(names), values, max_size=3).map(
        lambda d: {**base, **d}
    )
    return st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        fragment_text,
        mapping.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
        mapping.map(lambda d: "# @package _global_\n" + yaml.safe_dump(d)),
        changed.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
        changed.map(json.dumps),
    )


pytestmark = pytest.mark.usefixtures("offline", "perceptor_check_imported")


def cli(*argv):
    """Run the command line in this process, checking the bounds; (code, stdout, stderr)."""
    code, out, err, peak, calls = run_cli(*argv)
    assert code in EXIT_CODES, (code, err[-2000:])
    assert len(err) < MAX_MESSAGE and len(out) < MAX_MESSAGE
    assert peak < MAX_PEAK_MB and calls < MAX_CALLS, (peak, calls)
    return code, out, err


def write(path, document):
    data = document if isinstance(document, bytes) else document.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return path


@settings(max_examples=75, **FUZZ)
@given(document=documents(NAMES, TINY), suffix=st.sampled_from([".yaml", ".json", ".txt"]))
def test_validate_any_document(tmp_path, document, suffix):
    path = write(tmp_path / f"s{suffix}", document)
    cli("validate", path, "--set", "perceptors=[demo]")


@settings(max_examples=40, **FUZZ)
@given(
    document=documents(PYTTI_NAMES, {"scenes": "a", "RN50": True}),
    suffix=st.sampled_from([".yaml", ".txt"]),
)
def test_import_pytti_any_document(tmp_path, document, suffix):
    dest = tmp_path / "ours.yaml"
    dest.unlink(missing_ok=True)
    code, *_ = cli("import-pytti", write(tmp_path / f"p{suffix}", document), dest)
    assert dest.is_file() == (code == 0)


metadata = st.one_of(
    st.text(max_size=200),
    fragment_text,
    values.map(json.dumps),
    st.dictionaries(st.sampled_from(NAMES), values, max_size=6).map(
        lambda d: json.dumps({"settings": {**TINY, **d}})
    ),
)


@settings(max_examples=30, **FUZZ)
@given(text=metadata, key=st.sampled_from(["pytti_nb", "parameters"]))
def test_validate_any_png_metadata(tmp_path, text, key):
    info = PngImagePlugin.PngInfo()
    info.add_itxt(key, text, zip=True)
    path = tmp_path / "frame.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, pnginfo=info)
    cli("validate", path)


# Settings a first step exercises, with values of every kind (sizes and steps stay tiny).
STEP_SETTINGS = {
    "scenes": st.one_of(
        st.text(alphabet="ab :_|[]{}()-.0123456789rtsin", max_size=30),
        st.sampled_from(["a:1e300", "a:-1:-0.9 | b:sin(t)", "[x.png]:1", "a:1_r_0.3", "a||b"]),
    ),
    "image_model": st.sampled_from(["Unlimited Palette", "Limited Palette", "FFT", "VQGAN", 3]),
    "animation_mode": st.sampled_from(["off", "2D", "3D", "Video Source", False, "4D"]),
    "translate_x": st.sampled_from(["0", "1e300", "sin(t)*3", "0:(1), 2:(5)", "t/0", "r"]),
    "rotate_3d": st.sampled_from(["[1, 0, 0, 0]", "[0, 0, 0, 0]", "[1e300, 1, 1, 1]", [1, 2]]),
    "smoothing_weight": st.sampled_from(["0", "-1", "1e7", "0:(0), 1:(1e5)", "nan"]),
    "cut_pow": st.one_of(st.floats(0, 10), st.floats(allow_nan=True, allow_infinity=True)),
    "cutout_border": st.one_of(st.floats(0, 1), st.floats(-1, 2)),
    "learning_rate": st.one_of(st.none(), st.floats(1e-6, 1e4), st.floats(-1, 1e5)),
    "optimizer": st.sampled_from(["Adam", "SGD", "RAdam", "Lion"]),
    "palette_size": st.integers(-1, 70),
    "palettes": st.integers(-1, 300),
    "seed": st.one_of(st.integers(), st.text(max_size=5)),
    "direct_stabilization_weight": st.sampled_from(["0", "1", "1_[x.png]", "1:-0.5", "1e300"]),
    "semantic_init_weight": st.sampled_from(["0", "1", "2_baby"]),
    "file_namespace": st.text(max_size=20),
    "gradient_accumulation_steps": st.integers(0, 3),
    "pre_animation_steps": st.integers(-1, 3),
    "steps_per_frame": st.integers(0, 3),
    "frames_per_second": st.one_of(st.floats(0.01, 240), st.floats(-1, 300)),
    "input_audio_filters": values,
    "show_palette": st.sampled_from([True, False, "maybe"]),
}


@pytest.fixture(scope="module")
def models():
    from pytti_nb.models import ModelCache

    return ModelCache()


some_settings = st.lists(st.sampled_from(sorted(STEP_SETTINGS)), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: STEP_SETTINGS[k] for k in keys})
)


def render_or_refuse(models, **where):
    """Render a prepared run to its end: its snapshots, or the PyttiError that refused it.
    Anything else (a traceback) fails the test."""
    try:
        job = prepare_run(**where, models=models)
        session = make_session(job, models)
        snaps = list(run_snapshots(job, session=session))
        job.writer.release()
    except PyttiError as e:
        return e
    return snaps


def assert_rendered_or_refused(outcome):
    """A refusal is our error with a short message; a render ends in its final snapshot."""
    if isinstance(outcome, PyttiError):
        message = str(outcome)
        assert message.strip() and len(message) < MAX_MESSAGE, repr(message[:2000])
        assert "Traceback" not in message
        return
    assert outcome, "a render that is not refused yields at least its final snapshot"
    last = outcome[-1]
    assert last.final and last.step == last.total_steps > 0, (last.step, last.total_steps)
    assert all(a.step < b.step for a, b in pairwise(outcome)), "steps go forward"


@settings(max_examples=30, **FUZZ)
@given(changes=some_settings)
def test_a_render_of_any_settings_finishes_or_refuses(tmp_path, models, changes):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}, allow_unicode=True))
    root = tmp_path / "out"
    shutil.rmtree(root, ignore_errors=True)
    outcome = render_or_refuse(models, settings_path=path, overrides=[f"output_root={root}"])
    assert_rendered_or_refused(outcome)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, models):
    """A finished tiny render's folder and checkpoint state."""
    root = tmp_path_factory.mktemp("saved")
    path = root / "s.yaml"
    path.write_text(yaml.safe_dump({**TINY, "animation_mode": "2D", "steps_per_frame": 2,
                                    "direct_stabilization_weight": 1}))  # fmt: skip
    job = prepare_run(settings_path=path, overrides=[f"output_root={root}"], models=models)
    for _ in run_snapshots(job, models=models):
        pass
    job.writer.release()
    state = load_checkpoint(job.run_dir)
    state["step"] = 2
    return job.run_dir, state


tensors = st.builds(
    lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
    st.lists(st.integers(0, 4), max_size=4).map(tuple),
    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]),
    st.sampled_from([0.0, 1.0, float("nan"), float("inf"), -3.0]),
)
leaves = st.one_of(scalars, tensors, st.lists(tensors, max_size=2))


def _paths(state, prefix=()):
    """Every key path into a nested state."""
    if isinstance(state, dict):
        for key, value in state.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


@settings(max_examples=20, **FUZZ)
@given(data=st.data())
def test_a_resume_from_any_checkpoint_finishes_or_refuses(tmp_path, models, saved_run, data):
    run_dir, state = saved_run
    folder = tmp_path / "run"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(run_dir, folder)
    damaged = _copy(state)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(damaged) if p[:1] != ("settings",) or len(p) == 1]
        where = data.draw(st.sampled_from(paths))
        parent = damaged
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, tuple):
            continue
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(leaves)
    save_checkpoint(folder, damaged)
    assert_rendered_or_refused(render_or_refuse(models, resume_dir=folder))


def _copy(state):
    """A deep copy of a checkpoint state (tensors cloned; tuples become lists to edit)."""
    if isinstance(state, dict):
        return {k: _copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_copy(v) for v in state]
    return state.clone() if torch.is_tensor(state) else state
