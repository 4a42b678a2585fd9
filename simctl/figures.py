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
    """:func:`trace_grid_figure` saved to ``path`` (its suffix picks png, pdf or svg)."""
    fig = trace_grid_figure(panels, nrows, ncols, **kw)
    path = Path(path)
    fig.savefig(path, dpi=kw.get("dpi", 200))
    return path


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
    """A grid of voltage traces in the style of Izhikevich (2004) Fig. 1 (see module docstring).

    Each panel has its own time axis (its own duration, as in the paper) and one scale bar of
    ``scale_bar_ms`` (drawn at that panel's scale; ``None`` picks a round length per panel); the
    bars (time and ``scale_bar_mv``) are labelled once, in the first panel, as in the paper. A
    legend under the grid says what the colours mean; ``note`` (e.g. parameters that differ
    from the paper's) is printed under it. With ``mark_checks`` a panel whose ``ok`` is False
    gets a red title ending in "(check fails)"; a panel with ``changed`` parameters a "*"; a
    panel with ``runaway`` firing draws its firing rate, annotated.
    """
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpecFromSubplotSpec
    from matplotlib.lines import Line2D

    if len(panels) > nrows * ncols:
        raise ValueError(f"{len(panels)} panels do not fit a {nrows} x {ncols} grid")
    width = panel_size[0] * ncols
    note_lines = _wrap(note, width) if note else []
    if title and any(p.changed for p in panels):
        title += " (*: parameters differ from the paper)"
    title_lines = _wrap(title, width, char_in=0.075) if title else []
    n_legend = 2 + sum(
        (
            bool(mark_checks and any(p.ok is False for p in panels)),
            any(p.runaway for p in panels),
            any(p.changed for p in panels),
        )
    )
    legend_cols = min(n_legend, 3 if width < 9 else 4)
    legend_rows = math.ceil(n_legend / legend_cols)
    head = 0.25 + 0.17 * len(title_lines)  # inches above the grid for the title
    foot = 0.1 + 0.14 * legend_rows + 0.13 * len(note_lines)  # legend and note below it
    height = panel_size[1] * nrows + head + foot
    fig = Figure(figsize=(width, height))
    outer = fig.add_gridspec(
        nrows,
        ncols,
        hspace=0.55,
        wspace=0.12,
        left=0.02,
        right=0.98,
        top=1.0 - head / height,
        bottom=foot / height,
    )
    if title_lines:
        fig.text(
            0.5, 1.0 - 0.1 / height, "\n".join(title_lines), ha="center", va="top", fontsize=8.5
        )
    for n, p in enumerate(panels):
        inner = GridSpecFromSubplotSpec(
            2, 1, subplot_spec=outer[n // ncols, n % ncols], height_ratios=(8, 1.4), hspace=0.0
        )
        ax_v = fig.add_subplot(inner[0])
        ax_i = fig.add_subplot(inner[1], sharex=ax_v)
        t_end = p.t_stop if p.t_stop is not None else float(np.max(p.time)) if len(p.time) else 1
        if p.runaway:
            _draw_rate(ax_v, p, t_end, v_lim)
        else:
            t, y = spike_drawn_trace(p.time, p.v, p.spikes, peak)
            ax_v.plot(t, y, color="k", lw=0.6, solid_joinstyle="miter")
        # the trace may undershoot the common range (an AHP below it): extend, never clip
        v_min = float(np.nanmin(p.v)) if len(p.v) and not p.runaway else v_lim[0]
        ax_v.set_ylim(min(v_lim[0], v_min - 2.0), v_lim[1])
        ax_v.set_xlim(0.0, t_end)
        if p.current is not None and p.input_time is not None and len(p.current):
            c = np.asarray(p.current, dtype=np.float64)
            ax_i.plot(p.input_time, c, color="0.45", lw=0.6, drawstyle="steps-post")
            lo, hi = float(np.min(c)), float(np.max(c))
            pad = 0.15 * (hi - lo) if hi > lo else 1.0
            ax_i.set_ylim(lo - pad, hi + pad)
            # the input's scale: its extreme values, in its unit
            if lo == hi or lo == 0:
                span = f"{hi:.3g}"
            else:
                span = f"{lo:.3g}" if hi == 0 else f"{lo:.3g} to {hi:.3g}"
            ax_v.text(
                0.0,
                0.02,
                f"input {span} {input_unit}".rstrip(),
                transform=ax_v.transAxes,
                fontsize=5,
                color="0.35",
                ha="left",
                va="bottom",
            )
        for ax in (ax_v, ax_i):
            ax.set_axis_off()
        fails = mark_checks and p.ok is False
        star = "*" if p.changed else ""
        text = f"({p.label}) {p.title}{star}" if p.label else f"{p.title}{star}"
        ax_v.set_title(
            text + (" (check fails)" if fails else ""),
            fontsize=6.5,
            loc="left",
            pad=2,
            color="firebrick" if fails else "k",
        )
        bar = scale_bar_ms if scale_bar_ms is not None else _scale_bar_length(t_end)
        x1 = t_end
        x0 = x1 - bar
        # bottom right, under the resting level and above the input trace
        y_bar = v_lim[0] + 0.03 * (v_lim[1] - v_lim[0])
        ax_v.plot([x0, x1], [y_bar, y_bar], color="k", lw=1.2, solid_capstyle="butt")
        if n == 0 or scale_bar_ms is None:
            ax_v.text(
                x0 - 0.01 * t_end, y_bar, f"{bar:g} ms", fontsize=5.5, ha="right", va="center"
            )
        if n == 0:
            ax_v.plot([x1, x1], [y_bar, y_bar + scale_bar_mv], color="k", lw=1.2)
            ax_v.text(
                x1 - 0.01 * t_end,
                y_bar + scale_bar_mv,
                f"{scale_bar_mv:g} mV",
                fontsize=5.5,
                ha="right",
                va="top",
            )
    handles = [
        Line2D([], [], color="k", lw=0.8, label=peak_label),
        Line2D([], [], color="0.45", lw=0.8, label=input_label + " (beneath each trace)"),
    ]
    colors = ["k", "k"]
    if any(p.ok is False for p in panels) and mark_checks:
        handles.append(Line2D([], [], lw=0, label="red title: check fails"))
        colors.append("firebrick")
    if any(p.runaway for p in panels):
        handles.append(
            Line2D([], [], color="tab:red", lw=0.8, label="runaway firing: drawn as rate (kHz)")
        )
        colors.append("tab:red")
    if any(p.changed for p in panels):
        handles.append(Line2D([], [], lw=0, label="*: parameters differ from the paper"))
        colors.append("k")
    fig.legend(
        labelcolor=colors,
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, (0.04 + 0.13 * len(note_lines)) / height),
        ncol=legend_cols,
        fontsize=5.5,
        frameon=False,
        handlelength=1.6,
    )
    for k, line in enumerate(note_lines):
        fig.text(0.02, (0.04 + 0.13 * (len(note_lines) - 1 - k)) / height, line, fontsize=5.5)
    return fig


