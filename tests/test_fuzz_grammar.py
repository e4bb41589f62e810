"""Fuzz the grammar: parsers return or raise our own errors, never anything else, never hang."""

import functools
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from work import measured

from pytti_nb.errors import ExpressionError, PyttiError
from pytti_nb.lang.expressions import FUNCTIONS, compile_expression
from pytti_nb.lang.prompts import parse_direct_image_prompts, parse_prompt, parse_scenes
from pytti_nb.lang.schedules import parse_time_value

# derandomize: the same examples every run, so CI never flakes; no wall-clock deadline:
# `bounded` bounds each example's work instead, the same on any machine however loaded
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
MAX_CALLS = 100_000  # function calls one example may make (tests/work.py; ~1,300 seen)
MAX_PEAK_MB = 10  # Python memory one example may take (~0.05 MB seen)


def bounded(test):
    """The test, failing when one example takes more than MAX_CALLS calls or MAX_PEAK_MB."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        with measured() as cost:
            test(*args, **kwargs)
        assert cost["calls"] < MAX_CALLS and cost["peak_mb"] < MAX_PEAK_MB, cost

    return run


GRAMMAR_ALPHABET = "[]{}():_|-.0123456789atrs "
EXPRESSION_ALPHABET = "t0123456789.+-*/%()<>=!, e_sincoxpqrlgabmfdh"
SAMPLE_TIMES = ((-1.0, -12.0), (0.0, 0.0), (0.5, 6.0), (3.0, 36.5), (1e6, 1.2e7))

any_text = st.text(max_size=200)
grammar_text = st.text(alphabet=GRAMMAR_ALPHABET, max_size=60)
expression_text = st.text(alphabet=EXPRESSION_ALPHABET, max_size=60)


def _leaf():
    """Numbers, constants and t."""
    return st.sampled_from(["t", "pi", "e", "inf", "nan", "0", "1", "-2.5", "1e308", "0.5", "True"])


def _extend(children):
    """Combine sub-expressions with every allowed construct."""
    ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", "and", "or"])
    binary = st.tuples(children, ops, children).map(lambda p: f"({p[0]} {p[1]} {p[2]})")
    unary = st.tuples(st.sampled_from(["-", "+", "not "]), children).map(
        lambda p: f"({p[0]}{p[1]})"
    )
    ternary = st.tuples(children, children, children).map(
        lambda p: f"({p[0]} if {p[1]} else {p[2]})"
    )
    call = st.sampled_from(sorted(FUNCTIONS)).flatmap(
        lambda name: st.lists(
            children, min_size=FUNCTIONS[name][1], max_size=FUNCTIONS[name][1]
        ).map(lambda args: f"{name}({', '.join(args)})")
    )
    return binary | unary | ternary | call


valid_expression = st.recursive(_leaf(), _extend, max_leaves=12)


def _evaluate_or_expression_error(value, *args) -> None:
    """Call a compiled value; a float or ExpressionError is fine, anything else fails."""
    try:
        result = value(*args)
    except ExpressionError:
        return
    assert type(result) is float


def _check_time_values(values) -> None:
    """Evaluate each time value at a few (t, frame) pairs."""
    for value in values:
        for t, frame in SAMPLE_TIMES:
            _evaluate_or_expression_error(value, t, frame)


def _parse_or_pytti_error(parse, text):
    """Run a parser; return its result, or None when it raised a PyttiError."""
    try:
        return parse(text)
    except PyttiError as e:
        assert str(e).strip(), "our error carries a message"
        return None


@FUZZ
@given(st.one_of(any_text, grammar_text))
@bounded
def test_parse_prompt_total(text):
    """parse_prompt returns a Prompt whose fields evaluate, or raises PyttiError."""
    prompt = _parse_or_pytti_error(parse_prompt, text)
    if prompt is not None:
        assert (prompt.text is None) != (prompt.image is None)
        cutoff = [prompt.mask.cutoff] if prompt.mask.cutoff is not None else []
        _check_time_values([prompt.weight, prompt.stop, *cutoff])


@FUZZ
@given(st.one_of(any_text, grammar_text), grammar_text, grammar_text)
@bounded
def test_parse_scenes_total(scenes, prefix, suffix):
    """parse_scenes returns PyTTI's scenes (one per non-empty '||' part), or PyttiError."""
    result = _parse_or_pytti_error(lambda s: parse_scenes(s, prefix, suffix), scenes)
    if result is not None:
        assert len(result) == sum(1 for part in scenes.split("||") if part)
        assert all(p.source for scene in result for p in scene.prompts)


@FUZZ
@given(st.one_of(any_text, grammar_text))
@bounded
def test_parse_direct_image_prompts_total(text):
    """parse_direct_image_prompts returns prompts or raises PyttiError."""
    result = _parse_or_pytti_error(parse_direct_image_prompts, text)
    if result is not None:
        _check_time_values([v for p in result for v in (p.weight, p.stop)])


@FUZZ
@given(st.one_of(any_text, expression_text, valid_expression))
@bounded
def test_compile_expression_total(text):
    """compile_expression compiles or raises PyttiError; evaluating gives float/ExpressionError."""
    expression = _parse_or_pytti_error(compile_expression, text)
    if expression is not None:
        for t, _ in SAMPLE_TIMES:
            _evaluate_or_expression_error(expression.evaluate, {"t": t})


@FUZZ
@given(st.one_of(any_text, grammar_text, expression_text, valid_expression))
@bounded
def test_parse_time_value_total(text):
    """parse_time_value returns a TimeValue (never a constant NaN) or raises PyttiError."""
    value = _parse_or_pytti_error(parse_time_value, text)
    if value is not None:
        assert not (value.is_constant and math.isnan(value(0.0, 0.0)))
        _check_time_values([value])


@FUZZ
@given(valid_expression, valid_expression, st.floats(0, 100), st.floats(0, 100))
@bounded
def test_schedule_of_valid_expressions_total(a, b, f0, df):
    """Keyframe schedules built from arbitrary valid expressions behave like their parts."""
    text = f"{{{f0:.3f}:({a}), {f0 + df + 0.5:.3f}:({b})}}"
    value = _parse_or_pytti_error(parse_time_value, text)
    if value is not None:
        _check_time_values([value])
