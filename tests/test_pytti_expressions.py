"""PyTTI's expression names in the sandbox: every math name, numpy's np.<name>, and bounds."""

import itertools
import math

import numpy as np
import pytest
from work import measured

from pytti_nb.config.settings import from_dict
from pytti_nb.config.variables import expression_names, mentioned_names
from pytti_nb.errors import ExpressionError
from pytti_nb.lang.expressions import (
    BARE_FUNCTIONS,
    CONSTANTS,
    FUNCTIONS,
    NOT_OFFERED,
    NUMPY_FUNCTIONS,
    compile_expression,
)

PYTTI_NAMES = ["abs", "max", "min", "pow", "round"] + [n for n in dir(math) if "_" not in n]


def pytti_eval(text: str, t: float):
    """PyTTI's parametric_eval (eval_tools.py): Python eval over abs max min pow round np math."""
    env = {"abs": abs, "max": max, "min": min, "pow": pow, "round": round, "np": np}
    env["__builtins__"] = None
    env.update({key: getattr(math, key) for key in dir(math) if "_" not in key})
    env["t"] = t
    with np.errstate(all="ignore"):
        return eval(text, env)  # trusted test strings only: this is the reference behaviour


@pytest.mark.parametrize("name", PYTTI_NAMES)
def test_every_pytti_name_is_offered_or_explained(name):
    """Each name PyTTI's eval saw is a function or constant here, or refused with a rewrite."""
    assert name in FUNCTIONS or name in CONSTANTS or name in NOT_OFFERED
    if name in NOT_OFFERED:
        with pytest.raises(ExpressionError, match="gives a pair"):
            compile_expression(f"{name}(t)")


ARTIST_EXPRESSIONS = [
    "(50+10*t)*sin(t/10*pi)**2",
    "cos(radians(1.5))",
    "np.sin(t)",
    "np.cos(t*np.pi)",
    "np.sin(2*np.pi*t/4)*10",
    "np.clip(t, 0, 1)",
    "np.clip(t/5, 0.2, 0.8) + np.e",
    "np.abs(np.sin(t))",
    "np.sqrt(abs(t))",
    "np.exp(-t**2)",
    "np.log(t + 5)",
    "np.floor(t) + np.ceil(t)",
    "np.round(t, 1)",
    "np.sign(t)",
    "np.minimum(t, 0.5) + np.maximum(t, 0.25)",
    "np.tanh(t)",
    "np.arctan2(t, 1)",
    "np.radians(30) + np.degrees(t)",
    "np.mod(t, 1)",
    "np.power(2, t)",
    "np.fmod(t, 0.3)",
    "np.interp(t, [0, 1, 2], [0, 10, 0])",
    "np.where(t > 1, 1, 0)",
    "np.log(0) < -1e300",
    "factorial(5) * t",
    "comb(5, 2) + perm(5, 2) + perm(4)",
    "gcd(12, 18) + lcm(4, 6) + isqrt(17)",
    "ldexp(t, 3)",
    "t // 1",
    "round(t)",
    "round(t, 1)",
    "trunc(t) + floor(t) + ceil(t)",
    "prod([t, 2, 3])",
    "fsum([t, 0.1, 0.2])",
    "dist([0, 0], [t, 1])",
    "max([t, 1]) + min(t, 1)",
    "erf(t) + gamma(t + 2) + lgamma(t + 2)",
    "copysign(1, t) + fabs(t)",
    "pow(2, t) + exp2(t) + cbrt(t)",
    "isclose(t, 0.5) + isfinite(t)",
    "2 if 0 < t < 1 else 0.5",
]


@pytest.mark.parametrize("text", ARTIST_EXPRESSIONS)
@pytest.mark.parametrize("t", [-1.25, 0.0, 0.5, 2.75])
def test_same_values_as_pyttis_eval(text, t):
    """Artist-style expressions give PyTTI's values, as floats."""
    ours = compile_expression(text)(t=t)
    assert type(ours) is float
    assert ours == pytest.approx(float(pytti_eval(text, t)), nan_ok=True)


def test_numpy_spellings_keep_numpys_inf_and_nan():
    """np.<name> follows numpy (inf or nan), the bare math names raise, as in PyTTI."""
    assert compile_expression("np.log(t)")(t=0.0) == -math.inf
    assert math.isnan(compile_expression("np.sqrt(t)")(t=-1.0))
    assert compile_expression("max(np.log(t), 0)")(t=0.0) == 0.0
    with pytest.raises(ExpressionError, match="domain"):
        compile_expression("log(t)")(t=0.0)


