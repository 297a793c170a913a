"""The trade-off figure: success at the clearance (y) against fidelity (x), one curve per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never open a window
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

__all__ = ["tradeoff_figure"]


def tradeoff_figure(curves: Mapping[str, Sequence[Mapping[str, Any]]], clearance: float, path: Path) -> Path:
    """Each point is one knob value, labelled with it; the upper right is better."""
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    for method, points in curves.items():
        xs = [p["fidelity_ratio"] if p["fidelity_ratio"] is not None else 0.0 for p in points]
        ys = [p["success_at_clearance"] if p["success_at_clearance"] is not None else 0.0 for p in points]
        axes.plot(xs, ys, marker="o", label=f"{method} ({points[0]['knob']})")
        for x, y, point in zip(xs, ys, points):
            axes.annotate(f"{point['value']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlabel("fidelity ratio (tiny-CLIP score to the prompt, over ordinary generations)")
    axes.set_ylabel(f"success at the clearance (tiled L2 >= {clearance:g}, exhaustive)")
    axes.set_title("Correction strength: clearing the copy against keeping the prompt")
    axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
