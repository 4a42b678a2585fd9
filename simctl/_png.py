"""A small PNG canvas for figures made of lines and text (Pillow, no matplotlib).

Importing matplotlib's figure stack and laying out its artists costs about a second per process,
more than the rest of a small experiment; :func:`simctl.figures.trace_grid` draws its PNGs
here instead. Coordinates are inches from the bottom left, as in a matplotlib figure; line
widths and font sizes are points. Everything is drawn ``supersample`` times larger and reduced
with a box filter at the end, which anti-aliases lines and text. The font is DejaVu Sans, the
one matplotlib ships and uses by default (found on disk; matplotlib is not imported), so text
looks as in the matplotlib figures.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Canvas", "available", "font_path", "decimate"]

#: matplotlib's named colours used by the figures, as RGB
COLORS = {
    "k": (0, 0, 0),
    "w": (255, 255, 255),
    "firebrick": (178, 34, 34),
    "tab:red": (214, 39, 40),
    "tab:blue": (31, 119, 180),
    "tab:orange": (255, 127, 14),
}


def rgb(color: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """An RGB triple for a matplotlib colour name, a grey level (``"0.45"``) or ``#rrggbb``."""
    if isinstance(color, tuple):
        return color
    if color in COLORS:
        return COLORS[color]
    if color.startswith("#") and len(color) == 7:
        return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    level = round(255 * float(color))
    return (level, level, level)


def font_path() -> str | None:
    """DejaVu Sans from matplotlib's data directory, or None (matplotlib is not imported)."""
    try:
        spec = importlib.util.find_spec("matplotlib")
    except (ImportError, ValueError):  # pragma: no cover - a broken installation
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf")
        if os.path.isfile(path):
            return path
    return None


def available() -> bool:
    """Whether Pillow (10.1 or later) with FreeType and the font are there (else the caller
    uses matplotlib)."""
    if font_path() is None:
        return False
    try:
        import PIL
        from PIL import features
    except ImportError:
        return False
    version = tuple(int(part) for part in PIL.__version__.split(".")[:2] if part.isdigit())
    # fractional font sizes: Pillow 10.1
    return version >= (10, 1) and bool(features.check("freetype2"))


