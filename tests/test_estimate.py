"""The cost estimate: measured on the run's own session, it leaves the run unchanged and
counts what the run will do (steps, frame changes, saves and displays). How close its time
comes to a real run's is the benchmark's to measure (`python -m pytti_nb.bench --estimate`),
not a test's: wall-clock ratios move with whatever else the machine is doing."""

import types

import numpy as np
import pytest

from pytti_nb.bench import ESTIMATE_BASE, ESTIMATE_RUNS
from pytti_nb.config.plan import plan_run
from pytti_nb.config.settings import from_dict
from pytti_nb.engine import estimate as estimate_module
from pytti_nb.engine import step as step_module
from pytti_nb.engine.estimate import Estimate, estimate_run
from pytti_nb.engine.render import snapshots
from pytti_nb.engine.session import Session
from pytti_nb.models import ModelCache

STEP_S, FRAME_S, SAVE_S = 0.25, 1.5, 0.125  # virtual costs, exact in binary


def bench_run(name, tmp_path, **changes):
    """The benchmark's run `name` with 2 cutouts: its steps, frame changes, saves and displays."""
    return from_dict(
        {**ESTIMATE_BASE, **ESTIMATE_RUNS[name], "cutouts": 2, "output_root": str(tmp_path)}
        | changes
    )


@pytest.fixture(scope="module")
def models():
    return ModelCache()


class VirtualClock:
    """A clock that advances only when the session steps or changes frame."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def charge(self, monkeypatch, owner, name, seconds, calls):
        """Make each call of owner.`name` cost `seconds` of virtual time, and count it."""
        real = getattr(owner, name)

        def charged(*args, **kwargs):
            self.now += seconds
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, charged)


@pytest.mark.parametrize("name", list(ESTIMATE_RUNS))
def test_the_estimate_counts_every_step_frame_change_save_and_display(
    name, models, tmp_path, monkeypatch
):
    settings = bench_run(name, tmp_path)
    r = Session(plan_run(settings), models)
    clock, calls = VirtualClock(), {}
    monkeypatch.setattr(
        estimate_module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter)
    )
    monkeypatch.setattr(estimate_module, "_save_seconds", lambda size: SAVE_S)
    clock.charge(monkeypatch, step_module, "guarded_step", STEP_S, calls)
    clock.charge(monkeypatch, r, "begin_frame", FRAME_S, calls)
    estimate = estimate_run(r)
    assert (estimate.step_seconds, estimate.save_seconds) == (STEP_S, SAVE_S)
    assert estimate.frame_seconds == (FRAME_S if settings.animation_mode == "2D" else 0.0)

    calls.clear()
    snaps = list(snapshots(r))
    saves = sum(s.save_number is not None for s in snaps)
    displays = len(snaps) - saves
    ran = (
        calls["guarded_step"] * STEP_S
        + calls.get("begin_frame", 0) * FRAME_S
        + saves * SAVE_S
        + displays * SAVE_S / 4
    )
    assert estimate.steps == calls["guarded_step"] == r.run_plan.total_steps
    assert estimate.seconds == pytest.approx(ran)
    assert estimate.peak_bytes > 0


def test_probing_leaves_the_run_exactly_as_it_was(models, tmp_path):
    settings = bench_run("2D", tmp_path, steps_per_scene=20)  # 10 steps, then two frames
    plain = list(snapshots(Session(plan_run(settings), models)))[-1].image
    probed = Session(plan_run(settings), models)
    estimate_run(probed)
    assert probed.step == 0
    assert np.array_equal(list(snapshots(probed))[-1].image, plain)


def test_the_estimate_warns_when_memory_will_not_fit():
    fits = Estimate(200.0, 0.1, 0.0, 0.01, 2 * 2**30, 16 * 2**30, 2000)
    assert fits.fits and fits.describe() == (
        "estimate: about 3 min 20 s for 2000 steps, peak memory 2.0 GiB of 16.0 GiB"
    )
    tight = Estimate(200.0, 0.1, 0.0, 0.01, 15 * 2**30, 16 * 2**30, 2000)
    assert not tight.fits and "WARNING: that will not fit" in tight.describe()
    assert tight.as_dict()["fits"] is False
