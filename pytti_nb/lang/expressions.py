"""Sandboxed arithmetic expressions of time (PyTTI's `parametric_eval`, without `eval`).

Grammar (a whitelisted subset of Python expression syntax):
    numbers          1  2.5  .9  1e-3  True/False   (every number becomes a float)
    names            the variables the caller allows (default: t) and the constants
                     pi e tau inf nan (a variable of the same name wins)
    numpy names      np.pi np.e np.inf np.nan np.euler_gamma and np.<function>(...) for the
                     functions in FUNCTIONS whose names start with 'np.'; no other dotted name
    arithmetic       + - * / // % **   unary + - not
    comparisons      < <= > >= == !=   (chains like 0 < t < 5 work)
    logic            a and b   a or b   a if cond else b
    calls            f(x, ...) of the functions in FUNCTIONS, positional args only; a list
                     [a, b, ...] only where a function takes one, e.g. prod([t, 2])

PyTTI evaluated with Python's `eval` and exposed abs max min pow round, every public name of
`math` and numpy as `np`. Here every math name that gives a number is a function (frexp and
modf give pairs, which need subscripts, so they are refused with a rewrite), and numpy's
scalar functions are whitelisted by their exact `np.<name>` spelling; `np` itself, other
attributes, subscripts, strings, lambdas, comprehensions, keyword arguments, ... are rejected
at compile time, before anything runs.

Every value is a float. Functions that give integers in Python (factorial comb perm gcd lcm
isqrt floor ceil trunc round) give the same whole number as a float, exact below 2**53, and
their integer arguments must be whole numbers. Work is bounded: `**` is `math.pow`, so
`9**9**9**9` overflows at once; factorial, comb, perm and lcm refuse results above the
largest float (about 1.8e308) before computing them; input size, node count and nesting
depth are bounded. np.<name> functions follow numpy (inf or nan instead of an error, e.g.
np.log(0) is -inf); everything else follows math (log(0) is an error). The checked syntax
tree is compiled into nested closures; evaluating one costs a few microseconds.
"""

import ast
import difflib
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import numpy as np

from pytti_nb.errors import ExpressionError, clipped, shown

MAX_LENGTH = 1000  # characters
MAX_NODES = 300  # expression nodes
MAX_DEPTH = 64  # nesting of expression nodes; a 64-term sum a+b+... is 64 deep
FLOAT_BITS = 1024  # every finite float is below 2**1024
MAX_FACTORIAL = 170  # 171! is above the largest float

CONSTANTS = {
    "pi": math.pi,
    "e": math.e,
    "tau": math.tau,
    "inf": math.inf,
    "nan": math.nan,
    "np.pi": math.pi,
    "np.e": math.e,
    "np.inf": math.inf,
    "np.nan": math.nan,
    "np.euler_gamma": 0.5772156649015329,
    # numpy 1 spellings, current when PyTTI was written
    "np.Inf": math.inf,
    "np.Infinity": math.inf,
    "np.PINF": math.inf,
    "np.NINF": -math.inf,
    "np.NaN": math.nan,
    "np.NAN": math.nan,
}


class Function(NamedTuple):
    """A whitelisted function and how it may be called."""

    fn: Callable
    low: int  # fewest arguments
    high: int | None  # most arguments, None for any number
    lists: frozenset = frozenset()  # argument positions that take a list [a, b, ...]
    one_list: bool = False  # may instead take one list of all its arguments, like max([a, b])


def _round(x, ndigits=None):
    """round() that accepts a whole-number float `ndigits`, since every literal is a float."""
    if ndigits is None:
        return float(round(x))
    if ndigits != int(ndigits):
        raise ValueError(f"round() needs a whole number of digits, got {shown(ndigits)}")
    return float(round(x, int(ndigits)))


def _as_float(fn: Callable) -> Callable:
    """Wrap an int-returning math function so values stay floats (no big-int arithmetic)."""
    return lambda x: float(fn(x))


