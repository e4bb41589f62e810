"""Documentation generated from the schema, so the README cannot drift from the code."""

from pathlib import Path

from .config.schema import GROUPS, schema

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


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


def update_readme(path: Path) -> bool:
    """Rewrite the generated block of the README; returns True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{settings_table()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    update_readme(Path(__file__).resolve().parent.parent / "README.md")
