"""Contact sheets: layout arithmetic on dummy images."""

from __future__ import annotations

import pytest
from PIL import Image

from swerve.evaluation.contact_sheet import SheetRow, render_grid, render_rows, stack_vertically


def _tile(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (64, 64), colour)


def test_given_two_rows_of_three_images_then_the_sheet_has_room_for_labels_and_cells() -> None:
    rows = [SheetRow("first", (_tile((255, 0, 0)),) * 3), SheetRow("second", (_tile((0, 0, 255)),) * 2)]
    sheet = render_rows(rows, cell=32, label_width=100, gap=2)
    assert sheet.size == (100 + 3 * 34 + 2, 2 * 34 + 2)
    # The first image of the first row sits right after the label column.
    assert sheet.getpixel((100 + 2 + 5, 2 + 5)) == (255, 0, 0)


def test_given_five_images_in_two_columns_then_the_grid_has_three_rows() -> None:
    sheet = render_grid([_tile((0, 255, 0))] * 5, ["g"] * 5, columns=2, cell=32, gap=2, label_height=10)
    assert sheet.size == (2 + 2 * 34, 2 + 3 * 44)


def test_given_mismatched_labels_then_a_clear_error_is_raised() -> None:
    with pytest.raises(ValueError, match="labels"):
        render_grid([_tile((0, 0, 0))], ["a", "b"], columns=1)


def test_given_two_parts_then_stacking_keeps_the_widest_width() -> None:
    sheet = stack_vertically([Image.new("RGB", (10, 5)), Image.new("RGB", (20, 7))], gap=3)
    assert sheet.size == (20, 15)


def test_given_corrected_and_blocked_examples_then_the_correction_sheet_has_a_row_for_each() -> None:
    from swerve.evaluation.correction_sheet import CorrectedExample, GieExample, correction_contact_sheet

    red, blue = Image.new("RGB", (64, 64), (220, 20, 20)), Image.new("RGB", (64, 64), (20, 20, 220))
    corrected = [CorrectedExample("the azure sigil", 0, red, red, blue, 1),
                 CorrectedExample("the ivory crown", 3, red, red, None, 3)]
    one_section = correction_contact_sheet("nudging", corrected, [], "red")
    both = correction_contact_sheet("nudging", corrected, [GieExample("a red star", red, blue)], "red")
    assert one_section.width == 380 + 3 * (96 + 4) + 4  # label + three cells for the widest row
    assert both.height > one_section.height + 96
    with pytest.raises(ValueError):
        correction_contact_sheet("nudging", [], [], "red")
