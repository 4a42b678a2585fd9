"""After-run step of the textbook experiments (``configs/experiment/*.yaml``).

``simctl run experiment=<name>`` simulates the experiment's populations and then calls
:func:`finish`, which reads ``sim.h5`` (product.md section 4 layout), checks each population
against the published result, prints the table and writes the experiment's own files into the
run directory:

| experiment | files |
|---|---|
| ``izhikevich2004`` | ``figure1.png`` (5 x 4, like the paper), ``checks.csv`` |
| ``izhikevich2004_accurate`` | the same; only the robust properties (textbook.md 1.5) checked |
| ``izhikevich2003_cells`` | ``izhikevich2003.png``, ``checks.csv`` |
| ``adex_patterns`` | ``adex_patterns.png``, ``checks.csv`` |
| ``lif_fi_curve`` | ``fi_curve.csv`` (current, rate_hz, rate_theory_hz), ``fi_curve.png`` |
| ``brunel2000`` | ``brunel2000.png`` (Fig. 8 A-D), ``checks.csv`` |
| ``izhikevich2003_network`` | ``izhikevich2003_network.png`` (Fig. 3), ``checks.csv`` |
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis as an
from .recording import PopulationData, load_run

__all__ = ["finish", "EXPERIMENTS", "format_table"]


def _spikes(pop: PopulationData, neuron: int = 0) -> np.ndarray:
    """Sorted spike times (ms) of one neuron of the population."""
    return np.sort(pop.spike_times[pop.spike_ids == neuron])


def _first_column(a: np.ndarray | None) -> np.ndarray:
    """The first recorded neuron's column of a ``(n_samples, n_rec)`` array (empty if none)."""
    if a is None or a.ndim != 2 or not a.shape[1]:
        return np.empty(0)
    return np.asarray(a[:, 0], dtype=np.float64)


def _voltage(pop: PopulationData) -> np.ndarray:
    """The first recorded neuron's membrane potential (``v`` or ``<group>.v``)."""
    key = next((k for k in pop.state if k.split(".")[-1] == "v"), None)
    return _first_column(pop.state.get(key)) if key else np.empty(0)


def _panel_data(pop: PopulationData) -> an.PanelData:
    """What the checks of :mod:`simctl.analysis` look at: neuron 0's spikes and trace."""
    time = pop.state_time if pop.state_time is not None else np.empty(0)
    return an.PanelData(_spikes(pop), pop.dt, pop.t_stop, time, _voltage(pop))


# ---------------------------------------------------------------------------------------------
# tables


