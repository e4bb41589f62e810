"""Time values: a number, an expression of t, or a keyframe schedule over frames.

Accepted forms of a time value (a setting, or a prompt's weight/stop/cutoff):
    2.5                          a constant
    "2.5", "sin(t)*2"            an expression of t (seconds), see expressions.py
    "0:(1.0), 30:(2.5)"          a keyframe schedule: FRAME:(VALUE) pairs separated by ','
    "{0:(1.0), 30:(2.5)}"        the same in braces (required inside prompts)
    "0:1, 30:2.5"                bare values without parentheses also work

A schedule interpolates linearly by `frame` between keyframes and holds the first value
before the first keyframe and the last value after the last one. Each VALUE may itself
be an expression, evaluated at the current t and frame. Keyframe frames must be plain
non-negative numbers in strictly increasing order. Text is a schedule exactly when it has
a ':' outside parentheses (no allowed expression contains one).

The engine calls `value(t, frame)` every step, with the fractional animation frame
`frame = (step - pre_animation_steps) / steps_per_frame` and `t = frame / frames_per_second`
(config/clock.py). Extra variables (e.g. audio bands) go in as keywords.
"""

import bisect
import math
import numbers
import re
from collections.abc import Iterable

from pytti_nb.errors import ExpressionError, shown
from pytti_nb.lang.expressions import Expression, compile_expression

_FRAME_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")
_OPENERS, _CLOSERS = "([{", ")]}"


class TimeValue:
    """A number that may change over a run; call it as value(t, frame) to get a float."""

    __slots__ = ("text", "is_constant")

    def __call__(self, t: float, frame: float = 0.0, **extra: float) -> float:
        """Evaluate at time t (seconds) and fractional frame number `frame`."""
        raise NotImplementedError

    def _key(self) -> tuple:
        """Return what makes two time values equal."""
        raise NotImplementedError

    @property
    def names_used(self) -> frozenset:
        """The variables (t, frame, audio bands, depth) the value reads."""
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when the value is the constant 0 (off for the whole run, whatever t is)."""
        return self.is_constant and self(0.0) == 0.0

    def __eq__(self, other) -> bool:
        """Equal when the same kind with the same definition."""
        return isinstance(other, TimeValue) and self._key() == other._key()

    def __hash__(self) -> int:
        """Hash of the definition, so frozen dataclasses holding time values hash."""
        return hash(self._key())

    def __repr__(self) -> str:
        """Show the source text."""
        return f"{type(self).__name__}({self.text!r})"


class Constant(TimeValue):
    """A time value that never changes."""

    __slots__ = ("value",)

    def __init__(self, value: float, text: str | None = None):
        self.value = float(value)
        self.text = text if text is not None else repr(self.value)
        self.is_constant = True

    def __call__(self, t: float, frame: float = 0.0, **extra: float) -> float:
        """Return the constant."""
        return self.value

    @property
    def names_used(self) -> frozenset:
        """None: a constant reads no variable."""
        return frozenset()

    def _key(self) -> tuple:
        """Constants compare by value."""
        return ("constant", self.value)


class ExpressionValue(TimeValue):
    """A time value given by an expression of t (and of any extra variables)."""

    __slots__ = ("expression",)

    def __init__(self, expression: Expression):
        self.expression = expression
        self.text = expression.text
        self.is_constant = expression.is_constant

    def __call__(self, t: float, frame: float = 0.0, **extra: float) -> float:
        """Evaluate the expression with t, frame and the extra variables."""
        extra["t"] = t
        extra["frame"] = frame
        return self.expression.evaluate(extra)

    @property
    def names_used(self) -> frozenset:
        """The expression's variables."""
        return self.expression.names_used

    def _key(self) -> tuple:
        """Expressions compare by text and allowed names."""
        return ("expression", self.text, self.expression.names)


class KeyframeSchedule(TimeValue):
    """Linear interpolation by frame between (frame, value) keyframes."""

    __slots__ = ("frames", "values")

    def __init__(self, text: str, frames: tuple[float, ...], values: tuple[TimeValue, ...]):
        self.text = text
        self.frames = frames
        self.values = values
        self.is_constant = all(v.is_constant for v in values) and len({v(0.0) for v in values}) == 1

    def __call__(self, t: float, frame: float = 0.0, **extra: float) -> float:
        """Interpolate the two keyframes around `frame`, each evaluated at (t, frame)."""
        i = bisect.bisect_right(self.frames, frame) - 1
        if i < 0:
            return self.values[0](t, frame, **extra)
        if i >= len(self.frames) - 1:
            return self.values[-1](t, frame, **extra)
        alpha = (frame - self.frames[i]) / (self.frames[i + 1] - self.frames[i])
        a = self.values[i](t, frame, **extra)
        if alpha == 0.0:
            return a  # skip the next keyframe: 0 * inf would be nan
        b = self.values[i + 1](t, frame, **extra)
        return (1.0 - alpha) * a + alpha * b

    @property
    def names_used(self) -> frozenset:
        """The variables of every keyframe's value (and frame, which picks the keyframes)."""
        return frozenset({"frame"}).union(*(v.names_used for v in self.values))

    def _key(self) -> tuple:
        """Schedules compare by keyframes."""
        return ("schedule", self.frames, self.values)