def decimate(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of a polyline that a raster of ``columns`` pixel columns can show: in each
    column the first, the lowest, the highest and the last point, in their order (so every
    spike keeps its peak and every trough its depth). ``x`` is in pixels and ascending; a line
    with few points per column is returned as it is."""
    n = len(x)
    if n <= 4 * max(1, columns):
        return x, y
    col = np.floor(x).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    lo = np.minimum.reduceat(y, starts)
    hi = np.maximum.reduceat(y, starts)
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    # first index of the minimum and of the maximum in each column
    idx = np.arange(n)
    big = n + 1
    i_lo = np.minimum.reduceat(np.where(y == lo[group], idx, big), starts)
    i_hi = np.minimum.reduceat(np.where(y == hi[group], idx, big), starts)
    keep = np.unique(np.concatenate([starts, ends, i_lo, i_hi]))
    return x[keep], y[keep]


class Canvas:
    """A white ``width`` x ``height`` inch image at ``dpi``; greyscale unless ``color``.

    Lines are drawn ``supersample`` times larger and reduced with a box filter (anti-aliasing);
    text is drawn after that, at the final size (FreeType anti-aliases it), as matplotlib
    renders text.
    """

    def __init__(
        self, width: float, height: float, dpi: int = 200, supersample: int = 3, color: bool = True
    ):
        from PIL import Image, ImageDraw

        self.width, self.height, self.dpi, self.s = width, height, dpi, supersample
        self.size = (max(1, round(width * dpi)), max(1, round(height * dpi)))
        self.scale = dpi * supersample  # big pixels per inch
        self.mode = "RGB" if color else "L"
        big = (self.size[0] * supersample, self.size[1] * supersample)
        self.image = Image.new(self.mode, big, self._ink("w"))
        self.draw = ImageDraw.Draw(self.image)
        self._fonts: dict[float, Any] = {}
        self._texts: list[tuple[tuple[float, float], str, float, Any, str]] = []

    def _ink(self, color: str) -> Any:
        r, g, b = rgb(color)
        return (r, g, b) if self.mode == "RGB" else round(0.299 * r + 0.587 * g + 0.114 * b)

    # -- coordinates -----------------------------------------------------------------------
    def px(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Inches from the bottom left to big pixels from the top left."""
        return np.multiply(x, self.scale), np.subtract(
            self.image.size[1], np.multiply(y, self.scale)
        )

    def width_px(self, points: float) -> int:
        """A line width in points as a whole number of big pixels (at least 1)."""
        return max(1, round(points / 72.0 * self.scale))

    # -- drawing ---------------------------------------------------------------------------
    def polyline(
        self,
        x: np.ndarray,
        y: np.ndarray,
        color: str = "k",
        lw: float = 1.0,
        box: tuple[float, float, float, float] | None = None,
        limits: tuple[float, float, float, float] | None = None,
        steps: bool = False,
    ) -> None:
        """A line through data points ``x, y``: with ``box`` (left, bottom, width, height in
        inches) and ``limits`` (x0, x1, y0, y1) in data units they are mapped into the box and
        clipped to it; without them ``x, y`` are inches. ``steps``: each value held until the
        next point (matplotlib's ``steps-post``). Ends are butt, joins round."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if steps and len(x) > 1:
            x = np.repeat(x, 2)[1:]
            y = np.repeat(y, 2)[:-1]
        if box is not None and limits is not None:
            left, bottom, w, h = box
            x0, x1, y0, y1 = limits
            keep = np.isfinite(y)
            x, y = x[keep], y[keep]
            x = np.clip(x, x0, x1)
            y = np.clip(y, y0, y1)
            x = left + (x - x0) * (w / ((x1 - x0) or 1.0))
            y = bottom + (y - y0) * (h / ((y1 - y0) or 1.0))
        if len(x) == 0:
            return
        X, Y = self.px(x, y)
        width = self.width_px(lw)
        if not steps:
            X, Y = decimate(X, Y, int(np.ptp(X)) + 1)
        if len(X) == 1:
            X, Y = np.r_[X, X], np.r_[Y, Y]
        points = np.column_stack([X, Y]).ravel().tolist()
        fill = self._ink(color)
        self.draw.line(points, fill=fill, width=width)
        if width > 2 and len(X) > 2:
            # round joins where the direction turns by more than 15 degrees (a wide polyline
            # has notches there; below that they are under a pixel of the reduced image)
            r = width / 2.0
            dx, dy = np.diff(X), np.diff(Y)
            cross = dx[1:] * dy[:-1] - dy[1:] * dx[:-1]
            dot = dx[1:] * dx[:-1] + dy[1:] * dy[:-1]
            turn = (
                np.abs(cross) > 0.26 * np.hypot(dx[1:], dy[1:]) * np.hypot(dx[:-1], dy[:-1])
            ) | (dot < 0)
            for cx, cy in zip(X[1:-1][turn], Y[1:-1][turn], strict=True):
                self.draw.ellipse((cx - r + 0.5, cy - r + 0.5, cx + r - 0.5, cy + r - 0.5), fill)

    def font(self, size: float) -> Any:
        """DejaVu Sans at ``size`` points at the final resolution (cached)."""
        pixels = round(size / 72.0 * self.dpi, 2)
        if pixels not in self._fonts:
            from PIL import ImageFont

            self._fonts[pixels] = ImageFont.truetype(
                font_path(), pixels, layout_engine=ImageFont.Layout.BASIC
            )
        return self._fonts[pixels]

    def text_width(self, text: str, size: float) -> float:
        """The advance width of one line of ``text`` in inches."""
        return self.font(size).getlength(text) / self.dpi

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 10.0,
        color: str = "k",
        ha: str = "left",
        va: str = "baseline",
        linespacing: float = 1.2,
    ) -> None:
        """``text`` at ``x, y`` inches, aligned like matplotlib's ``ha`` (left, center, right)
        and ``va`` (top, center, bottom, baseline). Several lines are ``linespacing`` font
        sizes apart. Drawn by :meth:`save`, over the lines."""
        lines = text.split("\n")
        step = linespacing * size / 72.0  # inches between baselines
        ascent = 0.76 * size / 72.0  # DejaVu Sans: top of "l" above the baseline
        descent = 0.24 * size / 72.0  # bottom of "p" below it
        block = ascent + descent + step * (len(lines) - 1)
        # the first line's baseline
        if va == "top":
            base = y - ascent
        elif va == "bottom":
            base = y + descent + step * (len(lines) - 1)
        elif va == "center":
            base = y + block / 2.0 - ascent
        else:
            base = y
        anchor = {"left": "ls", "center": "ms", "right": "rs"}[ha]
        for k, line in enumerate(lines):
            at = (x * self.dpi, self.size[1] - (base - k * step) * self.dpi)
            self._texts.append((at, line, size, self._ink(color), anchor))

    def save(self, path: str | Path) -> Path:
        """The reduced image with its text as a PNG (with its dpi) at ``path``; zlib level 3:
        35 % less time than the default 6 for a file about 10 % larger."""
        from PIL import ImageDraw

        path = Path(path)
        image = self.image.reduce(self.s)
        draw = ImageDraw.Draw(image)
        for at, line, size, fill, anchor in self._texts:
            draw.text(at, line, font=self.font(size), fill=fill, anchor=anchor)
        image.save(path, format="PNG", dpi=(self.dpi, self.dpi), compress_level=3)
        return path
