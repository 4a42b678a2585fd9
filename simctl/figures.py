"""Figures of the textbook reproductions, built from plain arrays.

Every function takes NumPy arrays (times in ms, voltages in mV) and a path, builds a
:class:`matplotlib.figure.Figure` without pyplot (no global figure registry, headless) and saves
it. Nothing here reads files or runs simulations, so the same code draws a fresh run and a
``simctl plot`` of an old one.

* :func:`trace_grid` - a grid of voltage traces in the style of Izhikevich (2004) Fig. 1: spikes
  drawn to a peak (+30 mV), the input drawn beneath each trace, panel letter and name, axes
  switched off and a time scale bar. Used for Fig. 1 (5 x 4), the 2003 classes and the AdEx
  patterns.
* :func:`fi_figure` - an f-I curve: simulation, closed form, exact discrete formula, rheobase.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import spike_sample_index

__all__ = ["TracePanel", "trace_grid", "trace_grid_figure", "fi_figure", "spike_drawn_trace"]


@dataclass
class TracePanel:
    """One panel: its label, the voltage trace, the spikes and the input.

    ``time``/``v``: the recorded trace (ms, mV; v after the reset at spike samples);
    ``spikes``: spike times (ms) - the trace is drawn up to ``peak`` there;
    ``input_time``/``current``: the injected current (any unit; drawn scaled beneath the trace).
    """

    label: str
    title: str
    time: np.ndarray
    v: np.ndarray
    spikes: np.ndarray = field(default_factory=lambda: np.empty(0))
    input_time: np.ndarray | None = None
    current: np.ndarray | None = None
    t_stop: float | None = None
    ok: bool | None = None
    #: how the parameters differ from the paper's (the title gets a "*", the note lists them)
    changed: list[str] = field(default_factory=list)
    #: a sentence naming runaway firing (:func:`simctl.analysis.runaway`): the panel draws the
    #: firing rate instead of an unreadable block of spikes
    runaway: str = ""


def spike_drawn_trace(
    time: np.ndarray, v: np.ndarray, spikes: np.ndarray, peak: float
) -> tuple[np.ndarray, np.ndarray]:
    """The trace with a vertical stroke to ``peak`` at each spike.

    At each spike time t_s (the sample recorded after the reset) the curve goes from the last
    value before the spike up to ``peak`` at t_s and down to the reset value, as Izhikevich's
    figure stores +30 mV at the spike step.
    """
    t = np.asarray(time, dtype=np.float64)
    y = np.asarray(v, dtype=np.float64)
    idx = np.unique(spike_sample_index(t, spikes))
    if idx.size == 0:
        return t, y
    # insert (t_s, peak) just before each spike sample
    t_out = np.insert(t, idx, t[idx])
    y_out = np.insert(y, idx, peak)
    return t_out, y_out


def _scale_bar_length(duration: float) -> float:
    for bar in (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0):
        if bar >= duration / 8.0:
            return bar
    return 10.0 ** np.ceil(np.log10(duration / 8.0))


def trace_grid(
    panels: Sequence[TracePanel], path: str | Path, nrows: int, ncols: int, **kw: Any
) -> Path:
    """The grid of :func:`trace_grid_figure` saved to ``path`` (its suffix picks png, pdf or svg).

    A PNG is drawn by :mod:`simctl._png` (Pillow and matplotlib's DejaVu Sans, without importing
    matplotlib: about 0.2 s instead of 1.4 s for Fig. 1's 20 panels) to the same layout; pdf
    and svg (and a PNG where Pillow lacks FreeType) go through matplotlib."""
    from . import _png

    path = Path(path)
    if path.suffix.lower() == ".png" and _png.available():
        return _trace_grid_png(panels, path, nrows, ncols, **kw)
    fig = trace_grid_figure(panels, nrows, ncols, **kw)
    fig.savefig(path, dpi=kw.get("dpi", 200))
    return path


@dataclass
class _Grid:
    """Where everything of a trace grid goes (inches; shared by both renderers)."""

    width: float
    height: float
    head: float
    foot: float
    title_lines: list[str]
    note_lines: list[str]
    legend: list[tuple[str, str, str, bool]]  # label, line colour, text colour, has a line
    legend_cols: int
    nrows: int
    ncols: int
    hspace: float = 0.55
    wspace: float = 0.12
    left: float = 0.02
    right: float = 0.98

    def cell(self, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The boxes (left, bottom, width, height; inches) of panel ``n``'s voltage axes and of
        its input axes beneath (a 2 x 1 grid with height ratios 8 : 1.4 and no gap)."""
        row, col = divmod(n, self.ncols)
        total_w = (self.right - self.left) * self.width
        w = total_w / (self.ncols + self.wspace * (self.ncols - 1))
        total_h = self.height - self.head - self.foot
        h = total_h / (self.nrows + self.hspace * (self.nrows - 1))
        x = self.left * self.width + col * w * (1 + self.wspace)
        top = self.height - self.head - row * h * (1 + self.hspace)
        h_v = h * 8.0 / 9.4
        return (x, top - h_v, w, h_v), (x, top - h, w, h - h_v)


def _grid(
    panels: Sequence[TracePanel],
    nrows: int,
    ncols: int,
    title: str | None,
    panel_size: tuple[float, float],
    mark_checks: bool,
    note: str,
    input_label: str,
    peak_label: str,
) -> _Grid:
    if len(panels) > nrows * ncols:
        raise ValueError(f"{len(panels)} panels do not fit a {nrows} x {ncols} grid")
    width = panel_size[0] * ncols
    note_lines = _wrap(note, width) if note else []
    if title and any(p.changed for p in panels):
        title += " (*: parameters differ from the paper)"
    title_lines = _wrap(title, width, char_in=0.075) if title else []
    legend = [
        (peak_label, "k", "k", True),
        (input_label + " (beneath each trace)", "0.45", "k", True),
    ]
    if any(p.ok is False for p in panels) and mark_checks:
        legend.append(("red title: check fails", "k", "firebrick", False))
    if any(p.runaway for p in panels):
        legend.append(("runaway firing: drawn as rate (kHz)", "tab:red", "tab:red", True))
    if any(p.changed for p in panels):
        legend.append(("*: parameters differ from the paper", "k", "k", False))
    legend_cols = min(len(legend), 3 if width < 9 else 4)
    legend_rows = math.ceil(len(legend) / legend_cols)
    head = 0.25 + 0.17 * len(title_lines)  # inches above the grid for the title
    foot = 0.1 + 0.14 * legend_rows + 0.13 * len(note_lines)  # legend and note below it
    height = panel_size[1] * nrows + head + foot
    return _Grid(
        width, height, head, foot, title_lines, note_lines, legend, legend_cols, nrows, ncols
    )


@dataclass
class _Panel:
    """What one panel draws, in its axes' data units (shared by both renderers)."""

    t_end: float
    v_lim: tuple[float, float]
    trace: tuple[np.ndarray, np.ndarray] | None  # the spike-drawn voltage
    rate: tuple[np.ndarray, np.ndarray, str] | None  # runaway: bin edges, curve, sentence
    current: tuple[np.ndarray, np.ndarray, tuple[float, float]] | None  # time, I, y limits
    input_text: str
    title: str
    title_color: str
    bar: tuple[float, float, float]  # x0, x1, y of the time scale bar
    bar_label: str | None
    mv_bar: tuple[float, float, str] | None  # y0, y1, label of the voltage bar


def _panel(
    p: TracePanel,
    n: int,
    v_lim: tuple[float, float],
    peak: float,
    scale_bar_ms: float | None,
    scale_bar_mv: float,
    mark_checks: bool,
    input_unit: str,
) -> _Panel:
    t_end = p.t_stop if p.t_stop is not None else float(np.max(p.time)) if len(p.time) else 1
    trace = rate = current = None
    if p.runaway:
        rate = _rate_curve(p, t_end, v_lim)
    else:
        trace = spike_drawn_trace(p.time, p.v, p.spikes, peak)
    # the trace may undershoot the common range (an AHP below it): extend, never clip
    v_min = float(np.nanmin(p.v)) if len(p.v) and not p.runaway else v_lim[0]
    limits = (min(v_lim[0], v_min - 2.0), v_lim[1])
    input_text = ""
    if p.current is not None and p.input_time is not None and len(p.current):
        c = np.asarray(p.current, dtype=np.float64)
        lo, hi = float(np.min(c)), float(np.max(c))
        pad = 0.15 * (hi - lo) if hi > lo else 1.0
        current = (np.asarray(p.input_time, dtype=np.float64), c, (lo - pad, hi + pad))
        # the input's scale: its extreme values, in its unit
        if lo == hi or lo == 0:
            span = f"{hi:.3g}"
        else:
            span = f"{lo:.3g}" if hi == 0 else f"{lo:.3g} to {hi:.3g}"
        input_text = f"input {span} {input_unit}".rstrip()
    fails = mark_checks and p.ok is False
    star = "*" if p.changed else ""
    text = f"({p.label}) {p.title}{star}" if p.label else f"{p.title}{star}"
    bar = scale_bar_ms if scale_bar_ms is not None else _scale_bar_length(t_end)
    # bottom right, under the resting level and above the input trace
    y_bar = v_lim[0] + 0.03 * (v_lim[1] - v_lim[0])
    return _Panel(
        t_end=t_end,
        v_lim=limits,
        trace=trace,
        rate=rate,
        current=current,
        input_text=input_text,
        title=text + (" (check fails)" if fails else ""),
        title_color="firebrick" if fails else "k",
        bar=(t_end - bar, t_end, y_bar),
        bar_label=f"{bar:g} ms" if n == 0 or scale_bar_ms is None else None,
        mv_bar=(y_bar, y_bar + scale_bar_mv, f"{scale_bar_mv:g} mV") if n == 0 else None,
    )


_TRACE_LW = 0.6  # the voltage and the input (pt)
_BAR_LW = 1.2  # scale bars (pt)


def trace_grid_figure(
    panels: Sequence[TracePanel],
    nrows: int,
    ncols: int,
    title: str | None = None,
    v_lim: tuple[float, float] = (-90.0, 30.0),
    peak: float = 30.0,
    scale_bar_ms: float | None = 20.0,
    panel_size: tuple[float, float] = (1.9, 1.25),
    dpi: int = 200,  # noqa: ARG001 - used by trace_grid when saving
    mark_checks: bool = True,
    scale_bar_mv: float = 50.0,
    note: str = "",
    input_label: str = "input current",
    peak_label: str = "membrane potential (spikes drawn to +30 mV)",
    input_unit: str = "",
) -> Any:
    """A grid of voltage traces in the style of Izhikevich (2004) Fig. 1 (see module docstring),
    as a matplotlib figure (what :func:`trace_grid` saves as pdf or svg).

    Each panel has its own time axis (its own duration, as in the paper) and one scale bar of
    ``scale_bar_ms`` (drawn at that panel's scale; ``None`` picks a round length per panel); the
    bars (time and ``scale_bar_mv``) are labelled once, in the first panel, as in the paper. A
    legend under the grid says what the colours mean; ``note`` (e.g. parameters that differ
    from the paper's) is printed under it. With ``mark_checks`` a panel whose ``ok`` is False
    gets a red title ending in "(check fails)"; a panel with ``changed`` parameters a "*"; a
    panel with ``runaway`` firing draws its firing rate, annotated.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    g = _grid(panels, nrows, ncols, title, panel_size, mark_checks, note, input_label, peak_label)
    width, height = g.width, g.height
    fig = Figure(figsize=(width, height))
    if g.title_lines:
        fig.text(
            0.5, 1.0 - 0.1 / height, "\n".join(g.title_lines), ha="center", va="top", fontsize=8.5
        )
    for n, p in enumerate(panels):
        d = _panel(p, n, v_lim, peak, scale_bar_ms, scale_bar_mv, mark_checks, input_unit)
        box_v, box_i = g.cell(n)
        ax_v = fig.add_axes(_fraction(box_v, width, height))
        ax_i = fig.add_axes(_fraction(box_i, width, height), sharex=ax_v)
        if d.rate is not None:
            edges, y, sentence = d.rate
            ax_v.plot(edges, y, color="tab:red", lw=0.8, drawstyle="steps-post")
            ax_v.text(
                0.02, 0.97, sentence, transform=ax_v.transAxes, fontsize=5, va="top",
                color="tab:red",
            )  # fmt: skip
        if d.trace is not None:
            ax_v.plot(*d.trace, color="k", lw=_TRACE_LW, solid_joinstyle="miter")
        ax_v.set_ylim(*d.v_lim)
        ax_v.set_xlim(0.0, d.t_end)
        if d.current is not None:
            t_in, c, c_lim = d.current
            ax_i.plot(t_in, c, color="0.45", lw=_TRACE_LW, drawstyle="steps-post")
            ax_i.set_ylim(*c_lim)
            ax_v.text(
                0.0, 0.02, d.input_text, transform=ax_v.transAxes, fontsize=5, color="0.35",
                ha="left", va="bottom",
            )  # fmt: skip
        for ax in (ax_v, ax_i):
            ax.set_axis_off()
        ax_v.set_title(d.title, fontsize=6.5, loc="left", pad=2, color=d.title_color)
        x0, x1, y_bar = d.bar
        ax_v.plot([x0, x1], [y_bar, y_bar], color="k", lw=_BAR_LW, solid_capstyle="butt")
        if d.bar_label:
            ax_v.text(
                x0 - 0.01 * d.t_end, y_bar, d.bar_label, fontsize=5.5, ha="right", va="center"
            )
        if d.mv_bar:
            y0, y1, label = d.mv_bar
            ax_v.plot([x1, x1], [y0, y1], color="k", lw=_BAR_LW)
            ax_v.text(x1 - 0.01 * d.t_end, y1, label, fontsize=5.5, ha="right", va="top")
    handles = [
        Line2D([], [], color=line, lw=0.8 if drawn else 0, label=label)
        for label, line, _, drawn in g.legend
    ]
    fig.legend(
        labelcolor=[text for _, _, text, _ in g.legend],
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, (0.04 + 0.13 * len(g.note_lines)) / height),
        ncol=g.legend_cols,
        fontsize=5.5,
        frameon=False,
        handlelength=1.6,
    )
    for k, line in enumerate(g.note_lines):
        fig.text(0.02, (0.04 + 0.13 * (len(g.note_lines) - 1 - k)) / height, line, fontsize=5.5)
    return fig


def _fraction(box: tuple[float, ...], width: float, height: float) -> tuple[float, ...]:
    left, bottom, w, h = box
    return (left / width, bottom / height, w / width, h / height)


def _trace_grid_png(
    panels: Sequence[TracePanel],
    path: Path,
    nrows: int,
    ncols: int,
    title: str | None = None,
    v_lim: tuple[float, float] = (-90.0, 30.0),
    peak: float = 30.0,
    scale_bar_ms: float | None = 20.0,
    panel_size: tuple[float, float] = (1.9, 1.25),
    dpi: int = 200,
    mark_checks: bool = True,
    scale_bar_mv: float = 50.0,
    note: str = "",
    input_label: str = "input current",
    peak_label: str = "membrane potential (spikes drawn to +30 mV)",
    input_unit: str = "",
) -> Path:
    """:func:`trace_grid_figure`'s layout drawn on a :class:`simctl._png.Canvas`."""
    from ._png import Canvas, rgb

    g = _grid(panels, nrows, ncols, title, panel_size, mark_checks, note, input_label, peak_label)
    colored = any(rgb(c) not in GREYS for _, line, text, _ in g.legend for c in (line, text))
    cv = Canvas(g.width, g.height, dpi, color=colored)
    if g.title_lines:
        cv.text(g.width / 2, g.height - 0.1, "\n".join(g.title_lines), 8.5, ha="center", va="top")
    for n, p in enumerate(panels):
        d = _panel(p, n, v_lim, peak, scale_bar_ms, scale_bar_mv, mark_checks, input_unit)
        box_v, box_i = g.cell(n)
        left, bottom, w, h = box_v
        lim_v = (0.0, d.t_end, *d.v_lim)

        def at(x: float, y: float, box: tuple[float, ...] = box_v, lim: tuple = lim_v) -> tuple:
            """Data units of the voltage axes to inches."""
            return (
                box[0] + (x - lim[0]) * box[2] / ((lim[1] - lim[0]) or 1.0),
                box[1] + (y - lim[2]) * box[3] / ((lim[3] - lim[2]) or 1.0),
            )

        if d.rate is not None:
            edges, y, sentence = d.rate
            cv.polyline(edges, y, "tab:red", 0.8, box_v, lim_v, steps=True)
            cv.text(left + 0.02 * w, bottom + 0.97 * h, sentence, 5, "tab:red", va="top")
        if d.trace is not None:
            cv.polyline(*d.trace, "k", _TRACE_LW, box_v, lim_v)
        if d.current is not None:
            t_in, c, c_lim = d.current
            cv.polyline(t_in, c, "0.45", _TRACE_LW, box_i, (0.0, d.t_end, *c_lim), steps=True)
            cv.text(left, bottom + 0.02 * h, d.input_text, 5, "0.35", va="bottom")
        cv.text(left, bottom + h + 2 / 72, d.title, 6.5, d.title_color)
        x0, x1, y_bar = d.bar
        bar = np.array([at(x0, y_bar), at(x1, y_bar)])
        cv.polyline(bar[:, 0], bar[:, 1], "k", _BAR_LW)
        if d.bar_label:
            cv.text(*at(x0 - 0.01 * d.t_end, y_bar), d.bar_label, 5.5, ha="right", va="center")
        if d.mv_bar:
            y0, y1, label = d.mv_bar
            bar = np.array([at(x1, y0), at(x1, y1)])
            cv.polyline(bar[:, 0], bar[:, 1], "k", _BAR_LW)
            cv.text(*at(x1 - 0.01 * d.t_end, y1), label, 5.5, ha="right", va="top")
    _png_legend(cv, g)
    for k, line in enumerate(g.note_lines):
        cv.text(0.02 * g.width, 0.04 + 0.13 * (len(g.note_lines) - 1 - k), line, 5.5)
    return cv.save(path)


#: the colours of a figure without failing checks or runaway panels (drawn in greyscale)
GREYS = {(0, 0, 0), (115, 115, 115), (89, 89, 89), (255, 255, 255)}


def _png_legend(cv: Any, g: _Grid, size: float = 5.5) -> None:
    """matplotlib's frameless ``fig.legend(loc="lower center", ncol=...)``: entries filled
    column by column, a 1.6-em handle, 0.8 em to the label, 2 em between columns."""
    em = size / 72.0
    rows = math.ceil(len(g.legend) / g.legend_cols)
    columns = [g.legend[c * rows : (c + 1) * rows] for c in range(g.legend_cols)]
    columns = [col for col in columns if col]
    widths = [max(cv.text_width(e[0], size) for e in col) + 2.4 * em for col in columns]
    total = sum(widths) + 2.0 * em * (len(widths) - 1)
    x = g.width / 2 - total / 2
    # the bottom row's baseline: the anchor, the pads (0.5 + 0.4 em) and the descent
    y_low = 0.04 + 0.13 * len(g.note_lines) + 0.9 * em + 0.24 * em
    for col, w in zip(columns, widths, strict=True):
        for r, (label, line, text, drawn) in enumerate(col):
            y = y_low + (rows - 1 - r) * 1.5 * em
            if drawn:
                mid = y + 0.3 * em
                cv.polyline(np.array([x, x + 1.6 * em]), np.array([mid, mid]), line, 0.8)
            cv.text(x + 2.4 * em, y, label, size, text)
        x += w + 2.0 * em


def _wrap(text: str, width_in: float, char_in: float = 0.045) -> list[str]:
    """``text`` broken into lines that fit ``width_in`` inches at about 5.5 pt."""
    import textwrap

    return textwrap.wrap(text, max(20, int(width_in / char_in)))


def _rate_curve(
    p: TracePanel, t_end: float, v_lim: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, str]:
    """Runaway firing as the firing rate in 5-ms bins (kHz, scaled into the panel; bin edges
    and the steps-post curve), with the sentence naming it."""
    s = np.asarray(p.spikes, dtype=np.float64)
    edges = np.arange(0.0, t_end + 5.0, 5.0)
    counts, _ = np.histogram(s, bins=edges)
    rate_khz = counts / 5.0  # spikes per ms = kHz
    top = max(float(rate_khz.max()), 1e-9)
    lo, hi = v_lim
    y = lo + 0.15 * (hi - lo) + 0.7 * (hi - lo) * rate_khz / top
    sentence = p.runaway.split(" (")[0] + f"\nrate in 5-ms bins, peak {top:.3g} kHz"
    return edges, np.append(y, y[-1]), sentence


def fi_figure(
    current: np.ndarray,
    rate_sim: np.ndarray,
    rate_theory: np.ndarray,
    path: str | Path,
    rheobase: float,
    rate_discrete: np.ndarray | None = None,
    current_fine: np.ndarray | None = None,
    rate_theory_fine: np.ndarray | None = None,
    xlabel: str = "input current R·I (mV)",
    title: str = "LIF f-I curve",
    note: str | None = None,
    dpi: int = 200,
    rheobase_unit: str = "mV",
) -> Path:
    """Rate against current: simulation (markers), closed form (line), discrete formula (steps),
    rheobase (dashed vertical line). A long title is wrapped; the suffix of ``path`` picks the
    format."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    if current_fine is not None and rate_theory_fine is not None:
        ax.plot(current_fine, rate_theory_fine, color="tab:blue", lw=1.4, label="closed form")
    else:
        ax.plot(current, rate_theory, color="tab:blue", lw=1.4, label="closed form")
    if rate_discrete is not None:
        ax.plot(
            current,
            rate_discrete,
            color="tab:orange",
            lw=0.9,
            ls="--",
            label="exact forward-Euler formula",
        )
    ax.plot(current, rate_sim, "o", ms=3.2, mfc="none", mec="k", mew=0.8, label="simctl lif_refrac")
    ax.axvline(rheobase, color="0.4", ls=":", lw=1.0)
    ax.text(
        rheobase,
        ax.get_ylim()[1] * 0.96,
        f" rheobase {rheobase:g} {rheobase_unit}".rstrip(),
        fontsize=7,
        va="top",
        color="0.3",
    )
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("firing rate (Hz)", fontsize=8)
    ax.set_title("\n".join(_wrap(title, 5.2, char_in=0.075)), fontsize=9)
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.9))
    if note:
        ax.text(
            0.99,
            0.02,
            note,
            transform=ax.transAxes,
            fontsize=6.5,
            ha="right",
            va="bottom",
            color="0.3",
        )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path
