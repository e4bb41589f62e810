"""Tests for time values: constants, expressions of t and keyframe schedules."""

import math

import pytest
from work import measured

from pytti_nb.errors import ExpressionError
from pytti_nb.lang.schedules import (
    Constant,
    ExpressionValue,
    KeyframeSchedule,
    check_time_value,
    parse_time_value,
    parse_time_vector,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (2, 2.0),
        (-0.5, -0.5),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-inf", -math.inf),
        ("2*pi", 2 * math.pi),
    ],
)
def test_constants(value, expected):
    """Numbers and variable-free expressions become constants."""
    result = parse_time_value(value)
    assert isinstance(result, Constant) and result.is_constant
    assert result(0.0, 0.0) == expected == result(99.0, 1234.0)


def test_expression_of_t():
    """An expression uses t in seconds; frame is ignored unless named."""
    value = parse_time_value("sin(t)*2")
    assert isinstance(value, ExpressionValue) and not value.is_constant
    assert value(1.0, 7.0) == pytest.approx(2 * math.sin(1.0))
    assert value.text == "sin(t)*2"


def test_extra_variables_pass_as_keywords():
    """Audio bands and other variables are keywords of the call."""
    value = parse_time_value("10*fHi + t", names=("t", "fHi"))
    assert value(1.0, 0.0, fHi=0.5) == 6.0
    with pytest.raises(ExpressionError, match="needs a value for 'fHi'"):
        value(1.0, 0.0)


@pytest.mark.parametrize(
    "text",
    [
        "0:(1.0), 30:(2.5), 60:(0)",
        "{0:(1.0), 30:(2.5), 60:(0)}",
        "0:1, 30:2.5, 60:0",
        " { 0 : ( 1 ) , 30:(2.5),60:(0), } ",
    ],
)
@pytest.mark.parametrize(
    "frame, expected",
    [(-5.0, 1.0), (0.0, 1.0), (15.0, 1.75), (30.0, 2.5), (45.0, 1.25), (60.0, 0.0), (1000.0, 0.0)],
)
def test_schedule_interpolates_by_frame_and_holds_ends(text, frame, expected):
    """Linear between keyframes; held before the first and after the last."""
    value = parse_time_value(text)
    assert isinstance(value, KeyframeSchedule) and not value.is_constant
    assert value(123.0, frame) == pytest.approx(expected)


def test_schedule_starting_after_zero_holds_first_value():
    """Before a late first keyframe the first value holds."""
    value = parse_time_value("10:(4), 20:(8)")
    assert value(0.0, 0.0) == 4.0 and value(0.0, 12.5) == 5.0 and value(0.0, 25.0) == 8.0


def test_schedule_values_are_expressions_of_t():
    """Keyframe values may be expressions, evaluated at the current t and frame."""
    value = parse_time_value("0:(t), 10:(2*t)")
    assert value(3.0, 0.0) == 3.0
    assert value(3.0, 5.0) == pytest.approx(0.5 * 3.0 + 0.5 * 6.0)
    assert value(3.0, 10.0) == 6.0


def test_schedule_does_not_evaluate_next_keyframe_on_a_keyframe():
    """Exactly on a keyframe the next value is not mixed in, so inf/nan cannot leak."""
    value = parse_time_value("0:(-inf), 10:(0.5)")
    assert value(0.0, 0.0) == -math.inf and value(0.0, 10.0) == 0.5


def test_schedule_of_equal_constants_is_constant():
    """A schedule that never changes is reported (and stored) as a constant."""
    value = parse_time_value("0:(2), 30:(2)")
    assert value.is_constant and value(0.0, 15.0) == 2.0 and value.text == "0:(2), 30:(2)"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0:(1), 30:(2), 20:(3)", "'20:\\(3\\)' .* is not after frame 30"),
        ("0:(1), 0:(2)", "'0:\\(2\\)' .* strictly increase"),
        ("-1:(1), 30:(2)", "'-1:\\(1\\)' .* non-negative number"),
        ("nan:(1)", "'nan:\\(1\\)'"),
        ("t:(1)", "'t:\\(1\\)'"),
        ("0:(1), 30", "'30' in schedule"),
        ("0:(1), 30:", "'30:' in schedule"),
        ("0:(1),, 30:(2)", "'' in schedule"),
        ("0:{0:(1)}", "cannot be another schedule"),
        ("0:(1/0)", "keyframe 0: expression '\\(1/0\\)' fails"),
        ("0:(foo)", "'foo' is not a known name"),
    ],
)
def test_bad_schedules(text, fragment):
    """Malformed keyframes raise ExpressionError quoting the bad keyframe."""
    with pytest.raises(ExpressionError, match=fragment):
        parse_time_value(text, where="setting 'zoom'")


