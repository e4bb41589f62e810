"""Documentation generated from the code, so the README cannot drift from it: the settings
table (from the schema) and the differences from PyTTI (from config/pytti_departures)."""

from pathlib import Path

from .config.schema import GROUPS, schema

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
DEPARTURES_START = "<!-- pytti-departures:start -->"
DEPARTURES_END = "<!-- pytti-departures:end -->"


def _describe_allowed(s) -> str:
    """Short text of the values one setting accepts."""
    if s.kind == "choice":
        return " / ".join(f"`{c}`" for c in s.choices)
    if s.kind in ("int", "float"):
        text = f"{s.min} … {s.max}"
        return text + (", empty" if s.optional else "")
    return {
        "text": "text",
        "scenes": "prompt grammar",
        "direct_prompts": "text",
        "path": "file path",
        "bool": "true / false",
        "schedule": "number, expression of t, or keyframes",
        "motion": "number, expression of t, or keyframes",
        "quaternion": "[w, x, y, z] of expressions",
        "pixel_weight": "WEIGHT[_MASK][:STOP]",
        "clip_weight": "WEIGHT[_MASK][:STOP]",
        "audio_filters": "list of {variable_name, f_center, f_width, order}",
        "list": "list of strings",
    }[s.kind]


def _cell(value) -> str:
    """A value as a Markdown table cell."""
    if value is None:
        return "*(empty)*"
    if isinstance(value, list):
        value = ", ".join(value)
    text = str(value).replace("|", "\\|")
    return f"`{text}`" if text else '`""`'


def settings_table() -> str:
    """Markdown tables of every setting, one per group, straight from the schema."""
    lines = []
    for group in GROUPS:
        rows = [s for s in schema() if s.group == group]
        if not rows:
            continue
        lines += [
            f"**{group}**",
            "",
            "| setting | default | allowed | what it does |",
            "|---|---|---|---|",
        ]
        for s in rows:
            star = " ★" if s.simple else ""
            lines.append(
                f"| `{s.name}`{star} | {_cell(s.default)} | {_describe_allowed(s)} | "
                f"{s.help.replace('|', chr(92) + '|')} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def departures_table() -> str:
    """A Markdown table of every departure from PyTTI, straight from pytti_departures."""
    from .config.pytti_departures import DEPARTURES

    lines = [
        "| id | what | PyTTI | pytti_nb | why | an imported file gets |",
        "|---|---|---|---|---|---|",
    ]
    for d in DEPARTURES:
        cells = [f"`{d.id}`", d.topic, d.pytti, d.ours, d.why, d.imported]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _with_block(text: str, start: str, end: str, body: str) -> str:
    """Text with the block between two markers replaced by body."""
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{body}{end}{tail}"


def update_readme(path: Path) -> bool:
    """Rewrite the generated blocks of the README; returns True when it changed."""
    text = path.read_text(encoding="utf-8")
    new = _with_block(text, START, END, settings_table())
    new = _with_block(new, DEPARTURES_START, DEPARTURES_END, departures_table())
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    update_readme(Path(__file__).resolve().parent.parent / "README.md")