def _whole(x, name: str) -> int:
    """An argument that must be a whole number, as an int (below 2**1024, like any float)."""
    if not float(x).is_integer():
        raise ValueError(f"{name}() needs whole numbers, got {shown(x)}")
    return int(x)


def _too_large(call: str) -> OverflowError:
    """The error for an integer result that no float can hold."""
    return OverflowError(f"{call} is above the largest float, about 1.8e308")


def _factorial(n):
    """n! as a float; refused before computing when above the largest float."""
    k = _whole(n, "factorial")
    if k > MAX_FACTORIAL:
        raise _too_large(f"factorial({n:g})")
    return float(math.factorial(k))


def _comb(n, k):
    """Ways to choose k of n, as a float; huge results are refused before computing."""
    a, b = _whole(n, "comb"), _whole(k, "comb")
    small = min(b, a - b)
    # comb(a, b) >= (a/small)**small, so this bound never refuses a result a float holds
    if a > 0 and small > 0 and small * (math.log2(a) - math.log2(small)) > FLOAT_BITS:
        raise _too_large(f"comb({n:g}, {k:g})")
    return float(math.comb(a, b))


def _perm(n, k=None):
    """Ordered choices of k of n (n! without k), as a float; huge results refused first."""
    if k is None:
        return _factorial(n)
    a, b = _whole(n, "perm"), _whole(k, "perm")
    # perm(a, b) >= b! and >= (a-b+1)**b
    if 0 < b <= a and (b > MAX_FACTORIAL or b * math.log2(a - b + 1) > FLOAT_BITS):
        raise _too_large(f"perm({n:g}, {k:g})")
    return float(math.perm(a, b))


def _isqrt(n):
    """Integer square root, as a float."""
    return float(math.isqrt(_whole(n, "isqrt")))


def _gcd(*numbers):
    """Greatest common divisor of whole numbers, as a float."""
    return float(math.gcd(*(_whole(x, "gcd") for x in numbers)))


def _lcm(*numbers):
    """Least common multiple of whole numbers, as a float; stops once above the largest float."""
    out = 1
    for x in numbers:
        out = math.lcm(out, _whole(x, "lcm"))
        if out.bit_length() > FLOAT_BITS:
            raise _too_large("lcm(...)")
    return float(out)


def _ldexp(x, i):
    """x * 2**i with a whole-number i."""
    return math.ldexp(x, _whole(i, "ldexp"))


def _numpy(fn: Callable) -> Callable:
    """Wrap a numpy function: a float result, numpy's inf/nan without its warnings."""

    def call(*args):
        with np.errstate(all="ignore"):
            return float(fn(*args))

    return call


_UNARY_MATH = (
    "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 exp2 cbrt "
    "log10 log2 log1p sqrt radians degrees fabs erf erfc gamma lgamma "
    "isfinite isinf isnan ulp"
).split()
_BINARY_MATH = "atan2 fmod copysign remainder nextafter isclose".split()
_NUMPY_UFUNCS = (
    "sin cos tan arcsin arccos arctan asin acos atan sinh cosh tanh arcsinh arccosh arctanh "
    "asinh acosh atanh exp exp2 expm1 log log2 log10 log1p sqrt cbrt square abs absolute fabs "
    "floor ceil trunc rint sign radians degrees deg2rad rad2deg negative positive reciprocal "
    "isfinite isinf isnan signbit "
    "arctan2 atan2 hypot power pow float_power mod remainder fmod floor_divide divide "
    "true_divide multiply add subtract maximum minimum fmax fmin copysign heaviside "
    "logaddexp logaddexp2 nextafter"
).split()
_ONE = frozenset({0})

