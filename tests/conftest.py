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
