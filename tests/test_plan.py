"""Whole-run validation: every problem is found before any model loads."""

import numpy as np
import pytest
from PIL import Image

from pytti_nb.config.plan import NeededModels, plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.errors import SettingsError

BASE = {
    "scenes": "a red circle",
    "perceptors": ["demo"],
    "width": 16,
    "height": 16,
    "steps_per_scene": 10,
}


def problems_of(**changes):
    with pytest.raises(SettingsError) as e:
        plan_run(from_dict({**BASE, **changes}))
    return "\n".join(e.value.problems)


def test_valid_plan_counts_steps_and_scenes():
    p = plan_run(from_dict({**BASE, "scenes": "a || b || c"}))
    assert len(p.scenes) == 3 and p.total_steps == 30
    assert p.clock.scene_at(0) == 0 and p.clock.scene_at(10) == 1 and p.clock.scene_at(29) == 2


def test_clock_follows_pytti():
    p = plan_run(from_dict({**BASE, "steps_per_frame": 10, "frames_per_second": 2}))
    assert (p.clock.at(0).t, p.clock.at(0).position) == (0.0, 0.0)
    assert (p.clock.at(25).t, p.clock.at(25).position) == (1.25, 2.5)


def test_missing_files_are_named():
    text = problems_of(init_image="nope.png", scenes="[missing.png]:2 | cat:1_[mask.png]")
    assert "init_image" in text and "'nope.png' does not exist" in text
    assert "'missing.png' does not exist" in text and "'mask.png' does not exist" in text


def test_not_an_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert "is not a readable image" in problems_of(init_image=str(bad))


def test_absurd_size():
    assert "more than the" in problems_of(width=4096, height=4096, pixel_size=8)


def test_size_from_init_image_aspect(tmp_path):
    path = tmp_path / "init.png"
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(path)
    p = plan_run(from_dict({**BASE, "init_image": str(path), "width": 40, "height": -1}))
    assert (p.width, p.height) == (40, 20)
    assert "init_image is empty" in problems_of(height=-1)


def test_expression_failing_mid_run_is_caught_before_start():
    # t = step / (steps_per_frame * fps) = step here, so 1/(t-5) divides by zero at step 5
    text = problems_of(scenes="cat:1/(t-5)", steps_per_frame=1, frames_per_second=1)
    assert "1/(t-5)" in text


def test_malformed_prompt_and_bad_model_reported_together():
    text = problems_of(scenes="cat:2:0.5:9:1", perceptors=["ViT-B-33@openai"])
    assert "scenes:" in text and "perceptors:" in text and "ViT-B-32" in text


def test_namespace_cannot_escape():
    assert "file_namespace" in problems_of(file_namespace="../outside")


def test_gradient_accumulation_must_divide():
    assert "does not divide cutouts" in problems_of(cutouts=10, gradient_accumulation_steps=3)


def test_url_is_refused_with_reason():
    assert "is a URL" in problems_of(init_image="https://example.com/a.png")


def test_models_cache_dir_must_be_a_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "models_cache_dir" in problems_of(models_cache_dir=str(blocker))


def test_missing_mask_videos_are_named():
    text = problems_of(scenes="fire:1_[m.mp4]", direct_image_prompts="a.png:1_[m.mp4]")
    assert "mask of prompt 'fire:1_[m.mp4]': file 'm.mp4' does not exist" in text


@pytest.mark.parametrize("zero", ["0", "0.0", 0, "0*t", "0:(0), 10:(0)", "max(0, -t)"])
def test_init_weights_that_are_zero_over_the_run_need_no_init_image(zero):
    p = plan_run(from_dict({**BASE, "direct_init_weight": zero, "semantic_init_weight": zero}))
    assert {"direct_init_weight", "semantic_init_weight"} <= p.off


def test_an_init_weight_that_is_ever_nonzero_needs_an_init_image():
    text = problems_of(direct_init_weight="0:(0), 5:(1)")
    assert "init_image: direct_init_weight is set but init_image is empty" in text


def test_pre_animation_steps_shift_t_at_every_step():
    p = plan_run(from_dict({**BASE, "pre_animation_steps": 4, "steps_per_frame": 2}))
    ctx = p.clock.at(0)
    assert ctx.t == -4 / (2 * 12.0) and ctx.position == -2.0 and ctx.frame == -1


