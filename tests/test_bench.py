"""The benchmark runs the real engine step and reports every stage and the ratio."""

import re

from pytti_nb import bench


def test_bench_reports_stages_and_ratio(capsys):
    bench.main(
        ["--size", "64", "--cutouts", "2", "--steps", "1", "--warmup", "0", "--device", "cpu"]
    )
    out = capsys.readouterr().out
    for stage in bench.STAGES:
        assert re.search(rf"\| {stage} \| \d+\.\d \|", out), stage
    ratio = float(re.search(r"ratio whole step / perceptor alone: (\d+\.\d+)", out).group(1))
    assert 0.5 < ratio < 10  # a real measurement, not a placeholder
    assert "ViT-B-32 (random weights), 64x64, 2 cutouts, fp32, device cpu" in out


def test_bench_reports_per_frame_work_as_a_share_of_a_frame(capsys, tiny_depth_model):
    args = ["--size", "64", "--cutouts", "2", "--steps", "1", "--warmup", "0", "--device", "cpu"]
    bench.main([*args, "--animation", "3D", "--depth-model", str(tiny_depth_model)])
    out = capsys.readouterr().out
    for stage in ("depth", "warp", "references"):
        assert re.search(rf"\| {stage} \| \d+\.\d \| \d+\.\d\d% \|", out), stage
    share = float(re.search(r"per-frame share at 50 steps per frame: (\d+\.\d+)%", out).group(1))
    assert 0 < share < 100
    assert float(re.search(r"\| depth \| (\d+\.\d) \|", out).group(1)) > 0
    assert re.search(r"audio analysis, once per run: a 60 s sound in 3 bands takes \d+ ms", out)


def test_bench_reports_an_image_models_own_cost(capsys, tiny_vqgan):
    args = ["--size", "64", "--cutouts", "2", "--steps", "1", "--warmup", "0", "--device", "cpu"]
    for model in ("Limited Palette", "VQGAN"):
        bench.main([*args, "--image-model", model, "--vqgan-model", str(tiny_vqgan)])
        out = capsys.readouterr().out
        assert out.startswith(f"pytti_nb bench: {model}, ViT-B-32")
        found = re.search(
            rf"image model \({model}: decode, its backward, optimizer\): (\d+\.\d) ms, "
            r"(\d+\.\d)% of the perceptor",
            out,
        )
        assert found and float(found.group(1)) > 0, out
        assert float(re.search(r"\| decode_backward \| (\d+\.\d) \|", out).group(1)) > 0