# NumPy 2's array-API spellings; NumPy 1 only has the older names
_NUMPY_1_NAMES = {"pow": "power", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
                  "atan2": "arctan2", "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}  # fmt: skip


def _ufunc(name: str):
    """numpy's ufunc of this name, under its NumPy 1 name where NumPy 2's is missing."""
    return getattr(np, name, None) or getattr(np, _NUMPY_1_NAMES[name])


# Every function here is bounded in time and memory for the arguments an expression can
# give it: finite floats (below 2**1024), bools, and lists of at most MAX_NODES numbers.
FUNCTIONS: dict[str, Function] = {
    "abs": Function(abs, 1, 1),
    "max": Function(max, 2, None, one_list=True),
    "min": Function(min, 2, None, one_list=True),
    "pow": Function(math.pow, 2, 2),  # PyTTI's `pow` was math's: its math names came last
    "round": Function(_round, 1, 2),
    "log": Function(math.log, 1, 2),
    "hypot": Function(math.hypot, 1, None),
    **{name: Function(_as_float(getattr(math, name)), 1, 1) for name in ("floor", "ceil", "trunc")},
    **{name: Function(getattr(math, name), 1, 1) for name in _UNARY_MATH},
    **{name: Function(getattr(math, name), 2, 2) for name in _BINARY_MATH},
    "ldexp": Function(_ldexp, 2, 2),
    "factorial": Function(_factorial, 1, 1),
    "comb": Function(_comb, 2, 2),
    "perm": Function(_perm, 1, 2),
    "isqrt": Function(_isqrt, 1, 1),
    "gcd": Function(_gcd, 1, None),
    "lcm": Function(_lcm, 1, None),
    "prod": Function(math.prod, 1, 1, _ONE),
    "fsum": Function(math.fsum, 1, 1, _ONE),
    "dist": Function(math.dist, 2, 2, frozenset({0, 1})),
    **{
        f"np.{name}": Function(_numpy(ufunc), ufunc.nin, ufunc.nin)
        for name in _NUMPY_UFUNCS
        for ufunc in [_ufunc(name)]
    },
    "np.round": Function(_round, 1, 2),
    "np.around": Function(_round, 1, 2),
    "np.fix": Function(_numpy(np.fix), 1, 1),
    "np.sinc": Function(_numpy(np.sinc), 1, 1),
    "np.clip": Function(_numpy(np.clip), 3, 3),
    "np.where": Function(_numpy(np.where), 3, 3),
    "np.interp": Function(_numpy(np.interp), 3, 5, frozenset({1, 2})),
    **{
        f"np.{name}": Function(_numpy(getattr(np, name)), 1, 1, _ONE)
        for name in ("max", "min", "sum", "prod", "mean")
    },
}
BARE_FUNCTIONS = tuple(sorted(name for name in FUNCTIONS if "." not in name))
NUMPY_FUNCTIONS = tuple(sorted(name for name in FUNCTIONS if name.startswith("np.")))
LIST_FUNCTIONS = tuple(sorted(n for n, f in FUNCTIONS.items() if f.lists or f.one_list))
# Names that exist in PyTTI but cannot be offered, with what to write instead.
NOT_OFFERED = {
    "frexp": "frexp(x) gives a pair and expressions have no subscripts; its exponent is "
    "floor(log2(abs(x))) + 1 and its mantissa x / 2**exponent",
    "modf": "modf(x) gives a pair and expressions have no subscripts; write x - trunc(x) "
    "for the fraction and trunc(x) for the whole part",
    "np.random": "random numbers are not offered: an expression must give the same value every "
    "time (validation, the schedule preview and resuming evaluate it again)",
}

_BINARY_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: math.pow,  # float pow: overflows fast, never returns a complex number
}
_UNARY_OPS = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_}
_COMPARE_OPS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_NODE_KINDS = {
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Starred: "a starred argument",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Slice: "a slice",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
# Errors an allowed function or operator can raise on bad values.
_RUNTIME_ERRORS = (ArithmeticError, ValueError, TypeError)
_ALLOWED_SUMMARY = (
    "numbers, the names {names}, + - * / // % **, comparisons, and/or/not, "
    "'a if c else b' and calls of the allowed functions, np.<name> spellings included"
)


def _quote(text: str, limit: int = 80) -> str:
    """Return `text` quoted for a message, shortened if long."""
    return repr(clipped(text, limit))


def _explain(err: Exception) -> str:
    """Say in words what an arithmetic failure means."""
    if isinstance(err, OverflowError):
        return f"the result is too large ({err})"
    if isinstance(err, ValueError) and "domain" in str(err):
        return f"{err} (e.g. log or sqrt of a negative number, or asin(2))"
    return str(err)


def _prefix(where: str) -> str:
    """Return the 'where: ' lead-in of a message, or nothing."""
    return f"{where}: " if where else ""


class Expression:
    """A compiled, sandboxed expression; call it with variable values to get a float."""

    __slots__ = ("text", "where", "names", "names_used", "is_constant", "value", "_fn")

    def __init__(self, text, where, names, names_used, fn, value):
        self.text = text
        self.where = where
        self.names = names  # frozenset of variables it may use
        self.names_used = names_used  # frozenset of variables it does use
        self.is_constant = not names_used
        self.value = value  # the float result when constant, else None
        self._fn = fn

    def __call__(self, **values: float) -> float:
        """Evaluate with the variables given as keywords, e.g. expr(t=1.5)."""
        return self.evaluate(values)

    def evaluate(self, values: Mapping[str, float]) -> float:
        """Evaluate with the variables given as a mapping (no keyword-dict copy)."""
        try:
            return float(self._fn(values))
        except KeyError as err:
            raise ExpressionError(
                f"{_prefix(self.where)}expression {_quote(self.text)} needs a value "
                f"for {shown(err.args[0])}, but none was given"
            ) from None
        except _RUNTIME_ERRORS as err:
            given = ", ".join(f"{k}={shown(values.get(k))}" for k in sorted(self.names_used))
            at = f" at {given}" if given else ""
            raise ExpressionError(
                f"{_prefix(self.where)}expression {_quote(self.text)} fails{at}: {_explain(err)}"
            ) from None

    def __repr__(self) -> str:
        """Show the source text."""
        return f"Expression({self.text!r})"


def compile_expression(text: str, *, names: Iterable[str] = ("t",), where: str = "") -> Expression:
    """Check `text` against the whitelist and compile it; raises ExpressionError."""
    variables = _check_names(names, where)
    if not isinstance(text, str):
        raise ExpressionError(f"{_prefix(where)}expected an expression string, got {shown(text)}")
    source = text.strip()
    if not source:
        raise ExpressionError(
            f"{_prefix(where)}expression is empty; expected a number or an expression "
            f"of {', '.join(sorted(variables)) or 'constants'}"
        )
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"{_prefix(where)}expression {_quote(source)} is {len(source)} characters "
            f"long; at most {MAX_LENGTH} are allowed"
        )
    tree = _parse(source, where)
    _check_size(tree, source, where)
    fn, used = _Compiler(source, where, variables).compile(tree.body)
    value = None
    if not used:
        value = Expression(source, where, variables, frozenset(), fn, None).evaluate({})
        fn = _constant(value)
    return Expression(source, where, variables, frozenset(used), fn, value)