def format_table(rows: list[Mapping[str, Any]], columns: list[str]) -> str:
    """A fixed-width text table (what :func:`finish` prints)."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.4g}"
        if v is None:
            return "n/a"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(b.ljust(w) for b, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[Mapping[str, Any]], columns: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            out = []
            for c in columns:
                v = r.get(c)
                if isinstance(v, bool) or v is None:
                    v = "" if v is None else str(v).lower()
                elif isinstance(v, float):
                    v = "" if math.isnan(v) else repr(v)
                out.append(v)
            w.writerow(out)


CHECK_COLUMNS = ["panel", "population", "spikes", "first_spike_ms", "property", "holds", "detail"]


def _check_row(label: str, pop: PopulationData, check: an.Check) -> dict[str, Any]:
    s = _spikes(pop)
    return {
        "panel": label,
        "population": pop.name,
        "spikes": int(s.size),
        "first_spike_ms": float(s[0]) if s.size else float("nan"),
        "property": check.property,
        "holds": check.holds,
        "detail": check.detail,
    }


def _report(run_dir: Path, title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    _write_csv(run_dir / "checks.csv", rows, columns)
    n = an.summarize([r["holds"] for r in rows])
    shown = [c for c in columns if c != "detail"]
    print(f"\n{title}\n" + format_table(rows, shown))
    print(
        f"{n['holds']} hold, {n['fails']} fail, {n['skipped']} not checked"
        f" -> {run_dir / 'checks.csv'}"
    )


def _trace_panel(label: str, title: str, pop: PopulationData, ok: bool | None) -> Any:
    from .figures import TracePanel

    d = _panel_data(pop)
    current = _first_column(pop.input_current) if pop.input_current is not None else None
    return TracePanel(label, title, d.time, d.v, d.spikes, pop.input_time, current, d.t_stop, ok)


# ---------------------------------------------------------------------------------------------
# experiments


def _izhikevich2004(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> None:
    from .figures import trace_grid

    robust = bool(_get(cfg, "experiment.options.robust_only", False))
    rows, panels = [], []
    for p in an.IZHIKEVICH_2004.values():
        names = [n for n in (p.preset, *p.aliases) if n in pops]
        if not names:
            continue
        pop = pops[names[0]]
        check = an.check_izhikevich2004(p.letter, _panel_data(pop), robust_only=robust)
        rows.append(_check_row(p.letter, pop, check))
        panels.append(_trace_panel(p.letter, p.title, pop, check.holds))
    name = _get(cfg, "experiment.name", "izhikevich2004")
    trace_grid(
        panels,
        run_dir / "figure1.png",
        nrows=5,
        ncols=4,
        title="Izhikevich (2004) Fig. 1 - simctl, "
        + ("dt 0.025 ms, simultaneous update" if robust else "published numerics"),
    )
    _report(run_dir, f"{name}: defining property of each panel", rows, CHECK_COLUMNS)


def _izhikevich2003(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> None:
    from .figures import trace_grid

    rows, panels = [], []
    for cell, (title, _, _) in an.IZHIKEVICH_2003.items():
        if cell not in pops:
            continue
        pop = pops[cell]
        check = an.check_izhikevich2003(cell, _panel_data(pop))
        rows.append(_check_row(cell.upper(), pop, check))
        panels.append(_trace_panel("", title, pop, check.holds))
    trace_grid(
        panels,
        run_dir / "izhikevich2003.png",
        nrows=2,
        ncols=4,
        scale_bar_ms=20.0,
        title="Izhikevich (2003) Fig. 2 cell classes - simctl",
    )
    _report(
        run_dir, "izhikevich2003_cells: qualitative behaviour of each class", rows, CHECK_COLUMNS
    )


def _step_window(pop: PopulationData) -> tuple[float, float]:
    """Onset and offset (ms) of the current: where it first/last differs from zero."""
    current = _first_column(pop.input_current)
    if pop.input_time is None or not np.any(current != 0):
        return 0.0, pop.t_stop
    on = np.nonzero(current != 0)[0]
    t = pop.input_time
    # the recorded current of step k sits at the state time of that step
    shift = t[0] if t.size else 0.0
    onset = float(t[on[0]] - shift)
    offset = float(t[on[-1]] - shift + pop.dt) if on[-1] + 1 < t.size else float("inf")
    return onset, offset


def _adex(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> None:
    from .figures import trace_grid

    rows, panels = [], []
    for name in an.ADEX_PATTERNS:
        if name not in pops:
            continue
        pop = pops[name]
        onset, offset = _step_window(pop)
        check = an.check_adex(name, _spikes(pop), pop.dt, onset, offset)
        src = "Naud 2008" if name.startswith("adex_") else "ND Tab 6.1"
        rows.append(_check_row(src, pop, check))
        title = name.split("_", 1)[1].replace("_", " ")
        panels.append(_trace_panel("", f"{title} ({src})", pop, check.holds))
    ncols = 4
    nrows = max(1, math.ceil(len(panels) / ncols))
    trace_grid(
        panels,
        run_dir / "adex_patterns.png",
        nrows=nrows,
        ncols=ncols,
        v_lim=(-90.0, 5.0),
        peak=0.0,
        scale_bar_ms=100.0,
        title="AdEx firing patterns - simctl (spikes drawn to 0 mV)",
    )
    _report(run_dir, "adex_patterns: signature of each firing pattern", rows, CHECK_COLUMNS)


def _lif_fi(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> None:
    from .fi_curve import euler_error_bound, rate_closed_form, rate_euler, rheobase
    from .figures import fi_figure

    name = next(iter(pops))
    pop = pops[name]
    node = _get(cfg, f"populations.{name}", {}) or {}
    lif = _get(node, "neuron.lif", {}) or {}
    tau_m = 1.0 / float(lif.get("tau_mem_inv", 0.1))
    theta = float(lif.get("v_th", 20.0))
    v_reset = float(lif.get("v_reset", 0.0))
    e_l = float(lif.get("v_leak", 0.0))
    dt = pop.dt
    rho = float(_get(node, "neuron.rho_reset", 20.0))
    t_ref = rho * dt
    amp = _get(node, "input.amplitude", None)
    current = np.asarray(
        amp if isinstance(amp, (list, tuple)) else [amp] * pop.size, dtype=np.float64
    )
    transient = float(_get(cfg, "experiment.options.transient", 0.0) or 0.0)
    rate = np.zeros(current.size)
    for n in range(current.size):
        s = _spikes(pop, n)
        isi = an.isis(s[s > transient])
        if isi.size:
            rate[n] = 1000.0 / isi[-1]
    theory = rate_closed_form(current, tau_m, theta, v_reset, t_ref, e_l)
    euler = rate_euler(current, tau_m, theta, v_reset, t_ref, dt, e_l)
    _write_csv(
        run_dir / "fi_curve.csv",
        [
            {"current": float(c), "rate_hz": float(r), "rate_theory_hz": float(t)}
            for c, r, t in zip(current, rate, theory, strict=True)
        ],
        ["current", "rate_hz", "rate_theory_hz"],
    )
    fine = np.linspace(current.min(), current.max(), 800)
    rh = rheobase(e_l, theta)
    max_err = float(np.max(np.abs(rate - theory)))
    fi_figure(
        current,
        rate,
        theory,
        run_dir / "fi_curve.png",
        rh,
        rate_discrete=euler,
        current_fine=fine,
        rate_theory_fine=rate_closed_form(fine, tau_m, theta, v_reset, t_ref, e_l),
        title=f"LIF f-I curve (tau_m {tau_m:g} ms, theta {theta:g} mV, "
        f"V_r {v_reset:g} mV, t_ref {t_ref:g} ms)",
        note=f"dt {dt:g} ms forward Euler: max |sim - closed form| = {max_err:.3g} Hz",
    )
    rows = []
    above = current > rh
    equal = bool(np.allclose(rate, euler, rtol=1e-9, atol=0.0))
    rows.append(
        {
            "check": "rate equals the exact forward-Euler formula",
            "holds": equal,
            "value": f"max |diff| {float(np.max(np.abs(rate - euler))):.3g} Hz",
        }
    )
    rows.append(
        {
            "check": "no firing at or below rheobase",
            "holds": bool(np.all(rate[~above] == 0)),
            "value": f"rheobase {rh:g}",
        }
    )
    bound = euler_error_bound(current, tau_m, theta, v_reset, t_ref, dt, e_l)
    rows.append(
        {
            "check": "|sim - closed form| within the O(dt) bound",
            "holds": bool(np.all(np.abs(rate - theory)[above] <= 1.05 * bound[above] + 1e-9)),
            "value": f"max error {max_err:.3g} Hz at dt {dt:g} ms",
        }
    )
    _write_csv(run_dir / "checks.csv", rows, ["check", "holds", "value"])
    print(
        "\nlif_fi_curve: rate vs current\n"
        + format_table(
            [
                {
                    "current": float(c),
                    "rate_hz": float(r),
                    "euler_hz": float(e),
                    "theory_hz": float(t),
                }
                for c, r, e, t in zip(current, rate, euler, theory, strict=True)
                if c % 10 == 0 or c == rh + 1
            ],
            ["current", "rate_hz", "euler_hz", "theory_hz"],
        )
    )
    print(format_table(rows, ["check", "holds", "value"]))
    print(f"-> {run_dir / 'fi_curve.csv'}, {run_dir / 'fi_curve.png'}")


EXPERIMENTS: dict[str, Callable[[Any, Path, dict[str, PopulationData]], None]] = {
    "izhikevich2004": _izhikevich2004,
    "izhikevich2004_accurate": _izhikevich2004,
    "izhikevich2003_cells": _izhikevich2003,
    "adex_patterns": _adex,
    "lif_fi_curve": _lif_fi,
    "brunel2000": lambda cfg, run_dir, pops: _network("brunel_finish", cfg, run_dir, pops),
    "izhikevich2003_network": lambda cfg, run_dir, pops: _network(
        "izhikevich_network_finish", cfg, run_dir, pops
    ),
}


def _network(name: str, cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> None:
    """The network experiments live in :mod:`simctl.network_analysis`."""
    from . import network_analysis

    getattr(network_analysis, name)(cfg, run_dir, pops)


def _get(cfg: Any, dotted: str, default: Any = None) -> Any:
    node = cfg
    for part in dotted.split("."):
        if node is None:
            return default
        try:
            node = node[part] if part in node else None
        except TypeError:
            node = getattr(node, part, None)
    if node is None:
        return default
    try:  # OmegaConf containers to plain Python
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(node, DictConfig | ListConfig):
            return OmegaConf.to_container(node, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return node


def finish(cfg: Any, run_dir: Path, h5_path: Path) -> None:
    """Dispatches on ``cfg.experiment.name``; writes the experiment's files into ``run_dir``.

    An experiment name without an after-run step does nothing.
    """
    name = _get(cfg, "experiment.name")
    if name not in EXPERIMENTS:
        return
    EXPERIMENTS[name](cfg, Path(run_dir), load_run(h5_path).populations)