def test_integer_results_are_exact_whole_floats():
    """Integer functions give Python's integer as a float, exact below 2**53."""
    for text, exact in [
        ("factorial(20)", math.factorial(20)),
        ("comb(52, 5)", math.comb(52, 5)),
        ("perm(30, 10)", math.perm(30, 10)),
        ("factorial(170)", math.factorial(170)),
        ("comb(1000, 100)", math.comb(1000, 100)),
        ("lcm(2**40, 3**20)", math.lcm(2**40, 3**20)),
        ("isqrt(2**100)", 2**50),
    ]:
        result = compile_expression(text).value
        assert type(result) is float and result == float(exact)


@pytest.mark.parametrize(
    "text, t",
    [
        ("factorial(10**9)", 0.0),
        ("factorial(171)", 0.0),
        ("factorial(t)", 1e300),
        ("comb(10**6, 500000)", 0.0),
        ("comb(1e308, 2)", 0.0),
        ("comb(t, t/2)", 1e15),
        ("perm(10**9, 10**5)", 0.0),
        ("perm(1000, 171)", 0.0),
        ("perm(t)", 1e200),
        ("lcm(" + ", ".join(f"t + {2 * k}" for k in range(30)) + ")", 2.0**50 + 1),
    ],
)
def test_huge_integer_results_fail_fast(text, t):
    """A result above the largest float is an error before any huge integer is built."""
    with measured() as cost:
        with pytest.raises(ExpressionError, match="above the largest float|too large"):
            compile_expression(text)(t=t)
    assert cost["peak_mb"] < 1 and cost["calls"] < 100_000, cost


def test_big_but_bounded_arguments_are_quick():
    """The largest arguments a float allows build no huge integers: little memory and work."""
    with measured() as cost:
        assert compile_expression("isqrt(1e308)").value == pytest.approx(1e154)
        assert compile_expression("gcd(1e308, 2**1000)").value > 0
        assert compile_expression("comb(1e308, 1)").value == 1e308
        assert compile_expression("ldexp(1, -1e300)").value == 0.0
        assert compile_expression("prod([1e300, 1e300])").value == math.inf  # checked later
        with pytest.raises(ExpressionError, match="too large"):
            compile_expression("ldexp(1, 1e300)")
    assert cost["peak_mb"] < 1 and cost["calls"] < 100_000, cost


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("factorial(2.5)", "needs whole numbers, got 2.5"),
        ("comb(5, 0.5)", "needs whole numbers"),
        ("gcd(1.5, 2)", "needs whole numbers"),
        ("isqrt(-1)", "nonnegative"),
        ("factorial(-1)", "negative"),
        ("factorial(inf)", "whole numbers, got inf"),
        ("perm(nan, 2)", "whole numbers, got nan"),
        ("ldexp(1, 0.5)", "whole numbers"),
    ],
)
def test_integer_arguments_must_be_whole(text, fragment):
    """Functions of integers refuse fractions, infinities and NaN with a clear message."""
    with pytest.raises(ExpressionError, match=fragment):
        compile_expression(text)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("prod(t)", r"takes a list there, e\.g\. prod\(\[t, 1, 2\]\)"),
        ("sin([t])", "is a list; sin.. takes numbers"),
        ("max(t)", "takes 2 or more, or one list"),
        ("[t, 1]", "is a list, which is not allowed"),
        ("prod([[t]])", "is a list, which is not allowed"),
        ("prod([*t])", "starred"),
        ("np.interp(t, 0, 1)", "takes a list there"),
        ("np.clip(t, [0], 1)", "is a list"),
    ],
)
def test_lists_only_where_a_function_takes_one(text, fragment):
    """A list literal is an argument of prod, fsum, dist, max, min and a few np names only."""
    with pytest.raises(ExpressionError, match=fragment):
        compile_expression(text)


def test_list_argument_errors_at_run_time():
    """Mismatched or empty lists fail like Python's, as ExpressionError."""
    with pytest.raises(ExpressionError, match="same number of dimensions"):
        compile_expression("dist([t], [0, 1])")(t=1.0)
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression("max([])")
    assert compile_expression("max([t])")(t=2.0) == 2.0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("np", "is numpy's namespace"),
        ("np + 1", "is numpy's namespace"),
        ("np.__class__", "not one of the numpy names offered"),
        ("np.sin.__call__(t)", "attribute access"),
        ("np.sin(t).real", "attribute access"),
        ("t.real", "attribute access"),
        ("np.linspace(0, 1, 5)", "not allowed; did you mean"),
        ("np.sinn(t)", "did you mean np.sin"),
        ("np.random.rand()", "random numbers are not offered"),
        ("np.random", "random numbers are not offered"),
        ("np.sin", r"is a function; call it, e\.g\. np\.sin\(t\)"),
        ("np.pi(2)", "is a number, not a function"),
        ("2(t + 1)", "to multiply, write"),
        ("numpy.sin(t)", r"write sin\(\.\.\.\) without the prefix"),
        ("numpy.clip(t, 0, 1)", r"write np\.clip\(\.\.\.\)"),
        ("clip(t, 0, 1)", r"did you mean np\.clip"),
        ("sine(t)", "did you mean sin"),
        ("euler_gamma", r"did you mean np\.euler_gamma"),
        ("np.sin(t, out=t)", "keyword arguments"),
    ],
)
def test_only_whitelisted_dotted_names(text, fragment):
    """np.<name> works only for whitelisted names; the rest is refused with a hint."""
    with pytest.raises(ExpressionError, match=fragment):
        compile_expression(text)


