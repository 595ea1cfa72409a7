"""Schematic diagrams drawn in code: boxes, arrows, notes and small matrices.

A notebook that teaches a structure (the VAE's encoder -> sampling -> decoder path, the GAN game,
a causal mask, a cascade) draws it in a code cell, so the picture lives next to the code it explains,
renders offline in JupyterLab and in the course book, and changes when the code changes::

    d = Diagram(9, 2.4, title="A VAE: encode, sample, decode")
    d.box("x", 0.2, 0.8, "image x")
    d.box("enc", 2.4, 0.8, "encoder q(z|x)", colour="encoder")
    d.arrow("x", "enc")
    d.show()

Coordinates are in inches (a ``Diagram(9, 2.4)`` is a 9 x 2.4 inch figure); a box is placed by
its lower-left corner. Colours are named by role so every diagram in the course reads the same
way: ``data``, ``encoder``, ``model``, ``loss``, ``output``, ``highlight`` (or any matplotlib colour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

ROLE_COLOURS = {
    "data": "#dbe9f6",  # inputs and datasets
    "encoder": "#fde2c8",  # pretrained or learned encoders
    "model": "#d9f0d3",  # trainable models and scorers
    "loss": "#f6d5d5",  # objectives and penalties
    "output": "#ece2f4",  # lists, scores, samples
    "highlight": "#fff3b0",  # the part the text is about
}
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Box:
    """A placed box: lower-left corner ``(x, y)`` and size, in inches."""

    x: float
    y: float
    width: float
    height: float

    def anchor(self, side: str) -> tuple[float, float]:
        """The midpoint of one side (``left``, ``right``, ``top``, ``bottom``) or the ``centre``."""
        centre_x, centre_y = self.x + self.width / 2, self.y + self.height / 2
        points = {
            "left": (self.x, centre_y),
            "right": (self.x + self.width, centre_y),
            "top": (centre_x, self.y + self.height),
            "bottom": (centre_x, self.y),
            "centre": (centre_x, centre_y),
        }
        if side not in points:
            raise ValueError(f"side must be one of {sorted(points)}, got {side!r}")
        return points[side]


def _colour(colour: str) -> str:
    return ROLE_COLOURS.get(colour, colour)


class Diagram:
    """A blank canvas of ``width`` x ``height`` inches with named boxes joined by arrows."""

    def __init__(self, width: float, height: float, title: str | None = None) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be positive inches, got {width} x {height}")
        self.figure, self.ax = plt.subplots(figsize=(width, height + (0.35 if title else 0.0)))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(0, height)
        self.ax.set_aspect("equal")
        self.ax.axis("off")
        if title:
            self.ax.set_title(title, fontsize=12, fontweight="bold")
        self.boxes: dict[str, Box] = {}

    def box(
        self,
        name: str,
        x: float,
        y: float,
        text: str,
        width: float = 1.8,
        height: float = 0.8,
        colour: str = "data",
        fontsize: float = 10,
    ) -> Box:
        """Draw a rounded box with centred ``text`` and remember it under ``name`` for arrows."""
        if name in self.boxes:
            raise ValueError(f"a box named {name!r} already exists")
        patch = FancyBboxPatch(
            (x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=_colour(colour), edgecolor="#444444", linewidth=1.2,
        )
        self.ax.add_patch(patch)
        self.ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=fontsize)
        self.boxes[name] = Box(x, y, width, height)
        return self.boxes[name]

    def _point(self, where: str | tuple[float, float], side: str) -> tuple[float, float]:
        if isinstance(where, str):
            if where not in self.boxes:
                raise KeyError(f"no box named {where!r}; boxes so far: {sorted(self.boxes)}")
            return self.boxes[where].anchor(side)
        return (float(where[0]), float(where[1]))

    def arrow(
        self,
        start: str | tuple[float, float],
        end: str | tuple[float, float],
        text: str | None = None,
        sides: tuple[str, str] = ("right", "left"),
        dashed: bool = False,
        bend: float = 0.0,
        colour: str = "#333333",
    ) -> None:
        """An arrow from ``start`` to ``end`` (box names or points), optionally labelled at its middle.

        ``sides`` picks the box sides it leaves and enters; ``bend`` curves it (radians-like, 0 = straight).
        """
        tail, head = self._point(start, sides[0]), self._point(end, sides[1])
        self.ax.add_patch(
            FancyArrowPatch(
                tail, head, arrowstyle="-|>", mutation_scale=14, linewidth=1.3, color=colour,
                linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={bend}",
                shrinkA=2, shrinkB=2,
            )
        )
        if text:
            middle = ((tail[0] + head[0]) / 2, (tail[1] + head[1]) / 2)
            self.note(middle[0], middle[1] + 0.15, text, fontsize=9, colour=colour)

    def note(
        self, x: float, y: float, text: str, fontsize: float = 9, colour: str = "#333333", ha: str = "center"
    ) -> None:
        """Free text at ``(x, y)`` (no box), e.g. an equation or a size such as ``"4,000 -> 200"``."""
        self.ax.text(x, y, text, ha=ha, va="bottom", fontsize=fontsize, color=colour)

    def matrix(
        self,
        x: float,
        y: float,
        values: np.ndarray,
        cell: float = 0.35,
        row_labels: Sequence[str] | None = None,
        column_labels: Sequence[str] | None = None,
        cmap: str = "Blues",
        show_values: bool = False,
        value_format: str = "{:.1f}",
    ) -> Box:
        """A small matrix drawn cell by cell (e.g. attention weights, a causal mask, a similarity matrix).

        NaN cells are left white (use them for masked entries). Returns the matrix's bounding box.
        """
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.size == 0:
            raise ValueError(f"values must be a non-empty 2-D array, got shape {values.shape}")
        n_rows, n_columns = values.shape
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        colours = plt.get_cmap(cmap)
        for row in range(n_rows):
            for column in range(n_columns):
                value = values[row, column]
                left, bottom = x + column * cell, y + (n_rows - 1 - row) * cell
                shade = 0.15 + 0.7 * (value - low) / (high - low) if high > low else 0.5
                face = "white" if not np.isfinite(value) else colours(shade)
                self.ax.add_patch(Rectangle((left, bottom), cell, cell, facecolor=face, edgecolor="#666666"))
                if show_values and np.isfinite(value):
                    self.ax.text(left + cell / 2, bottom + cell / 2, value_format.format(value),
                                 ha="center", va="center", fontsize=7)
        for row, label in enumerate(row_labels or []):
            self.ax.text(x - 0.08, y + (n_rows - 1 - row + 0.5) * cell, label, ha="right", va="center",
                         fontsize=8)
        for column, label in enumerate(column_labels or []):
            self.ax.text(x + (column + 0.5) * cell, y + n_rows * cell + 0.06, label, ha="center",
                         va="bottom", fontsize=8)
        return Box(x, y, n_columns * cell, n_rows * cell)

    def show(self) -> Figure:
        """Return the figure (Jupyter displays it); the canvas keeps its inch coordinates."""
        return self.figure
