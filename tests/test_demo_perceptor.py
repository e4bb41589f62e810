"""The bundled offline `demo` perceptor: drawing, captions, loading, freezing and zero-shot accuracy."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from pytti_nb import demo
from pytti_nb.demo import shapes
from pytti_nb.models import ModelCache

pytestmark = pytest.mark.numerics


@pytest.fixture(scope="module")
def perceptor():
    """The demo perceptor loaded on CPU through the session cache."""
    return ModelCache().perceptor("demo", device="cpu")


def test_caption_wording_and_validation():
    """Captions read naturally and reject equal or unknown colours and shapes."""
    assert shapes.caption("circle", "red", "blue") == "a red circle on a blue background"
    assert shapes.caption("stripes", "white", "black") == "a white stripes on a black background"
    for bad in (("circle", "red", "red"), ("hexagon", "red", "blue"), ("circle", "teal", "blue")):
        with pytest.raises(ValueError):
            shapes.caption(*bad)
    assert len(shapes.all_labels()) == len(shapes.SHAPES) * 10 * 9


def test_draw_is_seeded_and_uses_the_named_colours():
    """Same seed, same image; the background and shape colours fill the corners and the centre mass."""
    a = shapes.draw("circle", "red", "blue", rng=np.random.default_rng(3))
    b = shapes.draw("circle", "red", "blue", rng=np.random.default_rng(3))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    pixels = a.reshape(-1, 3).astype(int)
    red = np.abs(pixels - shapes.COLOURS["red"]).sum(1) < 10
    blue = np.abs(pixels - shapes.COLOURS["blue"]).sum(1) < 10
    assert red.mean() > 0.03 and blue.mean() > 0.3 and (red | blue).mean() > 0.9


def test_shapes_have_distinct_areas():
    """Shapes fill their bounding boxes as drawn: triangles ~1/2, circles ~pi/4, squares up to ~1."""
    rng = np.random.default_rng(0)
    n = 64
    fill = {}
    for shape in ("circle", "square", "triangle"):
        imgs = shapes.draw_batch([shapes.SHAPES.index(shape)] * n, [8] * n, [9] * n, rng=rng)
        mask = imgs[..., 0] > 128
        box = mask.any(2).sum(1) * mask.any(1).sum(1)
        fill[shape] = np.percentile(mask.sum((1, 2)) / box, 90)
    assert fill["triangle"] < 0.6 < fill["circle"] < 0.88 < fill["square"]


def test_demo_perceptor_is_frozen_and_small(perceptor):
    """The demo loads through open_clip's local-dir path, frozen, at 64 px, from a file under 10 MB."""
    assert perceptor.input_size == 64 and perceptor.dtype == torch.float32
    assert not perceptor.model.training
    assert not any(p.requires_grad for p in perceptor.model.parameters())
    weights = demo.model_dir() / demo.WEIGHTS_NAME
    assert weights.stat().st_size < 10 * 1024 * 1024


def test_demo_zero_shot_accuracy_on_heldout_images(perceptor):
    """On 90 held-out drawings each attribute is classified well above chance (1/9, 1/4, 1/9)."""
    images, labels = demo.heldout_images(90, seed=777)
    captions, _ = demo.caption_table()
    embeddings = perceptor.encode_images_reference(images)
    accuracy = demo.zero_shot_accuracy(embeddings, perceptor.encode_text(captions), labels)
    assert accuracy["shape colour"] > 0.8
    assert accuracy["shape"] > 0.8
    assert accuracy["background"] > 0.8


def test_demo_sees_through_blocky_noisy_cutouts(perceptor):
    """Pixelated (4 px blocks), noisy, zoomed-in drawings, like optimised cutouts, are still recognised."""
    images, labels = demo.heldout_images(60, seed=778)
    gen = torch.Generator().manual_seed(0)
    blocky = torch.nn.functional.interpolate(
        torch.nn.functional.avg_pool2d(images, 4), scale_factor=4.0
    )
    zoomed = torch.nn.functional.interpolate(
        blocky[:, :, 8:56, 8:56], size=(64, 64), mode="bilinear"
    )
    noisy = zoomed + 0.1 * torch.randn(zoomed.shape, generator=gen)
    captions, _ = demo.caption_table()
    embeddings = perceptor.encode_images_reference(noisy)
    accuracy = demo.zero_shot_accuracy(embeddings, perceptor.encode_text(captions), labels)
    assert min(accuracy.values()) > 0.6, accuracy


def eval_tool():
    """tools/eval_demo_perceptor.py, loaded from its file."""
    path = Path(__file__).resolve().parents[1] / "tools" / "eval_demo_perceptor.py"
    spec = importlib.util.spec_from_file_location("eval_demo_perceptor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_tool_prints_an_accuracy_table_per_attribute(capsys):
    """tools/eval_demo_perceptor.py --images 12 prints a markdown table: one row per attribute with
    its accuracy (a percentage, above chance for the trained demo) and its chance level."""
    eval_tool().main(["--images", "12"])
    out = capsys.readouterr().out
    assert "Zero-shot accuracy of `demo` on 12 held-out drawn images:" in out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert lines[:2] == ["| attribute | accuracy | chance |", "|---|---|---|"]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[0] for row in rows] == ["shape colour", "shape", "background"]
    for _, accuracy, chance in rows:
        assert accuracy.endswith("%") and chance.endswith("%")
        assert float(chance[:-1]) < float(accuracy[:-1]) <= 100.0, rows


def test_eval_tool_refuses_a_count_below_one(capsys):
    """--images 0 is a usage error (exit 2) naming the option, not an empty or crashing table."""
    with pytest.raises(SystemExit) as exit_info:
        eval_tool().main(["--images", "0"])
    assert exit_info.value.code == 2
    assert "--images" in capsys.readouterr().err
