"""The names an expression may use (t and the audio bands) and the names a text mentions."""

import re

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def expression_names(filters=()) -> tuple[str, ...]:
    """The variables every expression may use: t, and each audio band and its _prev."""
    from ..media.audio import parse_filters

    try:
        bands = [f.variable_name for f in parse_filters(filters)]
    except ValueError:
        bands = []  # the filters' own check reports them
    return ("t", *bands, *(f"{b}_prev" for b in bands))


def mentioned_names(text: str) -> tuple[str, ...]:
    """Every name an expression text mentions, but functions and constants.

    A setting is checked on its own for syntax, allowing any such name; which names exist
    (t, the audio bands, r R mu in 3D) is checked by the plan, which sees every setting.
    """
    from ..lang.expressions import CONSTANTS, FUNCTIONS

    found = (
        set(_IDENTIFIER.findall(text))
        - set(FUNCTIONS)
        - set(CONSTANTS)
        - {"and", "or", "not", "if", "else"}
    )
    return tuple(sorted(found | {"t"}))
