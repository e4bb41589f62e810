"""What a run will cost, measured before it starts: a few probe steps on the actual device.

The probe runs real steps (and, in 2D and 3D, one frame change) on the run's own session,
then puts its state back exactly, so a probed run makes the same images as an unprobed one.
Time = the probed step times the run's steps, plus each frame change, display and save point;
peak memory is the device's high-water mark during the probe (CUDA), against its capacity.
"""

import io
import math
import resource
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from ..config.schema import MOVING
from ..timing import synchronize
from . import step
from .cadence import steps_left

PROBE_STEPS = 3  # timed steps at least (fewer, down to one, under 30 steps), after a warm-up
PROBE_MIN_S = 0.5  # ...and until this long has been timed: tiny steps are noisy one by one
PROBE_MAX_STEPS = 50
PROBE_SHARE = 10  # ...but past one, at most a tenth as many steps as the run has left
MEMORY_MARGIN = 0.9  # warn when the peak would take more than this share of the device


@dataclass(frozen=True)
class Estimate:
    """A run's expected wall time and peak device memory."""

    seconds: float  # the remaining steps, frame changes, displays and saves
    step_seconds: float
    frame_seconds: float  # one frame change (warp, depth, references); 0 for still images
    save_seconds: float  # one saved PNG
    peak_bytes: int | None  # device memory high-water mark (CUDA), or the process's (CPU)
    capacity_bytes: int | None  # the device's memory, when known
    steps: int

    @property
    def fits(self) -> bool:
        """Whether the peak stays within MEMORY_MARGIN of the device's memory."""
        if self.peak_bytes is None or self.capacity_bytes is None:
            return True
        return self.peak_bytes <= MEMORY_MARGIN * self.capacity_bytes

    def describe(self) -> str:
        """One line for the command line and the studio."""
        memory = ""
        if self.peak_bytes is not None:
            memory = f", peak memory {_gib(self.peak_bytes)}"
            if self.capacity_bytes is not None:
                memory += f" of {_gib(self.capacity_bytes)}"
        text = f"estimate: {duration(self.seconds)} for {self.steps} steps{memory}"
        if not self.fits:
            text += (
                " — WARNING: that will not fit; lower width/height or cutouts, or raise "
                "gradient_accumulation_steps"
            )
        return text

    def as_dict(self) -> dict:
        """Plain values, for the run's record."""
        return {**asdict(self), "fits": self.fits}


def estimate_run(session) -> Estimate:
    """Probe the session's next steps and frame change, restore its state, and estimate."""
    device = session.device
    state = session.state_dict()
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        step_s = _time_steps(session)
        frame_s = _time_frame(session)
        peak, capacity = _memory(device)
    finally:
        session.load_state_dict(state)
    s, clock = session.settings, session.run_plan.clock
    remaining = steps_left(session)  # a cadence skips the steps of the frames between keys
    frames = max(clock.frames - max(clock.at(session.step).frame, 0), 0) if frame_s else 0
    saves, displays = _points(session.step, clock.total_steps, s.save_every, s.display_every)
    save_s = _save_seconds(session.run_plan.output_size)
    seconds = remaining * step_s + frames * frame_s + saves * save_s + displays * save_s / 4
    return Estimate(seconds, step_s, frame_s, save_s, peak, capacity, remaining)


def _points(step: int, total: int, save_every: int, display_every: int) -> tuple[int, int]:
    """(save points, display-only points) among steps step+1 .. total; the last step saves."""
    if step >= total:
        return 0, 0

    def multiples(every):
        return total // every - step // every if every > 0 else 0

    last_extra = not (save_every > 0 and total % save_every == 0)
    saves = multiples(save_every) + last_extra
    displays = multiples(display_every)
    if save_every > 0 and display_every > 0:
        displays -= multiples(math.lcm(save_every, display_every))
    if last_extra and display_every > 0 and total % display_every == 0:
        displays -= 1
    return saves, displays


def _time_steps(session) -> float:
    """Seconds per step: the mean of at least PROBE_STEPS steps and PROBE_MIN_S seconds after
    a warm-up step (the mean, not the best: a run lives with the machine's noise); past one
    timed step, a short run is probed for at most a tenth of its steps."""
    clock = session.run_plan.clock
    ctx = clock.at(session.step)
    step.guarded_step(session, ctx)
    share = (clock.total_steps - session.step) // PROBE_SHARE
    least = min(PROBE_STEPS, max(1, share))
    most = min(PROBE_MAX_STEPS, max(least, share))
    times = []
    while len(times) < least or (sum(times) < PROBE_MIN_S and len(times) < most):
        synchronize(session.device)
        start = time.perf_counter()
        step.guarded_step(session, ctx)
        synchronize(session.device)
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def _time_frame(session) -> float:
    """Seconds of one frame change in 2D and 3D (0 for still images; Video Source frames are
    read from the video in order, so their cost is left out rather than disturb the reader)."""
    clock = session.run_plan.clock
    if session.animator is None or session.settings.animation_mode not in MOVING:
        return 0.0
    if clock.frames < 1:
        return 0.0
    ctx = clock.at(clock.frame_start_step(min(1, clock.frames - 1)))
    synchronize(session.device)
    start = time.perf_counter()
    session.begin_frame(ctx)
    synchronize(session.device)
    return time.perf_counter() - start


def _memory(device) -> tuple[int | None, int | None]:
    """(peak bytes during the probe, the device's capacity), where they can be known."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), torch.cuda.mem_get_info(device)[1]
    if device.type == "cpu":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak * (1 if sys.platform == "darwin" else 1024), None  # kB on Linux
    return None, None


def _save_seconds(size) -> float:
    """Seconds to encode one saved frame of this size as PNG (what a save point adds)."""
    noise = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    start = time.perf_counter()
    Image.fromarray(noise).save(io.BytesIO(), format="PNG", compress_level=4)
    return time.perf_counter() - start


def _gib(n: int) -> str:
    """Bytes as GiB (or MiB below one GiB)."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def duration(seconds: float) -> str:
    """About how long, in words: 45 s, 3 min 20 s, 2 h 05 min."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"about {seconds:.0f} s"
    if seconds < 3600:
        return f"about {int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"about {int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
