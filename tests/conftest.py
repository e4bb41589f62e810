"""Shared fixtures: tiny settings for fast CPU renders."""

import pytest
import torch

# one thread: tiny models gain nothing from more, and threads oversubscribe a shared CI box
torch.set_num_threads(1)


@pytest.fixture
def tiny(tmp_path):
    """Settings of a render that takes a second or two on the CPU, writing under tmp_path."""
    return {
        "scenes": "a red circle on a black background",
        "perceptors": ["demo"],
        "width": 12,
        "height": 12,
        "pixel_size": 4,
        "cutouts": 4,
        "steps_per_scene": 12,
        "save_every": 4,
        "display_every": 2,
        "seed": 1,
        "learning_rate": 0.1,
        "output_root": str(tmp_path / "out"),
        "file_namespace": "run",
        "device": "cpu",
    }


@pytest.fixture(scope="session")
def tiny_depth_model(tmp_path_factory):
    """A folder holding a tiny Depth Anything model with random weights, saved by transformers
    exactly as a downloaded model is, so it loads through the same path as a real one."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    folder = tmp_path_factory.mktemp("depth") / "tiny-depth-anything"
    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config)
    with torch.no_grad():  # a positive output that varies with the image, as a trained head's
        model.head.conv2.bias.fill_(0.5)
        model.head.conv3.weight.normal_(0.0, 1.0)
        model.head.conv3.bias.fill_(0.5)
    model.save_pretrained(folder)
    DPTImageProcessor(
        size={"height": 56, "width": 56}, ensure_multiple_of=14, keep_aspect_ratio=True
    ).save_pretrained(folder)
    return folder
