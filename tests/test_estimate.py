"""The cost estimate: measured on the run's own renderer, it leaves the run unchanged and
lands within a factor of 1.5 of the measured time."""

import time

import numpy as np
import pytest

from pytti_nb.engine.render import Renderer
from pytti_nb.estimate import Estimate, estimate_run
from pytti_nb.models import ModelCache
from pytti_nb.plan import plan
from pytti_nb.settings import from_dict

BASE = {"scenes": "a red circle", "perceptors": ["demo"], "seed": 1, "device": "cpu"}
FILES = {
    "still": dict(width=24, height=24, pixel_size=4, cutouts=16, steps_per_scene=60,
                  save_every=10, display_every=5),
    "2D": dict(width=32, height=24, pixel_size=2, cutouts=8, steps_per_scene=60,
               animation_mode="2D", steps_per_frame=5, pre_animation_steps=10, translate_x=2,
               save_every=5, semantic_stabilization_weight=1),
    "palette": dict(image_model="Limited Palette", width=40, height=30, pixel_size=2,
                    cutouts=12, steps_per_scene=50, save_every=25),
}  # fmt: skip


@pytest.fixture(scope="module")
def models():
    return ModelCache()


@pytest.mark.parametrize("name", list(FILES))
def test_the_estimate_is_within_half_again_of_the_measured_time(name, models, tmp_path):
    settings = from_dict({**BASE, **FILES[name], "output_root": str(tmp_path)})
    r = Renderer(plan(settings), models)
    estimate = estimate_run(r)
    start = time.perf_counter()
    list(r.snapshots())
    actual = time.perf_counter() - start
    assert 1 / 1.5 < actual / estimate.seconds < 1.5, (actual, estimate)
    assert estimate.steps == r.plan.total_steps and estimate.peak_bytes > 0


def test_probing_leaves_the_run_exactly_as_it_was(models, tmp_path):
    settings = from_dict({**BASE, **FILES["2D"], "output_root": str(tmp_path)})
    plain = list(Renderer(plan(settings), models).snapshots())[-1].image
    probed = Renderer(plan(settings), models)
    estimate_run(probed)
    assert probed.step == 0
    assert np.array_equal(list(probed.snapshots())[-1].image, plain)


def test_the_estimate_warns_when_memory_will_not_fit():
    fits = Estimate(200.0, 0.1, 0.0, 0.01, 2 * 2**30, 16 * 2**30, 2000)
    assert fits.fits and fits.describe() == (
        "estimate: about 3 min 20 s for 2000 steps, peak memory 2.0 GiB of 16.0 GiB"
    )
    tight = Estimate(200.0, 0.1, 0.0, 0.01, 15 * 2**30, 16 * 2**30, 2000)
    assert not tight.fits and "WARNING: that will not fit" in tight.describe()
    assert tight.as_dict()["fits"] is False