def test_a_replan_reuses_the_check_of_unchanged_images_and_rechecks_changed_ones(
    tmp_path, monkeypatch
):
    from pytti_nb.config import plan as plan_module

    init, prompt = tmp_path / "init.png", tmp_path / "prompt.png"
    Image.new("RGB", (20, 10), (200, 0, 0)).save(init)
    Image.new("RGB", (8, 8), (0, 0, 200)).save(prompt)
    decoded = []
    check = plan_module.check_image_file
    monkeypatch.setattr(
        plan_module, "check_image_file", lambda p, where: decoded.append(p) or check(p, where)
    )
    s = from_dict({**BASE, "init_image": str(init), "scenes": f"[{prompt}]:1"})
    first = plan_run(s)
    assert sorted(decoded) == sorted([str(init), str(prompt)])
    second = plan_run(s, previous=first)  # the studio re-plans at every edit
    assert len(decoded) == 2 and second.images == first.images
    Image.new("RGB", (40, 10), (200, 0, 0)).save(init)  # the file changes: checked again
    third = plan_run(s, previous=second)
    assert decoded[2:] == [str(init)]
    assert third.images[str(init)][1] == (40, 10)  # the new image's size


VALIDATE_CASES = """
import json, sys
from pytti_nb.cli import main
codes = [main(["validate", *args]) for args in json.loads(sys.argv[1])]
heavy = ("torch", "open_clip", "transformers", "torchvision", "cv2")
print(json.dumps([codes, sorted(m for m in heavy if m in sys.modules)]))
"""


def test_validate_checks_models_without_importing_torch(tmp_path):
    """`validate` checks every example and each kind of model (a cache lookup by name, a probe
    of the host otherwise) without importing torch, open_clip or transformers: what a run
    would load is only looked up."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from pytti_nb.models.flow_weights import raft_weights_path
    from pytti_nb.perception import open_clip_tables

    root = Path(__file__).resolve().parent.parent
    raft = raft_weights_path("raft_small", str(tmp_path))
    raft.parent.mkdir(parents=True)
    raft.write_bytes(b"")  # validation only looks for the file
    cache = [f"--set=models_cache_dir={tmp_path}"]
    examples = sorted(p for p in (root / "examples").glob("*.yaml") if p.name != "sweep.yaml")
    cases = [([str(p)], 0) for p in examples] + [
        (["examples/demo.yaml", "--set=perceptors=[hf-hub:org/name]", *cache], 3),
        (["examples/animation-3d.yaml", "--set=depth_model=org/depth", *cache], 3),
        (["examples/video-source.yaml", "--set=flow_model=raft_small", *cache], 0),
        (
            ["examples/demo.yaml", "--set=image_model=VQGAN", "--set=vqgan_model=./missing.ckpt"],
            2,
        ),
    ]
    if open_clip_tables.snapshot_is_current():  # else open_clip itself is asked (it imports torch)
        cases.append((["examples/demo.yaml", "--set=perceptors=[ViT-B-32@openai]", *cache], 3))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # offline at once: no test waits for a network
    result = subprocess.run(
        [sys.executable, "-c", VALIDATE_CASES, json.dumps([args for args, _ in cases])],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    codes, heavy = json.loads(result.stdout.splitlines()[-1])
    assert codes == [code for _, code in cases], result.stderr
    assert heavy == [], f"validate imported {heavy}"


def test_the_plan_names_the_models_the_run_loads():
    """RunPlan.models: the perceptors always; a depth model for 3D or depth stabilisation, but
    not the flat plane; a flow model for Video Source or 3D flow stabilisation; VQGAN's model
    only in a VQGAN run. pixel_scale: pixel_size, but 1 for VQGAN."""
    still = plan_run(from_dict({**BASE, "pixel_size": 2}))
    assert still.models == NeededModels(perceptors=("demo",))
    assert still.pixel_scale == 2 and still.output_size == (32, 32)
    flat = plan_run(from_dict({**BASE, "animation_mode": "3D", "depth_model": "none"}))
    assert flat.models.depth is None and flat.models.flow is None
    three_d = {**BASE, "animation_mode": "3D", "flow_stabilization_weight": "1"}
    depth = plan_run(from_dict(three_d), check_models=False).models
    assert (depth.depth, depth.flow) == ("depth-anything/Depth-Anything-V2-Small-hf", "raft_large")
    two_d = {**BASE, "animation_mode": "2D", "depth_stabilization_weight": "1"}
    assert plan_run(from_dict(two_d), check_models=False).models.depth is not None