@pytest.mark.parametrize("value", [None, [1, 2], True, float("nan"), "nan", 10**400])
def test_bad_values(value):
    """Non-numbers, booleans, NaN and overflowing numbers are rejected."""
    with pytest.raises(ExpressionError):
        parse_time_value(value)


def test_equality_and_hash():
    """Time values compare by definition, so frozen dataclasses holding them compare."""
    assert parse_time_value(1) == parse_time_value("1") == Constant(1.0)
    assert parse_time_value("sin(t)") == parse_time_value("sin(t)")
    assert parse_time_value("sin(t)") != parse_time_value("cos(t)")
    assert parse_time_value("0:(1), 9:(t)") == parse_time_value("0:(1), 9:(t)")
    assert len({parse_time_value("t"), parse_time_value("t"), Constant(2.0)}) == 2


def _samples(steps, steps_per_frame=10, fps=12):
    """(t, frame) for every step of a run."""
    for step in range(steps):
        frame = step / steps_per_frame
        yield frame / fps, frame


def test_check_passes_a_good_value_over_a_long_run_cheaply():
    """10_000 steps of an expression check at a few dozen calls a step (~14 seen), without
    parsing again per step and in little memory. Timings: the benchmark."""
    with measured() as cost:
        check_time_value(parse_time_value("sin(t)*2 + 0.1*t"), _samples(10_000), "setting 'w'")
        check_time_value(parse_time_value("0:(1), 500:(t)"), _samples(10_000), "setting 'w'")
    assert cost["calls"] < 2 * 10_000 * 50 and cost["peak_mb"] < 5, cost


def test_check_reports_first_failing_step():
    """A failure names the setting, the step and t."""
    value = parse_time_value("1/(frame - 3)", names=("t", "frame"), where="setting 'w'")
    with pytest.raises(ExpressionError) as info:
        check_time_value(value, _samples(100), "setting 'w'")
    message = str(info.value)
    assert message.count("setting 'w'") == 1
    assert "at step 30" in message and "division by zero" in message


def test_check_rejects_non_finite_results():
    """inf fails unless allowed (stops); NaN always fails."""
    value = parse_time_value("0:(1), 10:(inf)")
    check_time_value(value, _samples(200), "stop", allow_inf=True)
    with pytest.raises(
        ExpressionError, match=r"evaluates to inf at step 1 \(t=0.00833333, frame=0.1\)"
    ):
        check_time_value(value, _samples(200), "weight")
    nan_value = parse_time_value("0:(inf), 10:(-inf)")
    with pytest.raises(ExpressionError, match="evaluates to nan at step 1 "):
        check_time_value(nan_value, _samples(200), "stop", allow_inf=True)


def test_check_evaluates_constants_once():
    """A constant is checked without touching the samples."""

    def exploding_samples():
        raise AssertionError("samples must not be read for a constant")
        yield

    check_time_value(parse_time_value("-inf"), exploding_samples(), "stop", allow_inf=True)
    with pytest.raises(ExpressionError, match="'inf' evaluates to inf; it must be a finite number"):
        check_time_value(parse_time_value("inf"), exploding_samples(), "weight")


def test_check_passes_extra_variables():
    """A third sample item supplies extra variables such as audio bands."""
    value = parse_time_value("1/fHi", names=("t", "fHi"))
    check_time_value(value, [(0.0, 0.0, {"fHi": 1.0}), (0.1, 1.0, {"fHi": 2.0})], "w")
    with pytest.raises(ExpressionError, match="at step 1"):
        check_time_value(value, [(0.0, 0.0, {"fHi": 1.0}), (0.1, 1.0, {"fHi": 0.0})], "w")


def test_numpy_spellings_and_lists_inside_schedules_and_vectors():
    """np.<name> calls and list arguments work in keyframes and [w, x, y, z] vectors."""
    value = parse_time_value("0:(np.clip(t, 0, 1)), 10:(np.interp(t, [0, 10], [0, 5]))")
    assert value(4.0, 5.0) == pytest.approx(0.5 * 1.0 + 0.5 * 2.0)
    w, x, y, z = parse_time_vector("[np.cos(t), 0, np.sin(t), max([t, 0])]", 4)
    assert (w(0.0), y(0.0), z(-1.0)) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("3", set()),
        ("2*t", {"t"}),
        ("r - R + t", {"t", "r", "R"}),
        ("0:(1), 10:(mu)", {"frame", "mu"}),
        ("sin(pi)", set()),
    ],
)
def test_a_time_value_knows_the_variables_it_reads(text, names):
    value = parse_time_value(text, names=("t", "r", "R", "mu"))
    assert value.names_used == frozenset(names)
