"""The README's settings table is generated from the schema and must match it."""

from pathlib import Path

from pytti_nb.config.schema import schema
from pytti_nb.docs import END, START, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_is_current():
    text = README.read_text(encoding="utf-8")
    block = text.split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == settings_table().strip(), "run `make readme` and commit README.md"


def test_table_lists_every_setting():
    table = settings_table()
    assert all(f"`{s.name}`" in table for s in schema())
