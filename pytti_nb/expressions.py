"""Sandboxed arithmetic expressions of time (PyTTI's `parametric_eval`, without `eval`).

Grammar (a whitelisted subset of Python expression syntax):
    numbers          1  2.5  .9  1e-3  True/False   (every number becomes a float)
    names            the variables the caller allows (default: t, seconds) and the
                     constants pi e tau inf nan (a variable of the same name wins)
    arithmetic       + - * / // % **   unary + - not
    comparisons      < <= > >= == !=   (chains like 0 < t < 5 work)
    logic            a and b   a or b   a if cond else b
    calls            f(x, ...) of the functions in FUNCTIONS, positional args only

Anything else (attributes, subscripts, strings, lambdas, comprehensions, keyword
arguments, ...) is rejected at compile time, before anything runs. `**` uses
`math.pow`, so `9**9**9**9` fails fast with an overflow instead of building a huge
integer. Input size, node count and nesting depth are bounded. The checked syntax tree
is compiled into nested closures; evaluating one costs a few microseconds.
"""

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping

from pytti_nb.errors import ExpressionError

MAX_LENGTH = 1000  # characters
MAX_NODES = 300  # expression nodes
MAX_DEPTH = 64  # nesting of expression nodes; a 64-term sum a+b+... is 64 deep

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}


def _round(x, ndigits=None):
    """round() that accepts a whole-number float `ndigits`, since every literal is a float."""
    if ndigits is None:
        return float(round(x))
    if ndigits != int(ndigits):
        raise ValueError(f"round() needs a whole number of digits, got {ndigits!r}")
    return float(round(x, int(ndigits)))


def _as_float(fn: Callable) -> Callable:
    """Wrap an int-returning math function so values stay floats (no big-int arithmetic)."""
    return lambda x: float(fn(x))


_UNARY_MATH = (
    "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 exp2 cbrt "
    "log10 log2 log1p sqrt radians degrees fabs erf erfc gamma lgamma "
    "isfinite isinf isnan ulp"
).split()
_BINARY_MATH = "atan2 fmod copysign remainder nextafter isclose".split()

# name -> (function, min args, max args or None for any number). Every function here is
# bounded in time and memory for float arguments; factorial/comb/perm/prod/isqrt are not.
FUNCTIONS: dict[str, tuple[Callable, int, int | None]] = {
    "abs": (abs, 1, 1),
    "max": (max, 2, None),
    "min": (min, 2, None),
    "pow": (math.pow, 2, 2),
    "round": (_round, 1, 2),
    "log": (math.log, 1, 2),
    "hypot": (math.hypot, 1, None),
    **{name: (_as_float(getattr(math, name)), 1, 1) for name in ("floor", "ceil", "trunc")},
    **{name: (getattr(math, name), 1, 1) for name in _UNARY_MATH},
    **{name: (getattr(math, name), 2, 2) for name in _BINARY_MATH},
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
    ast.Attribute: "attribute access",
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
    "'a if c else b' and calls of the allowed functions"
)


def _quote(text: str, limit: int = 80) -> str:
    """Return `text` quoted for a message, shortened if long."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


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
                f"for {err.args[0]!r}, but none was given"
            ) from None
        except _RUNTIME_ERRORS as err:
            shown = ", ".join(f"{k}={values.get(k)!r}" for k in sorted(self.names_used))
            at = f" at {shown}" if shown else ""
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
        raise ExpressionError(f"{_prefix(where)}expected an expression string, got {text!r}")
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
                f"{_prefix(where)}{name!r} cannot be a variable name: use a Python "
                f"identifier that is not one of the functions {', '.join(sorted(FUNCTIONS))}"
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
        """Return the variables and constants an expression may name."""
        return sorted(self.variables) + [c for c in CONSTANTS if c not in self.variables]

    def _Constant(self, node: ast.Constant):
        """Numbers (and bools) become floats now, so integer arithmetic can never explode."""
        if type(node.value) not in (int, float, bool):
            kind = {str: "a string", bytes: "bytes", complex: "a complex number"}.get(
                type(node.value), f"the constant {node.value!r}"
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
        if name in self.variables:
            return (lambda env: float(env[name])), frozenset((name,))
        if name in CONSTANTS:
            return _constant(CONSTANTS[name]), frozenset()
        if name in FUNCTIONS:
            raise self.fail(node, f"is a function; call it, e.g. {name}(t)")
        raise self.fail(node, f"is not a known name; allowed names: {', '.join(self._all_names())}")

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
        """A call of a whitelisted function by bare name with positional arguments."""
        allowed = ", ".join(sorted(FUNCTIONS))
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in FUNCTIONS
        ):
            raise self.fail(
                node,
                f"calls {func.value.id}.{func.attr}; write {func.attr}(...) without the prefix",
            )
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            name = (
                node.func.id
                if isinstance(node.func, ast.Name)
                else (ast.get_source_segment(self.source, node.func) or "?")
            )
            raise self.fail(
                node, f"calls {name!r}, which is not allowed; allowed functions: {allowed}"
            )
        name = node.func.id
        if node.keywords:
            raise self.fail(node, f"passes keyword arguments to {name}(); give them by position")
        fn, low, high = FUNCTIONS[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = (
                f"{low}"
                if low == high
                else f"{low} or more"
                if high is None
                else f"{low} to {high}"
            )
            raise self.fail(node, f"gives {name}() {count} argument(s); it takes {wanted}")
        parts = [self.compile(a) for a in node.args]
        args = tuple(f for f, _ in parts)
        used = frozenset().union(*(u for _, u in parts))
        if len(args) == 1:
            (a,) = args
            return (lambda env: fn(a(env))), used
        return (lambda env: fn(*[f(env) for f in args])), used
