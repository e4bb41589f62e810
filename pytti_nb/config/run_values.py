"""Every time value of a run (weights, stops, cutoffs, schedules) evaluated at every step before
the run starts, so none fails or overflows mid-render."""

import math

from ..errors import PyttiError, clipped, shown

MAX_EVALUATIONS = 10_000_000  # time-varying values x steps that validation evaluates
MAX_MAGNITUDE = 1e6  # largest weight, cutoff or scheduled value at any step


def check_values_over_run(clock, scenes, direct, schedules, weights, problems, unknown=()):
    """Evaluate every time value at every step of the run, so none fails mid-render.

    Returns the names of the schedule and weight settings that are zero at every step (off for
    the run). Values reading an `unknown` name (the bands of a sound file not on this machine)
    are not evaluated, and count as on.
    """
    from ..lang.schedules import check_time_value

    values = [(v, f"setting {name!r}", False, name) for name, v in schedules.items()]
    for name, w in weights.items():
        if w is not None:
            values += [
                (w.weight, f"weight of {name}", False, name),
                (w.stop, f"stop of {name}", True, None),
            ]
    for scene in scenes:
        for pr in scene.prompts:
            values += [
                (pr.weight, f"weight of prompt {shown(pr.source)}", False, None),
                (pr.stop, f"stop of prompt {shown(pr.source)}", True, None),
            ]
            if pr.mask.cutoff is not None:
                where = f"mask cutoff of prompt {shown(pr.source)}"
                values.append((pr.mask.cutoff, where, False, None))
    for d in direct:
        values += [
            (d.weight, f"weight of {shown(d.source)}", False, None),
            (d.stop, f"stop of {shown(d.source)}", True, None),
        ]
    unknown = frozenset(unknown)
    # failed to parse: reported already; reading what is unknown: cannot be checked here
    values = [v for v in values if v[0] is not None and not v[0].names_used & unknown]
    varying = sum(1 for v in values if not v[0].is_constant)
    if varying * clock.total_steps > MAX_EVALUATIONS:
        problems.append(
            f"scenes: {varying} values change over the run's {clock.total_steps:,} steps, "
            f"{varying * clock.total_steps:,} evaluations to check; at most "
            f"{MAX_EVALUATIONS:,}: make some weights constant, or the run shorter"
        )
        return frozenset()
    samples = clock.samples() if varying else [(0.0, 0.0)]  # constants are checked once
    off = set()
    for value, where, allow_inf, name in values:
        watched = Largest(value)
        try:
            if check_time_value(watched, samples, where, allow_inf=allow_inf) and name:
                off.add(name)
        except PyttiError as e:
            problems.append(str(e))
            continue
        if watched.largest > MAX_MAGNITUDE and not allow_inf:
            problems.append(
                f"{where}: {shown(value.text)} reaches {watched.largest:.3g}"
                + ("" if value.is_constant else " at some step")
                + f"; weights, cutoffs and scheduled values must stay within ±{MAX_MAGNITUDE:g}"
            )
    return frozenset(off)


class Largest:
    """A time value that records the largest finite magnitude it evaluates to."""

    __slots__ = ("value", "largest")

    def __init__(self, value):
        self.value, self.largest = value, 0.0

    @property
    def is_constant(self) -> bool:
        """Whether the value never changes."""
        return self.value.is_constant

    @property
    def names_used(self) -> frozenset:
        """The variables the value reads."""
        return self.value.names_used

    @property
    def text(self) -> str:
        """The value's source text, shortened for the messages that quote it."""
        return clipped(self.value.text, 80)

    def __call__(self, *args, **kwargs) -> float:
        """The value's result, recorded."""
        result = self.value(*args, **kwargs)
        if math.isfinite(result) and abs(result) > self.largest:
            self.largest = abs(result)
        return result