def _wrap(text: str, width_in: float, char_in: float = 0.045) -> list[str]:
    """``text`` broken into lines that fit ``width_in`` inches at about 5.5 pt."""
    import textwrap

    return textwrap.wrap(text, max(20, int(width_in / char_in)))


def _draw_rate(ax: object, p: TracePanel, t_end: float, v_lim: tuple[float, float]) -> None:
    """Runaway firing as the firing rate in 5-ms bins (kHz, scaled into the panel), with the
    sentence naming it."""
    s = np.asarray(p.spikes, dtype=np.float64)
    edges = np.arange(0.0, t_end + 5.0, 5.0)
    counts, _ = np.histogram(s, bins=edges)
    rate_khz = counts / 5.0  # spikes per ms = kHz
    top = max(float(rate_khz.max()), 1e-9)
    lo, hi = v_lim
    y = lo + 0.15 * (hi - lo) + 0.7 * (hi - lo) * rate_khz / top
    ax.plot(edges, np.append(y, y[-1]), color="tab:red", lw=0.8, drawstyle="steps-post")
    ax.text(
        0.02,
        0.97,
        p.runaway.split(" (")[0] + f"\nrate in 5-ms bins, peak {top:.3g} kHz",
        transform=ax.transAxes,
        fontsize=5,
        va="top",
        color="tab:red",
    )


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