def test_a_variable_named_np_cannot_shadow_numpy():
    """np is always numpy's namespace, even where a caller names a variable np."""
    expr = compile_expression("np.sin(t)", names=("t", "np", "sin2"))
    assert expr(t=1.0, np=5.0) == math.sin(1.0) and expr.names_used == {"t"}
    with pytest.raises(ExpressionError, match="numpy's namespace"):
        compile_expression("np", names=("t", "np"))


def test_numpy_constants():
    """numpy's constants, including numpy 1's spellings of inf and nan."""
    assert compile_expression("np.pi + np.e").value == math.pi + math.e
    assert compile_expression("np.NINF").value == -math.inf
    assert compile_expression("np.Inf").value == math.inf
    assert math.isnan(compile_expression("np.NaN").value)
    assert compile_expression("np.euler_gamma").value == pytest.approx(np.euler_gamma)


def test_audio_band_names_get_hints_and_work_with_numpy():
    """Band names from input_audio_filters are variables; a near miss gets a did-you-mean."""
    names = expression_names([{"variable_name": "fLo", "f_center": 80, "f_width": 40}])
    assert names == ("t", "fLo", "fLo_prev")
    expr = compile_expression("np.clip(10*fLo - fLo_prev, 0, 1)", names=names)
    assert expr(t=0.0, fLo=0.05, fLo_prev=0.2) == pytest.approx(0.3)
    with pytest.raises(
        ExpressionError, match=r"did you mean fLo\? allowed names: fLo, fLo_prev, t"
    ):
        compile_expression("10*flo", names=names)


def test_settings_accept_numpy_expressions():
    """A setting's own syntax check (which allows any mentioned name) accepts np spellings."""
    assert "np" in mentioned_names("np.clip(t, 0, 1)")
    settings = from_dict(
        {
            "animation_mode": "3D",
            "translate_x": "np.sin(t)*np.pi",
            "rotate_3d": "[np.cos(t), 0, np.sin(t), 0]",
            "smoothing_weight": "np.clip(t, 0, 1)",
            "scenes": "a red circle:np.clip(t, 0, 1) | a blue square:np.where(t > 1, 2, 1)",
        }
    )
    assert settings.translate_x == "np.sin(t)*np.pi"


def _arguments(name, spec):
    """Argument texts for a call of `name`: variables, or lists of them where it takes lists."""
    count = spec.low if spec.high is None or spec.low > 1 else min(spec.high, 2)
    if count == 1 and spec.one_list:
        return ["[a, b]"]
    return ["[a, b]" if i in spec.lists else "abc"[i % 3] for i in range(count)]


SPECIAL = (0.0, -1.0, 0.5, 2.0, 171.0, 2.0**53, 1e308, -1e308, math.inf, -math.inf, math.nan)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_total_and_cheap_on_special_values(name):
    """Every function gives a float or ExpressionError on extreme values, cheaply (no huge
    integer built: little memory, a bounded number of calls per evaluation)."""
    args = _arguments(name, FUNCTIONS[name])
    expr = compile_expression(f"{name}({', '.join(args)})", names=("a", "b", "c"))
    cases = list(itertools.product(SPECIAL, SPECIAL, (0.0, 3.0)))
    with measured() as cost:
        for a, b, c in cases:
            try:
                result = expr.evaluate({"a": a, "b": b, "c": c})
            except ExpressionError:
                continue
            assert type(result) is float
    assert cost["peak_mb"] < 5 and cost["calls"] < 1_000 * len(cases), cost


def test_numpy_evaluation_is_cheap():
    """np.<name> calls evaluate without parsing again (~65 calls each; weights are evaluated
    every step). Timings: the benchmark."""
    expr = compile_expression("np.sin(t)*np.clip(t, 0, 1) + np.interp(t, [0, 9], [1, 2])")
    with measured() as cost:
        for i in range(10_000):
            expr.evaluate({"t": i * 0.01})
    assert cost["calls"] < 10_000 * 200, cost


def test_name_tables():
    """The bare names are PyTTI's; the np names are exactly those spelled np.<name>."""
    assert set(BARE_FUNCTIONS) == set(PYTTI_NAMES) - set(CONSTANTS) - set(NOT_OFFERED)
    assert all(name.startswith("np.") for name in NUMPY_FUNCTIONS)
    assert set(BARE_FUNCTIONS) | set(NUMPY_FUNCTIONS) == set(FUNCTIONS)
