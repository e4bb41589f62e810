"""The contact sheet: every render's last frame in a grid, each labelled with the values it varies."""

import io
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from ..io.atomic import atomic_write_bytes

SHEET_NAME = "contact_sheet.png"
MARK_KEY, MARK = "pytti_nb_sweep", "contact sheet"  # a text chunk: a sheet a sweep wrote
TILE = 256  # a frame is scaled to about this many pixels on its longer side
PAD = 8
LABEL_SIZE = 12
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)
EMPTY = (224, 224, 224)  # the tile of a render with no frame


@dataclass(frozen=True)
class Tile:
    """One render on the sheet: its last frame (None when it has none), its label lines."""

    frame: Path | None
    lines: tuple[str, ...]
    note: str = ""  # said on the tile when it has no frame: 'failed', 'not rendered'


@dataclass(frozen=True)
class Layout:
    """Where each tile's image and label went on the sheet (left, top, right, bottom)."""

    size: tuple[int, int]
    images: tuple[tuple[int, int, int, int], ...]
    labels: tuple[tuple[int, int, int, int], ...]


def scaled(image: Image.Image) -> Image.Image:
    """A frame at tile size: small frames enlarged by a whole factor with their pixels kept
    sharp, large ones reduced to fit."""
    longest = max(image.size)
    if longest <= TILE:
        k = TILE // longest
        return image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)
    k = TILE / longest
    size = (max(1, round(image.width * k)), max(1, round(image.height * k)))
    return image.resize(size, Image.Resampling.LANCZOS)


def contact_sheet(tiles: list[Tile], columns: int) -> tuple[Image.Image, Layout]:
    """Draw the sheet: tiles in rows of `columns`, each label under its frame."""
    font = _font()
    images = [_load(t.frame) for t in tiles]
    shown = [scaled(im) if im is not None else None for im in images]
    cell_w = max([im.width for im in shown if im is not None] + [TILE // 2])
    cell_h = max([im.height for im in shown if im is not None] + [TILE // 2])
    line_h = _line_height(font)
    label_h = max([len(t.lines) for t in tiles] + [1]) * line_h + PAD
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    width = columns * cell_w + (columns + 1) * PAD
    height = rows * (cell_h + label_h) + (rows + 1) * PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    boxes, labels = [], []
    for i, (tile, im) in enumerate(zip(tiles, shown, strict=True)):
        left = PAD + (i % columns) * (cell_w + PAD)
        top = PAD + (i // columns) * (cell_h + label_h + PAD)
        if im is None:
            box = (left, top, left + cell_w, top + cell_h)
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=EMPTY)
            draw.text((left + PAD, top + PAD), tile.note or "no frame", fill=TEXT, font=font)
        else:
            x, y = left + (cell_w - im.width) // 2, top + (cell_h - im.height) // 2
            sheet.paste(im, (x, y))
            box = (x, y, x + im.width, y + im.height)
        boxes.append(box)
        label = (left, top + cell_h, left + cell_w, top + cell_h + label_h)
        labels.append(label)
        for n, line in enumerate(tile.lines):
            text = _fit(draw, line, font, cell_w)
            draw.text((left, label[1] + PAD // 2 + n * line_h), text, fill=TEXT, font=font)
    return sheet, Layout((width, height), tuple(boxes), tuple(labels))


def write_sheet(path: Path, tiles: list[Tile], columns: int) -> bytes:
    """Draw the sheet and write it atomically as a PNG; its bytes."""
    sheet, _ = contact_sheet(tiles, columns)
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text(MARK_KEY, MARK)
    sheet.save(buf, format="PNG", pnginfo=info)
    data = buf.getvalue()
    atomic_write_bytes(Path(path), data)
    return data


def is_sheet(path: Path) -> bool:
    """Whether `path` is a contact sheet a sweep wrote (a PNG with its mark; never a link), so
    that a sweep may replace it."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            return im.format == "PNG" and im.info.get(MARK_KEY) == MARK
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def columns_for(axes_lengths: list[int], count: int) -> int:
    """Columns of the sheet: the values of the last axis when several vary, else about square."""
    if len(axes_lengths) > 1:
        return axes_lengths[-1]
    return max(1, math.ceil(math.sqrt(count)))


def _load(path: Path | None) -> Image.Image | None:
    """A frame as RGB, or None when there is none or it cannot be read."""
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except OSError:
        return None


def _font():
    """PIL's default font at the label size (its bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=LABEL_SIZE)
    except (OSError, ImportError, TypeError):
        return ImageFont.load_default()


def _line_height(font) -> int:
    """Height of one label line."""
    left, top, right, bottom = font.getbbox("Ag|")
    return bottom - min(top, 0) + 3


def _fit(draw, text: str, font, width: int) -> str:
    """The text, cut short with '...' where it is wider than `width`."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."
