"""Figures from files (Agg, ``matplotlib.figure.Figure``; never pyplot's global state).

* :func:`raster_figure`: spike raster of every population (one colour each) with the
  population rate beneath; plain ``plot(t, i, "|")`` up to ~500 k spikes, a 2-D histogram
  image above that, so millions of spikes draw in about a second.
* :func:`traces_figure`: the membrane potential of a few recorded neurons per population
  (spikes drawn up to their peak, as Izhikevich's figures do), other state variables beneath,
  and the injected current at the bottom.
* :func:`plot_run`: both, from a ``sim.h5``, into a directory (``simctl plot`` and ``run``).
* :func:`collect_figure`: mean rate against each swept numeric parameter (``simctl collect``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["raster_figure", "traces_figure", "plot_run", "collect_figure", "new_figure", "COLORS"]

COLORS = ["#1f4e79", "#c0392b", "#1e8449", "#7d3c98", "#b9770e", "#117a65", "#34495e", "#a93226"]
_HIST_ABOVE = 500_000


def _unit_label(name: str, unit: str) -> str:
    """``"v (mV)"``; a dimensionless quantity (unit ``"1"``) says so."""
    if unit == "1":  # two lines: a rotated one-line label outgrows a short trace row
        return f"{name}\n(dimensionless)"
    return f"{name} ({unit})" if unit else name


def _style() -> dict[str, Any]:
    return {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "figure.dpi": 100,
    }


def new_figure(width: float, height: float):
    """A stand-alone Agg figure (no pyplot)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matplotlib.rcParams.update(_style())
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(run: Any) -> str:
    pops = list(run.populations.values())
    if len(pops) == 1:
        p = pops[0]
        preset = p.attrs.get("preset") or ""
        name = f"{p.name}" + (
            f" ({p.attrs.get('model')})" if p.attrs.get("model") not in (p.name,) else ""
        )
        text = f"{name}: {p.size} neuron{'s' if p.size != 1 else ''}, dt {p.dt:g} ms"
        if preset and p.attrs.get("source"):
            text += f"\n{p.attrs['source']}"
        return text
    return f"{len(pops)} populations, {sum(p.size for p in pops)} neurons"


def _rate_bin(t_stop: float, dt: float, requested: float | None) -> float:
    if requested:
        return float(requested)
    nice = [0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 500, 1000]
    target = t_stop / 150.0
    value = next((b for b in nice if b >= target), nice[-1])
    return max(value, dt)