def _check_names(names: Iterable[str], where: str) -> frozenset:
    """Validate the variable names a caller allows."""
    if isinstance(names, str):
        names = (names,)
    variables = frozenset(names)
    for name in variables:
        if not (isinstance(name, str) and name.isidentifier()) or name in FUNCTIONS:
            raise ExpressionError(
                f"{_prefix(where)}{shown(name)} cannot be a variable name: use a Python "
                f"identifier that is not one of the functions {', '.join(BARE_FUNCTIONS)}"
            )
    return variables


def _parse(source: str, where: str) -> ast.Expression:
    """Parse with Python's parser, turning every parser failure into ExpressionError."""
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as err:
        caret = ""
        if err.offset and err.lineno == 1 and len(source) <= 120 and "\n" not in source:
            caret = f"\n  {source}\n  {' ' * (err.offset - 1)}^"
        raise ExpressionError(
            f"{_prefix(where)}expression {_quote(source)} is not valid: {err.msg}{caret}"
        ) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise ExpressionError(
            f"{_prefix(where)}expression {_quote(source)} cannot be parsed "
            f"({type(err).__name__}); simplify it"
        ) from None


def _check_size(tree: ast.Expression, source: str, where: str) -> None:
    """Bound node count and nesting depth without recursing (deep trees are the attack)."""
    stack, count = [(tree.body, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            limit = (
                f"more than {MAX_NODES} parts"
                if count > MAX_NODES
                else (f"nesting deeper than {MAX_DEPTH}")
            )
            raise ExpressionError(
                f"{_prefix(where)}expression {_quote(source)} is too complex ({limit}); simplify it"
            )
        stack.extend((c, depth + 1) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))


def _constant(value):
    """Return a closure that ignores the variables and returns `value`."""
    return lambda env: value


def _dotted(node: ast.AST) -> str | None:
    """'np.sin' for np.sin, 'a.b.c' for a chain of names; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'did you mean a, b? ' for the nearest candidates, or nothing."""
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}? " if close else ""


