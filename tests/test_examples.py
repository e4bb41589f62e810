"""Every example validates, and the media examples render offline on the media they ship."""

from pathlib import Path

import pytest

from pytti_nb.config.files import load_settings
from pytti_nb.config.plan import plan_run
from pytti_nb.run import prepare_run, run_to_completion

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICK = [
    "steps_per_scene=8",
    "steps_per_frame=2",
    "pre_animation_steps=2",
    "save_every=2",
    "cutouts=2",
]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "sweep.yaml"),  # not a render
    ids=lambda p: p.stem,
)
def test_every_example_is_valid(path, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # examples name their media relative to the repository
    run_plan = plan_run(load_settings(path))
    assert run_plan.total_steps > 0
    if run_plan.settings.animation_mode != "off":
        assert run_plan.clock.frames >= 24  # at least two seconds of animation


@pytest.mark.parametrize("name", ["video-source", "audio"])
def test_media_examples_render_offline(name, tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    settings = load_settings(EXAMPLES / f"{name}.yaml", [*QUICK, f"output_root={tmp_path}"])
    job = prepare_run(settings=settings)
    result = run_to_completion(job, progress=False)
    assert result.saves == 4 and result.video is not None