def parse_time_value(
    value: str | int | float, *, names: Iterable[str] = ("t",), where: str = ""
) -> TimeValue:
    """Parse a number, keyframe schedule or expression of t into a TimeValue."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ExpressionError(f"{prefix}{shown(value)} is too large a number") from None
        return _checked_constant(Constant(number), prefix)
    if not isinstance(value, str):
        raise ExpressionError(
            f"{prefix}expected a number, an expression of t or a keyframe schedule "
            f"like '0:(1), 30:(2)', got {shown(value)}"
        )
    text = value.strip()
    if _top_level_colon(text) >= 0:
        result = _parse_schedule(text, tuple(names), where, prefix)
    else:
        result = ExpressionValue(compile_expression(text, names=names, where=where))
    if result.is_constant:
        result = Constant(result(0.0), text)
    return _checked_constant(result, prefix)


def parse_time_vector(
    value, size: int, *, names: Iterable[str] = ("t",), where: str = ""
) -> tuple[TimeValue, ...]:
    """Parse '[a, b, ...]' (or a list) of `size` time values, e.g. a quaternion [w, x, y, z]."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [part.strip() for part in _split_top_level(text, ",")]
    else:
        items = [value]
    if len(items) != size or any(item == "" for item in items):
        raise ExpressionError(
            f"{prefix}{shown(value)} has {len(items)} component(s); expected {size} values "
            f"separated by commas, e.g. [{', '.join(['1'] + ['0'] * (size - 1))}]"
        )
    return tuple(
        parse_time_value(item, names=names, where=f"{where} component {i + 1}".strip())
        for i, item in enumerate(items)
    )


def _checked_constant(value: TimeValue, prefix: str) -> TimeValue:
    """Reject a constant NaN, which can never be a useful weight, stop or cutoff."""
    if value.is_constant and math.isnan(value(0.0)):
        raise ExpressionError(f"{prefix}{shown(value.text)} is NaN (not a number)")
    return value


def _top_level_colon(text: str) -> int:
    """Index of the first ':' outside ( ) [ ] (and not ':='), or -1."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth <= 0 and text[i + 1 : i + 2] != "=":
            return i
    return -1


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside any brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_schedule(text: str, names: tuple, where: str, prefix: str) -> TimeValue:
    """Parse 'F:(V), F:(V), ...' (optionally in braces) into a KeyframeSchedule."""
    body = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    entries = _split_top_level(body, ",")
    if len(entries) > 1 and not entries[-1].strip():
        entries.pop()  # allow one trailing comma
    frames, values = [], []
    for entry in entries:
        key, colon, value_text = entry.partition(":")
        key, value_text = key.strip(), value_text.strip()
        if not colon or not _FRAME_NUMBER.fullmatch(key) or not value_text:
            raise ExpressionError(
                f"{prefix}keyframe {shown(entry.strip())} in schedule {shown(text)} is not "
                "FRAME:(VALUE) with FRAME a non-negative number, e.g. '0:(1.0), 30:(2.5)'"
            )
        frame = float(key)
        if frames and frame <= frames[-1]:
            raise ExpressionError(
                f"{prefix}keyframe {shown(entry.strip())} in schedule {shown(text)} is not after "
                f"frame {frames[-1]:g}; keyframe frames must strictly increase"
            )
        label = f"{where} keyframe {key}" if where else f"keyframe {key}"
        frames.append(frame)
        if _top_level_colon(value_text) >= 0:
            raise ExpressionError(
                f"{prefix}keyframe {shown(entry.strip())} in schedule {shown(text)}: a keyframe value "
                "cannot be another schedule; write FRAME:(EXPRESSION)"
            )
        values.append(parse_time_value(value_text, names=names, where=label))
    return KeyframeSchedule(text, tuple(frames), tuple(values))


def check_time_value(
    value: TimeValue,
    samples: Iterable[tuple],
    where: str,
    *,
    allow_inf: bool = False,
) -> bool:
    """Evaluate at every (t, frame[, extra]) sample, one per step; raise at the first failure.

    A result must be finite (or ±inf when `allow_inf`, e.g. for stops); NaN never passes.
    A constant is checked once, so a 10_000-step run costs nothing for it. Returns whether
    the value is zero at every sample.
    """
    if value.is_constant:
        samples = [(0.0, 0.0)]
    all_zero = True
    for step, sample in enumerate(samples):
        t, frame = sample[0], sample[1]
        extra = dict(sample[2]) if len(sample) > 2 else {}
        try:
            result = value(t, frame, **extra)
        except ExpressionError as err:
            message = str(err) if str(err).startswith(where) else f"{where}: {err}"
            raise ExpressionError(f"{message} (at step {step}, frame {frame:g})") from None
        bad = math.isnan(result) or (not allow_inf and math.isinf(result))
        if bad:
            at = "" if value.is_constant else f" at step {step} (t={t:g}, frame={frame:g})"
            allowed = "a number or ±inf" if allow_inf else "a finite number"
            raise ExpressionError(
                f"{where}: {shown(value.text)} evaluates to {result}{at}; it must be {allowed}"
            )
        all_zero = all_zero and result == 0
    return all_zero
