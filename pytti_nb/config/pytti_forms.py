"""PyTTI's own text forms of settings: the `<name>_settings.txt` files it wrote beside its images
(JSON, then a 'frame: scene' index), batch files of one run, and the notebook's printed
`SETTINGS:` dict (a Python literal, read here without eval); each read within the bounds."""

from __future__ import annotations

import ast
import json
import math
import re

from ..errors import SettingsError, shown
from ..io.bounded import size_problem


def parse_pytti_text(text: str):
    """The mapping of text in one of PyTTI's own forms, else None (for YAML or JSON to read):
    a `_settings.txt` (JSON, then PyTTI's frame: scene index), a batch settings file holding
    one run, or the notebook's printed `SETTINGS:` dict, a Python literal read without eval."""
    body = text.strip()
    labelled = body.startswith("SETTINGS:")  # copied together with the notebook's label
    if labelled:
        body = body[len("SETTINGS:") :].strip()
    if body.startswith("batch_index:"):
        return _batch(body)
    if not body.startswith("{"):
        return None
    try:
        data, end = _json_prefix(body)
    except ValueError:
        try:
            return _bounded(python_literal(body))
        except ValueError:
            return None
    return _bounded(data) if labelled or body[end:].strip() else None


def _json_prefix(text: str):
    """The JSON value at the start of text and where it ends; ValueError when there is none."""
    try:
        return json.JSONDecoder().raw_decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _bounded(value):
    """The value, or SettingsError when it is nested or sized beyond the settings' bounds."""
    problem = size_problem(value)
    if problem:
        raise SettingsError([f"PyTTI settings: {problem}"])
    return value


def python_literal(text: str):
    """The value of a Python literal (dicts, lists, strings, numbers, True/None, inf), read by
    walking its syntax tree: nothing in it is ever run. Raises ValueError for anything else."""
    try:
        return _literal(ast.parse(text.strip(), mode="eval").body)
    except SyntaxError as e:
        raise ValueError(f"not a Python literal: {e.msg}") from None
    except (MemoryError, RecursionError):  # CPython's parser on absurd nesting
        raise ValueError("not a Python literal: nested too deeply") from None


_LITERAL_NAMES = {
    "None": None,
    "True": True,
    "False": False,
    "null": None,  # JSON pasted into the notebook, which defines null, true and false
    "true": True,
    "false": False,
    "inf": math.inf,  # the notebook's `all = math.inf`, printed as inf
    "nan": math.nan,
}


def _literal(node):
    """One node of a literal; ValueError for calls, operators and every other name."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, type(None))):
        return node.value
    if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
        return _LITERAL_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Dict) and None not in node.keys:
        keys = [_literal(k) for k in node.keys]
        if any(isinstance(k, list) for k in keys):
            raise ValueError("a dict key is a list or tuple; keys are names")
        return dict(zip(keys, (_literal(v) for v in node.values), strict=True))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    raise ValueError(f"{shown(ast.unparse(node), 40)} is not a literal value")


def _batch(body: str):
    """The one run of a PyTTI batch settings file (`batch_index: N` then the run's JSON)."""
    blocks = [b for b in re.split(r"^batch_index:.*$", body, flags=re.MULTILINE) if b.strip()]
    if len(blocks) != 1:
        raise SettingsError(
            [
                f"PyTTI batch settings: the file holds the settings of {len(blocks)} runs; "
                "copy the one to import (its {...} line) into a file of its own"
            ]
        )
    try:
        return _bounded(_json_prefix(blocks[0].strip())[0])
    except ValueError as e:
        raise SettingsError(
            [f"PyTTI batch settings: not valid JSON: {shown(str(e), 200)}"]
        ) from None
