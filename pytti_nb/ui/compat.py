"""Everything that differs between ipywidgets 7.7 (what Colab's page draws) and 8.x, in one place:
the version check, tooltips, the titles of tabs and accordions, and uploaded files."""

import ipywidgets as widgets

from ..errors import NotebookError

MINIMUM = (7, 7)


def version_tuple(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as '7.7.1' or '8.1.5rc1'."""
    parts = (version.split(".") + ["0"])[:2]
    return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in parts)


def check_version(version: str = widgets.__version__) -> None:
    """Refuse an ipywidgets older than 7.7, saying what to install."""
    if version_tuple(version) < MINIMUM:
        raise NotebookError(
            f"the studio needs ipywidgets 7.7 or newer and this kernel has {version[:20]}: "
            'run `pip install "ipywidgets>=7.7"`, then restart the kernel (Runtime > Restart '
            "session on Colab)"
        )


check_version()
MODERN = version_tuple(widgets.__version__) >= (8, 0)


def tip(widget: widgets.Widget, text: str) -> widgets.Widget:
    """The widget with `text` as its hover help (7 calls it description_tooltip on most)."""
    if widget.has_trait("tooltip"):
        widget.tooltip = text
    else:
        widget.description_tooltip = text
    return widget


def tooltip_of(widget: widgets.Widget) -> str:
    """A widget's hover help, however this ipywidgets names it."""
    if widget.has_trait("tooltip"):
        return widget.tooltip or ""
    return widget.description_tooltip or ""


def set_titles(container, titles) -> None:
    """Name the pages of a Tab or Accordion, one title per child."""
    titles = [str(t) for t in titles]
    if MODERN:
        container.titles = titles
    else:
        container._titles = {str(i): t for i, t in enumerate(titles)}


def titles_of(container) -> tuple[str, ...]:
    """The titles of a Tab's or Accordion's pages, one per child."""
    if MODERN:
        return tuple(container.titles)
    return tuple(container.get_title(i) or "" for i in range(len(container.children)))


def accordion(children, titles) -> widgets.Accordion:
    """An Accordion with every section folded (7 opens the first one unless told)."""
    fold = widgets.Accordion(list(children))
    set_titles(fold, titles)
    fold.selected_index = None
    return fold


def uploaded(upload: widgets.FileUpload) -> list[tuple[str, bytes]]:
    """(name, content) of each file in a FileUpload: 8 keeps a tuple of dicts, 7 a dict by name."""
    if MODERN:
        return [(item["name"], bytes(item["content"])) for item in upload.value]
    return [(name, bytes(item["content"])) for name, item in upload.value.items()]


def clear_upload(upload: widgets.FileUpload) -> None:
    """Forget the uploaded files, so dropping the same file again counts as a new upload."""
    if MODERN:
        upload.value = ()
    else:
        upload.set_trait("value", {})  # read-only in 7: it follows the page's upload counter
        upload.metadata, upload.data = [], []


def receive(upload: widgets.FileUpload, name: str, content: bytes) -> None:
    """Deliver a file to a FileUpload as the page does when one is dropped on it (for scripts
    and tests that drive the studio without a browser)."""
    meta = {"name": name, "type": "", "size": len(content), "lastModified": 0}
    if MODERN:  # the page's JSON form: times in ms, contents as buffers
        sent = {**meta, "last_modified": 0, "content": memoryview(bytes(content))}
        upload.set_state({"value": [sent]})
    else:
        upload.set_state(
            {
                "metadata": [meta],
                "data": [memoryview(bytes(content))],
                "_counter": upload._counter + 1,
            }
        )