def _spike_chunks(run: Any, pop: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A population's spikes in chunks: its arrays when loaded, else read from ``run.path``
    (``load_run(..., spikes=False)``), so memory does not grow with the spike count."""
    if len(pop.spike_times) or not pop.n_spikes:
        yield pop.spike_times, pop.spike_ids
        return
    from simctl.recording import iter_spikes

    yield from iter_spikes(run.path, pop.name)


def _n_spikes(pop: Any) -> int:
    return max(len(pop.spike_times), int(getattr(pop, "n_spikes", 0) or 0))


def raster_figure(run: Any, rate_bin_ms: float | None = None, width: float = 8.0):
    """Raster (top) and population rate in Hz (bottom) for every population of ``run``.

    Up to ``_HIST_ABOVE`` spikes in all, one tick per spike; above, each population is a 2-D
    histogram of spike density (spikes per bin, square-root colour scale), accumulated chunk by
    chunk, so memory is bounded by the bins, not by the spike count."""
    from matplotlib.colors import LinearSegmentedColormap, PowerNorm

    pops = list(run.populations.values())
    total_neurons = sum(p.size for p in pops)
    t_stop = max((p.t_stop for p in pops), default=1.0) or 1.0
    fig = new_figure(width, 4.6 if total_neurons > 1 else 3.6)
    gs = fig.add_gridspec(2, 1, height_ratios=(3, 1.2))
    ax = fig.add_subplot(gs[0])
    ax_rate = fig.add_subplot(gs[1], sharex=ax)
    n_spikes = sum(_n_spikes(p) for p in pops)
    dense = n_spikes > _HIST_ABOVE
    yticks, ylabels = [], []
    # the first population on top (E above I), each in its own block and colour
    bases = np.cumsum([0] + [p.size for p in pops[::-1]])[:-1][::-1]
    for i, pop in enumerate(pops):
        color = COLORS[i % len(COLORS)]
        offset = int(bases[i])
        width_ms = _rate_bin(t_stop, pop.dt, rate_bin_ms)
        edges = np.arange(0.0, pop.t_stop + width_ms, width_ms)
        counts = np.zeros(max(0, len(edges) - 1), dtype=np.int64)
        rows = (offset - 0.5, offset + pop.size - 0.5)
        if dense:
            # about a bin per pixel of a figure at 150 dpi: more only costs matplotlib memory
            bins = (
                min(1200, max(100, int(t_stop / max(pop.dt, 1e-9)))),
                max(1, min(pop.size, 600)),
            )
            hist = np.zeros(bins)
        ticks_t, ticks_i = [], []
        for t, ids in _spike_chunks(run, pop):
            if len(counts):
                counts += np.histogram(t, bins=edges)[0]
            if dense:
                hist += np.histogram2d(t, ids + offset, bins=bins, range=((0, t_stop), rows))[0]
            else:
                ticks_t.append(t)
                ticks_i.append(ids + offset)
        if dense and hist.any():
            cmap = LinearSegmentedColormap.from_list("pop", ["#ffffff00", color])
            ax.imshow(
                hist.T,
                aspect="auto",
                origin="lower",
                interpolation="nearest",
                cmap=cmap,
                norm=PowerNorm(0.5, vmin=0, vmax=float(hist.max())),
                extent=(0, t_stop, *rows),
                rasterized=True,
            )
        elif not dense:
            ms = 6 if total_neurons <= 20 else (3 if total_neurons <= 200 else 1.2)
            ax.plot(
                np.concatenate(ticks_t) if ticks_t else [],
                np.concatenate(ticks_i) if ticks_i else [],
                "|",
                color=color,
                ms=ms,
                mew=0.9 if total_neurons <= 200 else 0.5,
                rasterized=True,
                label=pop.name,
            )
        yticks.append(offset + (pop.size - 1) / 2)
        ylabels.append(pop.name)
        if len(pops) > 1 and i:
            ax.axhline(offset + pop.size - 0.5, color="0.8", lw=0.6)
        # population rate
        if len(counts) and pop.size:
            rate = counts / (pop.size * width_ms / 1000.0)
            ax_rate.stairs(
                rate,
                edges,
                color=color,
                lw=1.0,
                fill=len(pops) == 1,
                alpha=0.9 if len(pops) > 1 else 0.35,
                label=pop.name,
            )
            if len(pops) == 1:
                ax_rate.stairs(rate, edges, color=color, lw=1.0)
    offset = total_neurons
    if 1 < len(pops) <= 8:
        ax_rate.legend(loc="upper right", fontsize=7, ncol=len(pops), frameon=False)
    ax.set_xlim(0, t_stop)
    ax.set_ylim(-0.5 - 0.02 * offset, offset - 0.5 + 0.02 * offset)
    if len(pops) > 1 and len(pops) <= 30:
        ax.set_yticks(yticks, ylabels)
    else:
        ax.set_ylabel("neuron")
        if offset <= 12:
            ax.set_yticks(range(offset))
    ax.tick_params(labelbottom=False)
    ax.set_title(_title(run), loc="left")
    if not n_spikes:
        ax.text(
            0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center", color="0.5"
        )
    ax_rate.set_xlabel("time (ms)")
    bin_text = f"{_rate_bin(t_stop, pops[0].dt, rate_bin_ms) if pops else 0:g} ms bins"
    ax_rate.set_ylabel(f"rate (Hz)\n{bin_text}")
    ax_rate.set_ylim(bottom=0)
    if not run.complete and not getattr(run, "foreign", False):
        fig.text(0.99, 0.99, "incomplete run", ha="right", va="top", color="#c0392b", fontsize=8)
    return fig


def _voltage_for_plot(pop: Any, values: np.ndarray) -> np.ndarray:
    """Recorded v with the spike samples raised to the spike peak (Izhikevich's convention)."""
    peak = pop.attrs.get("spike_peak", math.nan)
    if not pop.attrs.get("spiking", True) or not np.isfinite(peak) or pop.state_time is None:
        return values
    out = values.astype(float)
    if int(pop.attrs.get("record_every", 1)) != 1:
        return out
    sampled = np.round(pop.state_time / pop.dt).astype(np.int64)  # ascending steps
    if not len(sampled) or not len(pop.spike_ids):
        return out
    # each spike's sample (its step among the sampled ones) and column (its neuron among the
    # recorded ones); spikes of neurons or steps that were not recorded are left out
    steps = np.round(pop.spike_times / pop.dt).astype(np.int64)
    rows = np.minimum(np.searchsorted(sampled, steps), len(sampled) - 1)
    column = np.full(1 + max(pop.spike_ids.max(), pop.state_ids.max()), -1, dtype=np.int64)
    column[pop.state_ids] = np.arange(len(pop.state_ids))
    cols = column[pop.spike_ids]
    hit = (cols >= 0) & (sampled[rows] == steps)
    out[rows[hit], cols[hit]] = peak
    return out


def traces_figure(run: Any, max_traces: int = 4, max_populations: int = 8, width: float = 8.0):
    """Per population: one voltage row per traced neuron (spikes drawn to their peak), the
    other state variables overlaid beneath, then the injected current."""
    pops = [p for p in run.populations.values() if p.state_time is not None and len(p.state_time)]
    hidden = [p.name for p in pops[max_populations:]]
    pops = pops[:max_populations]
    if not pops:
        fig = new_figure(width, 2.0)
        fig.add_subplot().text(0.5, 0.5, "no state was recorded", ha="center", va="center")
        return fig
    rows: list[tuple[Any, str, Any, float]] = []  # (pop, kind, what, height)
    for pop in pops:
        voltage = pop.attrs.get("voltage", "v")
        n = min(max_traces, len(pop.state_ids))
        if voltage in pop.state:
            rows += [(pop, "v", j, 1.6 if n > 1 else 2.6) for j in range(n)]
        rows += [(pop, "var", var, 1.0) for var in pop.state if var != voltage]
        if pop.input_current is not None and len(pop.input_current):
            rows.append((pop, "input", None, 0.8))
    fig = new_figure(width, min(1.2 + 0.95 * sum(h for *_, h in rows), 40))
    gs = fig.add_gridspec(len(rows), 1, height_ratios=[h for *_, h in rows])
    first: dict[str, Any] = {}
    voltages: dict[str, np.ndarray] = {}  # per population, converted once for all its rows
    axes = []
    for r, (pop, kind, what, _) in enumerate(rows):
        ax = fig.add_subplot(gs[r], sharex=first.get(pop.name))
        axes.append(ax)
        n = min(max_traces, len(pop.state_ids))
        if pop.name not in first:
            first[pop.name] = ax
            title = pop.name
            if pop.attrs.get("source") and len(pops) == 1:
                title += f": {pop.attrs['source']}"
            ax.set_title(title, loc="left")
        if kind == "v":
            var = pop.attrs.get("voltage", "v")
            if pop.name not in voltages:
                voltages[pop.name] = _voltage_for_plot(pop, pop.state[var])
            values = voltages[pop.name][:, what]
            ax.plot(pop.state_time, values, color=COLORS[what % len(COLORS)], lw=0.9)
            ax.set_ylabel(_unit_label(var, pop.state_units.get(var, "")))
            if n > 1:
                ax.text(
                    0.995,
                    0.96,
                    f"neuron {int(pop.state_ids[what])}",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=8,
                    color=COLORS[what % len(COLORS)],
                )
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            if np.isfinite(lo) and np.isfinite(hi):
                pad = 0.06 * (hi - lo) if hi > lo else 1.0
                ax.set_ylim(lo - pad, hi + pad)
        elif kind == "var":
            for j in range(n):
                ax.plot(
                    pop.state_time, pop.state[what][:, j], color=COLORS[j % len(COLORS)], lw=0.8
                )
            ax.set_ylabel(_unit_label(what, pop.state_units.get(what, "")))
        else:
            current = pop.input_current[:, :n]
            same = _same_columns(current)
            for j in range(1 if same else n):
                ax.step(
                    pop.input_time,
                    current[:, j],
                    where="post",
                    lw=1.0,
                    color="0.25" if same else COLORS[j % len(COLORS)],
                )
            ax.set_ylabel(_unit_label("input I", pop.attrs.get("input_units", "")))
            lo, hi = float(np.nanmin(current)), float(np.nanmax(current))
            pad = 0.15 * (hi - lo) if hi > lo else max(1.0, abs(hi) * 0.2)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(0, pop.t_stop)
        ax.tick_params(labelbottom=False)
    for ax, row, nxt in zip(axes, rows, [*rows[1:], (None,)], strict=False):
        if nxt[0] is not row[0]:
            ax.tick_params(labelbottom=True)
            ax.set_xlabel("time (ms)")
    fig.align_ylabels(axes)
    if hidden:
        fig.suptitle(
            f"showing {len(pops)} of {len(pops) + len(hidden)} populations (not shown: "
            f"{', '.join(hidden[:6])}{', …' if len(hidden) > 6 else ''}); pick others with "
            "simctl plot FILE --populations NAME,NAME",
            fontsize=8,
            color="0.3",
            x=0.01,
            ha="left",
        )
    return fig


def _same_columns(a: np.ndarray) -> bool:
    return a.shape[1] <= 1 or bool(np.all(a == a[:, :1]))


def plot_run(
    h5_path: str | Path,
    out_dir: str | Path,
    options: Any = None,
    populations: Sequence[str] | None = None,
) -> list[Path]:
    """Writes ``raster.<fmt>`` and ``traces.<fmt>`` for a run file; returns the paths.
    ``populations`` picks which ones (in that order; a KeyError names the unknown one)."""
    import dataclasses

    from simctl.config.schema import Plot
    from simctl.recording import load_run

    opts = options or Plot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # memory bounded independently of the spike count: the raster reads the spikes in chunks,
    # the traces get their few neurons' columns and spikes only
    run = load_run(h5_path, spikes=False, columns=opts.max_traces)
    if populations:
        missing = [p for p in populations if p not in run.populations]
        if missing:
            raise KeyError(
                f"no population {missing[0]!r}; the file has {', '.join(run.populations)}"
            )
        run = dataclasses.replace(run, populations={p: run.populations[p] for p in populations})
    written = []
    for name, wanted, draw in (
        ("raster", opts.raster, lambda: raster_figure(run, opts.rate_bin_ms)),
        ("traces", opts.traces, lambda: traces_figure(_traced_spikes(run), opts.max_traces)),
    ):
        if wanted:
            path = out_dir / f"{name}.{opts.format}"
            draw().savefig(path, dpi=opts.dpi)
            written.append(path)
    return written


def _measure(row: dict[str, Any], measure: str, pop: str | None) -> Any:
    return row.get(measure if pop is None else f"{measure}:{pop}")


def _traced_spikes(run: Any) -> Any:
    """``run`` with each population's spikes cut to its traced neurons (read in chunks)."""
    import dataclasses

    pops = {}
    for name, pop in run.populations.items():
        if pop.state_ids is not None and len(pop.state_ids) and not len(pop.spike_times):
            keep_t, keep_i = [], []
            for t, ids in _spike_chunks(run, pop):
                hit = np.isin(ids, pop.state_ids)
                keep_t.append(t[hit])
                keep_i.append(ids[hit])
            if keep_t:
                pop = dataclasses.replace(
                    pop, spike_times=np.concatenate(keep_t), spike_ids=np.concatenate(keep_i)
                )
        pops[name] = pop
    return dataclasses.replace(run, populations=pops)


def collect_figure(
    rows: Sequence[dict[str, Any]],
    params: Sequence[str],
    measure: str = "mean_rate_hz",
    categories: Sequence[str] = (),
):
    """The summary of a sweep, by its shape:

    * two swept numbers: a heat map of the mean rate (and of the ISI CV when known) over them,
      one per population, failed jobs crossed out;
    * categorical values (presets, neuron options): a bar per job's category, failed ones
      marked;
    * otherwise the mean rate (one line per population) against each swept number, failed
      jobs as dotted lines.
    """
    params = list(params)
    single = any(measure in r for r in rows)  # one population per job (plain columns)
    pops: list[str | None] = (
        [None]
        if single
        else sorted({k.split(":", 1)[1] for r in rows for k in r if k.startswith(f"{measure}:")})
    )
    if len(params) == 2:
        return _heat_maps(rows, params, pops, single)
    if categories and not params:
        return _bars(rows, list(categories)[0], measure, pops)
    n = max(1, len(params))
    fig = new_figure(min(4.0 * n, 12.0), 3.2)
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    if not params:
        axes[0].text(0.5, 0.5, "no parameter was swept", ha="center", va="center")
        return fig
    for ax, param in zip(axes, params, strict=False):
        for i, pop in enumerate(pops):
            pts = sorted(
                (float(r[param]), float(_measure(r, measure, pop)))
                for r in rows
                if r.get("status") == "ok"
                and _is_number(r.get(param))
                and _is_number(_measure(r, measure, pop))
            )
            if pts:
                x, y = zip(*pts, strict=False)
                ax.plot(x, y, "o-", color=COLORS[i % len(COLORS)], ms=4, lw=1.2, label=pop)
        failed = [
            float(r[param]) for r in rows if r.get("status") != "ok" and _is_number(r.get(param))
        ]
        for x in failed:
            ax.axvline(x, color="#c0392b", lw=0.8, ls=":")
        ax.set_xlabel(param)
        ax.set_ylabel("mean rate (Hz)")
        ax.set_ylim(bottom=0)
        if len(pops) > 1:
            ax.legend()
        if failed:
            ax.set_title("dotted: failed jobs", loc="right", fontsize=8, color="#c0392b")
    return fig


def _bars(rows: Sequence[dict[str, Any]], key: str, measure: str, pops: list[str | None]):
    labels = [str(r.get(key, "")) for r in rows]
    fig = new_figure(max(4.0, min(0.5 * len(rows) + 2.0, 14.0)), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(pops))
    x = np.arange(len(rows))
    for i, pop in enumerate(pops):
        values = [
            float(_measure(r, measure, pop)) if _is_number(_measure(r, measure, pop)) else 0.0
            for r in rows
        ]
        ax.bar(
            x + (i - (len(pops) - 1) / 2) * width,
            values,
            width,
            color=COLORS[i % len(COLORS)],
            label=pop if pop is not None else None,
        )
    for j, r in enumerate(rows):
        if r.get("status") != "ok":
            ax.text(j, 0, "failed", rotation=90, ha="center", va="bottom", color="#c0392b")
    ax.set_xticks(
        x, labels, rotation=45 if len(rows) > 6 else 0, ha="right" if len(rows) > 6 else "center"
    )
    ax.set_xlabel(key)
    ax.set_ylabel("mean rate (Hz)")
    if len(pops) > 1:
        ax.legend()
    return fig


def _heat_maps(rows, params, pops, single):
    """Mean rate (and ISI CV where recorded) over two swept numbers, one row per population."""
    xs = sorted({float(r[params[0]]) for r in rows if _is_number(r.get(params[0]))})
    ys = sorted({float(r[params[1]]) for r in rows if _is_number(r.get(params[1]))})
    measures = [("mean_rate_hz", "mean rate (Hz)")]
    if any(("cv_isi" in k) for r in rows for k in r):
        measures.append(("cv_isi", "ISI CV"))
    fig = new_figure(4.2 * len(measures), 3.4 * len(pops))
    for i, pop in enumerate(pops):
        for j, (measure, label) in enumerate(measures):
            ax = fig.add_subplot(len(pops), len(measures), i * len(measures) + j + 1)
            grid = np.full((len(ys), len(xs)), np.nan)
            failed = []
            for r in rows:
                if not (_is_number(r.get(params[0])) and _is_number(r.get(params[1]))):
                    continue
                cx, cy = xs.index(float(r[params[0]])), ys.index(float(r[params[1]]))
                value = _measure(r, measure, pop)
                if r.get("status") != "ok":
                    failed.append((cx, cy))
                elif _is_number(value):
                    grid[cy, cx] = float(value)
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
            for cx, cy in failed:
                ax.text(cx, cy, "x", ha="center", va="center", color="#c0392b", fontsize=12)
            ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
            ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
            ax.set_xlabel(params[0])
            ax.set_ylabel(params[1])
            title = label if pop is None else f"{pop}: {label}"
            ax.set_title(title + ("  (x: failed)" if failed else ""), fontsize=9)
            fig.colorbar(image, ax=ax, label=label)
    return fig


def _is_number(value: Any) -> bool:
    try:
        return value is not None and value != "" and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def collect_heatmaps(rows: Sequence[dict[str, Any]], x_key: str, y_key: str):
    """Heat maps of the mean rate and the ISI CV of each population over two swept keys (e.g.
    Brunel's phase diagram over ``network.g`` and ``network.eta``); failed jobs crossed out."""
    single = any("mean_rate_hz" in r for r in rows)
    pops: list[str | None] = (
        [None]
        if single
        else sorted({k.split(":", 1)[1] for r in rows for k in r if k.startswith("mean_rate_hz:")})
    )
    return _heat_maps(rows, [x_key, y_key], pops, single)
