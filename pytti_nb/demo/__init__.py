"""The bundled offline `demo` perceptor: a tiny open_clip model trained on drawn coloured shapes.

torch is imported only by the evaluation helpers: checking a `demo` spec (what `validate` does)
finds the model's folder here without it.
"""

from importlib import resources

import numpy as np

from . import shapes

WEIGHTS_NAME = "open_clip_model.safetensors"


# Settings under which this small perceptor paints recognisably (see examples/demo.yaml): a
# small image of big pixels, a high learning rate and strong smoothing against the adversarial
# speckle a tiny model is fooled by.
FRIENDLY_SETTINGS = {
    "width": 24,
    "height": 24,
    "pixel_size": 5,
    "learning_rate": 0.1,
    "smoothing_weight": "0.3",
    "cut_pow": 1.0,
    "cutout_noise": 0.1,
}


def model_dir():
    """Folder holding the demo's open_clip config and fp16 weights (an open_clip `local-dir:`)."""
    return resources.files("pytti_nb.demo") / "model"


def caption_table():
    """All captions plus an index array [shape, colour, background] -> caption id (-1 if invalid)."""
    labels = shapes.all_labels()
    table = np.full((len(shapes.SHAPES), len(shapes.COLOUR_NAMES), len(shapes.COLOUR_NAMES)), -1)
    for i, (s, c, b) in enumerate(labels):
        table[
            shapes.SHAPES.index(s), shapes.COLOUR_NAMES.index(c), shapes.COLOUR_NAMES.index(b)
        ] = i
    return [shapes.caption(*label) for label in labels], table


def heldout_images(n, *, seed=20240601, size=64):
    """Draw n evaluation images (float [n,3,s,s] in [0,1]) and their label index array [n,3]."""
    import torch

    # The training script draws from seed 0 upwards; this fixed seed gives unseen placements.
    rng = np.random.default_rng(seed)
    _, table = caption_table()
    valid = np.argwhere(table >= 0)
    labels = valid[rng.choice(len(valid), size=n, replace=len(valid) < n)]
    images = shapes.draw_batch(labels[:, 0], labels[:, 1], labels[:, 2], size=size, rng=rng)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0, labels


def zero_shot_accuracy(image_embeddings, text_embeddings, labels):
    """Per-attribute accuracy {'shape colour', 'shape', 'background'} of nearest-caption classification."""
    # For each attribute the candidates are the captions varying only that attribute, the other two
    # held at the image's true values (colour == background combinations are skipped).
    _, table = caption_table()
    sims = (image_embeddings.detach().float() @ text_embeddings.detach().float().T).numpy()
    s, c, b = labels[:, 0:1], labels[:, 1:2], labels[:, 2:3]
    colours = np.arange(len(shapes.COLOUR_NAMES))[None, :]
    candidates = {
        "shape colour": (table[s, colours, b], c[:, 0]),
        "shape": (table[np.arange(len(shapes.SHAPES))[None, :], c, b], s[:, 0]),
        "background": (table[s, c, colours], b[:, 0]),
    }
    rows = np.arange(len(labels))[:, None]
    accuracy = {}
    for name, (ids, truth) in candidates.items():
        scores = np.where(ids >= 0, sims[rows, np.maximum(ids, 0)], -np.inf)
        accuracy[name] = float(np.mean(scores.argmax(axis=1) == truth))
    return accuracy
