"""The benchmark runs the real engine step and reports every stage and the ratio. The tests time
the demo perceptor's tiny architecture (--model demo); real figures use ViT-B-32, the default."""

import re

import pytest

from pytti_nb import bench

ARGS = ["--model", "demo", "--size", "64", "--cutouts", "2", "--steps", "2", "--warmup", "0"]
ARGS = [*ARGS, "--device", "cpu"]


def number(pattern, out) -> float:
    """The number the pattern's group finds in the report."""
    found = re.search(pattern, out)
    assert found, (pattern, out)
    return float(found.group(1))


def test_bench_reports_stages_and_ratio(capsys):
    bench.main(ARGS)
    out = capsys.readouterr().out
    for stage in bench.STAGES:
        assert re.search(rf"\| {stage} \| \d+\.\d \|", out), stage
    assert "demo (random weights), 64x64, 2 cutouts, fp32, device cpu" in out
    whole = number(r"\| \*\*whole step\*\* \(no per-stage syncs\) \| \*\*(\d+\.\d)\*\* \|", out)
    alone = number(r"\| perceptor forward\+backward alone \| (\d+\.\d) \|", out)
    ratio = number(r"ratio whole step / perceptor alone: (\d+\.\d+)", out)
    # a real measurement, not a placeholder: the ratio of the two times it printed (rounded)
    assert whole > 0 and alone > 0 and ratio > 0
    assert abs(ratio - whole / alone) <= ratio * (0.05 / whole + 0.05 / alone) + 0.0005, out


def test_bench_times_vit_b_32_unless_told_otherwise(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--help"])
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--model MODEL an open_clip model (default ViT-B-32)" in help_text, help_text


def test_bench_reports_per_frame_work_as_a_share_of_a_frame(capsys, tiny_depth_model):
    bench.main([*ARGS, "--animation", "3D", "--depth-model", str(tiny_depth_model)])
    out = capsys.readouterr().out
    for stage in ("depth", "warp", "references"):
        assert re.search(rf"\| {stage} \| \d+\.\d \| \d+\.\d\d% \|", out), stage
    share = number(r"per-frame share at 50 steps per frame: (\d+\.\d+)%", out)
    frame = number(r"\| \*\*all per-frame work\*\* \| \*\*(\d+\.\d)\*\* \|", out)
    step = number(r"\| \*\*whole step\*\* \(no per-stage syncs\) \| \*\*(\d+\.\d)\*\* \|", out)
    assert share > 0 and number(r"\| depth \| (\d+\.\d) \|", out) > 0
    # the frame's work over 50 of the steps it measured (each rounded as printed)
    expected = 100 * frame / (50 * step)
    assert abs(share - expected) <= expected * (0.05 / frame + 0.05 / step) + 0.005, out
    assert re.search(r"audio analysis, once per run: a 60 s sound in 3 bands takes \d+ ms", out)


def test_bench_reports_an_image_models_own_cost(capsys, tiny_vqgan):
    for model in ("Limited Palette", "VQGAN"):
        bench.main([*ARGS, "--image-model", model, "--vqgan-model", str(tiny_vqgan)])
        out = capsys.readouterr().out
        assert out.startswith(f"pytti_nb bench: {model}, demo")
        own = number(
            rf"image model \({model}: decode, its backward, optimizer\): (\d+\.\d) ms, ", out
        )
        assert own > 0 and number(r"\| decode_backward \| (\d+\.\d) \|", out) > 0
        share = number(r" ms, (\d+\.\d)% of the perceptor", out)
        alone = number(r"\| perceptor forward\+backward alone \| (\d+\.\d) \|", out)
        # the image model's own cost (the sum of its stages) over the perceptor's, as printed
        stages = sum(
            number(rf"\| {stage} \| (\d+\.\d) \|", out) for stage in bench.IMAGE_MODEL_STAGES
        )
        assert abs(own - stages) <= 0.2 + 1e-9, out
        expected = 100 * own / alone
        assert abs(share - expected) <= expected * (0.05 / own + 0.05 / alone) + 0.05, out