def _not_offered(dotted: str) -> str | None:
    """Why a PyTTI name is not offered, or None."""
    for name, reason in NOT_OFFERED.items():
        if dotted == name or dotted.startswith(name + "."):
            return reason
    return None


def _numpy_hint(dotted: str) -> str:
    """What to say about an np.<name> that is not on the whitelist."""
    offered = ", ".join(n[3:] for n in NUMPY_FUNCTIONS)
    hint = _did_you_mean(dotted, [*NUMPY_FUNCTIONS, *CONSTANTS])
    return (
        f"{hint}numpy functions offered: np.<name> for {offered}; "
        "constants: np.pi np.e np.inf np.nan np.euler_gamma"
    )


class _Compiler:
    """Turns a size-checked syntax tree into closures `f(env) -> value`, rejecting the rest."""

    def __init__(self, source: str, where: str, variables: frozenset):
        self.source = source
        self.where = where
        self.variables = variables

    def fail(self, node: ast.AST, problem: str) -> ExpressionError:
        """Build an error that quotes the offending part of the source."""
        part = ast.get_source_segment(self.source, node) or type(node).__name__
        return ExpressionError(
            f"{_prefix(self.where)}expression {_quote(self.source)}: {_quote(part, 60)} {problem}"
        )

    def compile(self, node: ast.AST) -> tuple[Callable, frozenset]:
        """Compile one node; returns the closure and the variables it reads."""
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            kind = _NODE_KINDS.get(type(node), f"a {type(node).__name__} expression")
            allowed = _ALLOWED_SUMMARY.format(names=", ".join(self._all_names()))
            raise self.fail(node, f"is {kind}, which is not allowed; allowed are {allowed}")
        fn, used = method(node)
        if not used and not isinstance(node, ast.Constant):
            fn = self._fold(fn)
        return fn, used

    def _fold(self, fn: Callable) -> Callable:
        """Pre-compute a constant sub-expression; failures stay lazy (it may be unused)."""
        try:
            return _constant(fn({}))
        except _RUNTIME_ERRORS:
            return fn

    def _all_names(self) -> list[str]:
        """Return the variables and constants an expression may name (numpy's aside)."""
        bare = [c for c in CONSTANTS if "." not in c and c not in self.variables]
        return sorted(self.variables) + bare

    def _Constant(self, node: ast.Constant):
        """Numbers (and bools) become floats now, so integer arithmetic can never explode."""
        if type(node.value) not in (int, float, bool):
            kind = {str: "a string", bytes: "bytes", complex: "a complex number"}.get(
                type(node.value), f"the constant {shown(node.value)}"
            )
            raise self.fail(node, f"is {kind}; only real numbers are allowed")
        try:
            value = float(node.value)
        except OverflowError:
            raise self.fail(node, "is too large a number; write it as e.g. 1e300") from None
        return _constant(value), frozenset()

    def _Name(self, node: ast.Name):
        """A variable (looked up at call time) or a named constant."""
        name = node.id
        if name == "np":  # always numpy's namespace, so np.sin can never mean a variable's
            raise self.fail(node, "is numpy's namespace; use its names, e.g. np.sin(t) or np.pi")
        if name in self.variables:
            return (lambda env: float(env[name])), frozenset((name,))
        if name in CONSTANTS:
            return _constant(CONSTANTS[name]), frozenset()
        if name in FUNCTIONS:
            raise self.fail(node, f"is a function; call it, e.g. {name}(t)")
        hint = _did_you_mean(name, [*self.variables, *CONSTANTS])
        allowed = ", ".join(self._all_names())
        raise self.fail(node, f"is not a known name; {hint}allowed names: {allowed}")

    def _Attribute(self, node: ast.Attribute):
        """A numpy constant like np.pi; every other attribute is refused."""
        dotted = _dotted(node)
        if dotted in CONSTANTS:
            return _constant(CONSTANTS[dotted]), frozenset()
        if dotted in FUNCTIONS:
            raise self.fail(node, f"is a function; call it, e.g. {dotted}(t)")
        if dotted and _not_offered(dotted):
            raise self.fail(node, f"is not offered: {_not_offered(dotted)}")
        if dotted and dotted.startswith("np."):
            raise self.fail(node, f"is not one of the numpy names offered; {_numpy_hint(dotted)}")
        raise self.fail(
            node,
            "is attribute access, which is not allowed; the only dotted names are numpy's, "
            "e.g. np.sin(t) or np.pi",
        )

    def _UnaryOp(self, node: ast.UnaryOp):
        """Unary + - not."""
        op = _UNARY_OPS.get(type(node.op))
        if op is None:
            raise self.fail(
                node, "uses '~', which is not allowed; allowed unary operators: + - not"
            )
        x, used = self.compile(node.operand)
        return (lambda env: op(x(env))), used

    def _BinOp(self, node: ast.BinOp):
        """Binary arithmetic; bit operators and @ are rejected."""
        op = _BINARY_OPS.get(type(node.op))
        if op is None:
            raise self.fail(node, "uses an operator that is not allowed; allowed: + - * / // % **")
        a, used_a = self.compile(node.left)
        b, used_b = self.compile(node.right)
        return (lambda env: op(a(env), b(env))), used_a | used_b

    def _BoolOp(self, node: ast.BoolOp):
        """`and`/`or` with Python's short-circuit semantics."""
        parts = [self.compile(v) for v in node.values]
        fns = tuple(f for f, _ in parts)
        is_and = isinstance(node.op, ast.And)

        def bool_op(env):
            for f in fns[:-1]:
                x = f(env)
                if bool(x) != is_and:
                    return x
            return fns[-1](env)

        return bool_op, frozenset().union(*(u for _, u in parts))

    def _Compare(self, node: ast.Compare):
        """Comparisons, including chains; `is` and `in` are rejected."""
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE_OPS:
                raise self.fail(
                    node, "uses 'is' or 'in', which are not allowed; allowed: < <= > >= == !="
                )
            ops.append(_COMPARE_OPS[type(op)])
        parts = [self.compile(v) for v in (node.left, *node.comparators)]
        fns = tuple(f for f, _ in parts)
        pairs = tuple(zip(ops, fns[1:], strict=True))

        def compare(env):
            a = fns[0](env)
            for op, f in pairs:
                b = f(env)
                if not op(a, b):
                    return False
                a = b
            return True

        return compare, frozenset().union(*(u for _, u in parts))

    def _IfExp(self, node: ast.IfExp):
        """`a if c else b`; only the chosen branch runs."""
        test, used_t = self.compile(node.test)
        body, used_b = self.compile(node.body)
        other, used_o = self.compile(node.orelse)
        return (lambda env: body(env) if test(env) else other(env)), used_t | used_b | used_o

    def _Call(self, node: ast.Call):
        """A call of a whitelisted function, by name or np.<name>, with positional arguments."""
        name = self._function_name(node)
        if node.keywords:
            raise self.fail(node, f"passes keyword arguments to {name}(); give them by position")
        spec = FUNCTIONS[name]
        self._check_count(node, name, spec)
        parts = [self._argument(node, name, spec, i) for i in range(len(node.args))]
        args = tuple(f for f, _ in parts)
        used = frozenset().union(*(u for _, u in parts))
        fn = spec.fn
        if len(args) == 1:
            (a,) = args
            return (lambda env: fn(a(env))), used
        return (lambda env: fn(*[f(env) for f in args])), used

    def _function_name(self, node: ast.Call) -> str:
        """The whitelisted name a call calls, or an error saying what to write instead."""
        dotted = _dotted(node.func)
        if dotted in FUNCTIONS:
            return dotted
        called = dotted or ast.get_source_segment(self.source, node.func) or "?"
        raise self.fail(
            node, f"calls {shown(called)}, which is not allowed; {self._call_hint(node)}"
        )

    def _call_hint(self, node: ast.Call) -> str:
        """What to write instead of a call of something that is not a whitelisted function."""
        dotted = _dotted(node.func)
        if isinstance(node.func, ast.Constant) or dotted in self.variables or dotted in CONSTANTS:
            return "it is a number, not a function; to multiply, write * as in 2*(t + 1)"
        if dotted and _not_offered(dotted):
            return _not_offered(dotted)
        prefix, _, attr = (dotted or "").rpartition(".")
        if prefix not in ("", "np", "math", "numpy"):
            return "that is attribute access; the only dotted names are numpy's, e.g. np.sin(t)"
        if prefix == "np":
            return _numpy_hint(dotted)
        if prefix and attr in FUNCTIONS:
            return f"write {attr}(...) without the prefix"
        if prefix and f"np.{attr}" in FUNCTIONS:
            return f"write np.{attr}(...)"
        if dotted and f"np.{dotted}" in FUNCTIONS and dotted not in FUNCTIONS:
            return f"did you mean np.{dotted}(...), numpy's spelling?"
        hint = _did_you_mean(dotted, FUNCTIONS) if dotted else ""
        return (
            f"{hint}allowed functions: {', '.join(BARE_FUNCTIONS)}, and numpy's np.<name> "
            "spellings (np.sin, np.clip, np.where, ...)"
        )

    def _check_count(self, node: ast.Call, name: str, spec: Function) -> None:
        """Refuse a wrong number of arguments at compile time."""
        count = len(node.args)
        if spec.one_list and count == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)):
            return
        if spec.low <= count and (spec.high is None or count <= spec.high):
            return
        if spec.low == spec.high:
            wanted = f"{spec.low}"
        elif spec.high is None:
            wanted = f"{spec.low} or more"
        else:
            wanted = f"{spec.low} to {spec.high}"
        if spec.one_list:
            wanted += ", or one list [a, b, ...]"
        raise self.fail(node, f"gives {name}() {count} argument(s); it takes {wanted}")

    def _argument(self, node: ast.Call, name: str, spec: Function, i: int):
        """Compile argument i: a number, or a list literal where the function takes one."""
        arg = node.args[i]
        is_list = isinstance(arg, (ast.List, ast.Tuple))
        wants_list = i in spec.lists or (spec.one_list and len(node.args) == 1)
        if wants_list and not is_list:
            raise self.fail(
                node,
                f"gives {name}() a number as argument {i + 1}; it takes a "
                f"list there, e.g. {name}([t, 1, 2])",
            )
        if not is_list:
            return self.compile(arg)
        if not wants_list:
            raise self.fail(
                arg,
                f"is a list; {name}() takes numbers; only {', '.join(LIST_FUNCTIONS)} take lists",
            )
        parts = [self.compile(item) for item in arg.elts]
        items = tuple(f for f, _ in parts)
        return (lambda env: tuple(f(env) for f in items)), frozenset().union(*(u for _, u in parts))
