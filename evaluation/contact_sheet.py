"""Contact sheets: labelled grids of images for the docs (e.g. generations next to training images).

Drawing only: this module never generates, loads models or decides anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


@dataclass(frozen=True)
class SheetRow:
    """One row of a sheet: a label on the left and images left to right."""

    label: str
    images: tuple[Image.Image, ...]


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def render_rows(rows: list[SheetRow], cell: int = 128, label_width: int = 300, gap: int = 4,
                title: str | None = None) -> Image.Image:
    """Rows of images scaled to cell x cell (nearest neighbour, pixels stay visible), each with its label."""
    if not rows:
        raise ValueError("render_rows needs at least one row")
    columns = max(len(row.images) for row in rows)
    title_height = 24 if title else 0
    width = label_width + columns * (cell + gap) + gap
    height = title_height + len(rows) * (cell + gap) + gap
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, 6), title, fill=INK, font=_font())
    for r, row in enumerate(rows):
        top = title_height + gap + r * (cell + gap)
        draw.text((gap, top + cell // 2 - 6), row.label, fill=INK, font=_font())
        for c, image in enumerate(row.images):
            tile = image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_width + gap + c * (cell + gap), top))
    return sheet


def render_grid(images: list[Image.Image], labels: list[str], columns: int, cell: int = 128, gap: int = 4,
                label_height: int = 14, title: str | None = None) -> Image.Image:
    """Images in a grid of `columns`, each with a short label underneath."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not images or columns < 1:
        raise ValueError("render_grid needs images and columns >= 1")
    rows = (len(images) + columns - 1) // columns
    title_height = 24 if title else 0
    sheet = Image.new("RGB", (gap + columns * (cell + gap), title_height + gap + rows * (cell + label_height + gap)),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, 6), title, fill=INK, font=_font())
    for i, (image, label) in enumerate(zip(images, labels)):
        left = gap + (i % columns) * (cell + gap)
        top = title_height + gap + (i // columns) * (cell + label_height + gap)
        sheet.paste(image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (left, top))
        draw.text((left, top + cell + 1), label, fill=INK, font=_font())
    return sheet


def stack_vertically(parts: list[Image.Image], gap: int = 8) -> Image.Image:
    """Sheets one above the other, left-aligned, on a white background."""
    if not parts:
        raise ValueError("stack_vertically needs at least one part")
    width = max(part.width for part in parts)
    height = sum(part.height for part in parts) + gap * (len(parts) - 1)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    top = 0
    for part in parts:
        sheet.paste(part, (0, top))
        top += part.height + gap
    return sheet
