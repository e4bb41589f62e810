"""One studio for ipywidgets 7.7 (Colab's page) and 8.x: the compat module's answers are the same
on both (this file runs in the main environment, on 8, and in the Colab-like one, on 7)."""

import ipywidgets as widgets
import pytest

from pytti_nb.errors import NotebookError, SettingsError
from pytti_nb.ui import compat

pytestmark = pytest.mark.colab_stack


@pytest.mark.parametrize(
    ("version", "expected"), [("7.7.1", (7, 7)), ("8.1.5rc1", (8, 1)), ("10", (10, 0))]
)
def test_versions_read_as_major_and_minor(version, expected):
    assert compat.version_tuple(version) == expected


@pytest.mark.parametrize("version", ["7.6.5", "6.0.0", "7.0"])
def test_an_ipywidgets_older_than_7_7_is_one_message_saying_what_to_install(version):
    with pytest.raises(NotebookError) as caught:
        compat.check_version(version)
    message = str(caught.value)
    assert version in message and 'pip install "ipywidgets>=7.7"' in message
    assert "restart" in message


@pytest.mark.parametrize("version", ["7.7.0", "7.8.5", "8.1.5"])
def test_7_7_and_later_are_accepted(version):
    compat.check_version(version)


def test_an_error_of_ours_shows_in_a_notebook_as_its_message_without_a_traceback():
    lines = SettingsError(["width: too big", "seed: not a number"])._render_traceback_()
    shown = "\n".join(lines)
    assert "error: width: too big" in shown and "  seed: not a number" in shown
    assert "Traceback" not in shown and "File " not in shown


@pytest.mark.parametrize("kind", [widgets.Text, widgets.Button, widgets.Checkbox, widgets.Dropdown])
def test_a_tooltip_reaches_every_kind_of_control(kind):
    control = compat.tip(kind(), "what it does")
    assert compat.tooltip_of(control) == "what it does"


@pytest.mark.parametrize("kind", [widgets.Tab, widgets.Accordion])
def test_titles_follow_the_pages_as_they_change(kind):
    container = kind([widgets.HTML("a"), widgets.HTML("b"), widgets.HTML("c")])
    compat.set_titles(container, ["one", "two", "three"])
    assert compat.titles_of(container) == ("one", "two", "three")
    container.children = [widgets.HTML("a"), widgets.HTML("b")]
    compat.set_titles(container, ["first", "second"])
    assert compat.titles_of(container) == ("first", "second")


def test_an_accordion_starts_folded():
    fold = compat.accordion([widgets.HTML("a"), widgets.HTML("b")], ["a", "b"])
    assert fold.selected_index is None and compat.titles_of(fold) == ("a", "b")


def test_an_upload_is_read_cleared_and_taken_again():
    upload = widgets.FileUpload()
    seen = []
    upload.observe(lambda change: seen.append(compat.uploaded(upload)), names="value")
    compat.receive(upload, "a.yaml", b"scenes: a\n")
    assert compat.uploaded(upload) == [("a.yaml", b"scenes: a\n")]
    compat.clear_upload(upload)
    assert compat.uploaded(upload) == []
    compat.receive(upload, "a.yaml", b"scenes: a\n")  # the same file again is a new upload
    assert seen == [[("a.yaml", b"scenes: a\n")], [], [("a.yaml", b"scenes: a\n")]]
