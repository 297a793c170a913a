"""The histogram of replacements' distance to the training set, thresholds drawn (``--plot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never open a window
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

__all__ = ["distance_histogram"]


def distance_histogram(series: Mapping[str, Sequence[float]], thresholds: Mapping[str, float], path: Path) -> Path:
    """One histogram per named series of nearest tiled L2, with a vertical line per threshold."""
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=120)
    values = [v for vs in series.values() for v in vs]
    top = max([*values, *thresholds.values(), 0.3]) * 1.05
    bins = [top * i / 40 for i in range(41)]
    for label, distances in series.items():
        axes.hist(list(distances), bins=bins, alpha=0.5, label=f"{label} (n={len(distances)})")
    for index, (label, value) in enumerate(sorted(thresholds.items(), key=lambda kv: kv[1])):
        axes.axvline(value, color=f"C{index + len(series)}", linestyle="--", linewidth=1.2, label=f"{label} = {value:g}")
    axes.set_xlabel("tiled L2 to the nearest training image (exhaustive)")
    axes.set_ylabel("replacements")
    axes.set_title("How far replacements land from the training set")
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
