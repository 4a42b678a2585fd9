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
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis as an

__all__ = ["finish", "load_population", "PopulationData", "EXPERIMENTS", "format_table"]


@dataclass
class PopulationData:
    """One population of ``sim.h5``: spikes per neuron and the first recorded neuron's traces."""

    name: str
    dt: float
    t_stop: float
    size: int
    timestamps: np.ndarray
    node_ids: np.ndarray
    time: np.ndarray
    state: dict[str, np.ndarray]
    input_time: np.ndarray | None
    current: np.ndarray | None
    preset: str = ""

    def spikes(self, neuron: int = 0) -> np.ndarray:
        return np.sort(self.timestamps[self.node_ids == neuron])

    def panel(self, neuron: int = 0) -> an.PanelData:
        v = self.state.get("v", np.empty((0, 1)))
        return an.PanelData(
            spikes=self.spikes(neuron),
            dt=self.dt,
            t_stop=self.t_stop,
            time=self.time,
            v=v[:, 0] if v.ndim == 2 and v.shape[1] else np.empty(0),
        )


def _attr(attrs: Any, key: str, default: Any = None) -> Any:
    value = attrs.get(key, default)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def load_population(h5: Any, name: str) -> PopulationData:
    """Reads one population from an open ``h5py.File`` (product.md section 4)."""
    attrs = h5[f"populations/{name}"].attrs if f"populations/{name}" in h5 else {}
    dt = float(_attr(attrs, "dt", _attr(h5.attrs, "dt", float("nan"))))
    t_stop = float(_attr(attrs, "t_stop", _attr(h5.attrs, "t_stop", float("nan"))))
    size = int(_attr(attrs, "size", 1))
    preset = str(_attr(attrs, "preset", "") or "")
    if f"spikes/{name}" in h5:
        ts = np.asarray(h5[f"spikes/{name}/timestamps"][()], dtype=np.float64)
        ids = np.asarray(h5[f"spikes/{name}/node_ids"][()], dtype=np.int64)
    else:
        ts, ids = np.empty(0), np.empty(0, dtype=np.int64)
    state: dict[str, np.ndarray] = {}
    time = np.empty(0)
    if f"state/{name}" in h5:
        group = h5[f"state/{name}"]
        for key in group:
            data = np.asarray(group[key][()])
            if key == "time":
                time = data.astype(np.float64)
            elif key != "node_ids":
                data = data.astype(np.float64)
                state[key.split(".")[-1]] = data.reshape(data.shape[0], -1)
    input_time = current = None
    if f"input/{name}/current" in h5:
        cur = np.asarray(h5[f"input/{name}/current"][()], dtype=np.float64)
        current = cur.reshape(cur.shape[0], -1)[:, 0] if cur.ndim > 1 else cur
        if f"input/{name}/time" in h5:
            input_time = np.asarray(h5[f"input/{name}/time"][()], dtype=np.float64)
        elif time.size == current.size:
            input_time = time
        else:
            input_time = np.arange(current.size) * dt
    return PopulationData(name, dt, t_stop, size, ts, ids, time, state, input_time, current, preset)


def _population_names(h5: Any) -> list[str]:
    if "populations" in h5:
        return list(h5["populations"].keys())
    return list(h5.get("spikes", {}).keys())


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
    s = pop.spikes(0)
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
    held = sum(1 for r in rows if r["holds"] is True)
    failed = sum(1 for r in rows if r["holds"] is False)
    skipped = sum(1 for r in rows if r["holds"] is None)
    shown = [c for c in columns if c != "detail"]
    print(f"\n{title}\n" + format_table(rows, shown))
    print(f"{held} hold, {failed} fail, {skipped} not checked -> {run_dir / 'checks.csv'}")


def _trace_panel(label: str, title: str, pop: PopulationData, ok: bool | None) -> Any:
    from .figures import TracePanel

    d = pop.panel(0)
    return TracePanel(
        label, title, d.time, d.v, d.spikes, pop.input_time, pop.current, pop.t_stop, ok
    )


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
        check = an.check_izhikevich2004(p.letter, pop.panel(0), robust_only=robust)
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
        check = an.check_izhikevich2003(cell, pop.panel(0))
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
    if pop.current is None or pop.input_time is None or not np.any(pop.current != 0):
        return 0.0, pop.t_stop
    on = np.nonzero(pop.current != 0)[0]
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
        check = an.check_adex(name, pop.spikes(0), pop.dt, onset, offset)
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
    from .fi_curve import rate_closed_form, rate_euler, rheobase
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
        s = pop.spikes(n)
        s = s[s > transient]
        if s.size >= 2:
            rate[n] = 1000.0 / (s[-1] - s[-2])
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
    bound = (
        (theory / 1000.0) ** 2
        * dt
        * 1000.0
        * (
            1
            + 0.5
            * np.log(
                np.where(
                    above,
                    (current + e_l - v_reset) / np.where(above, current + e_l - theta, 1.0),
                    1.0,
                )
            )
        )
    )
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
}


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
    import h5py

    name = _get(cfg, "experiment.name")
    if name not in EXPERIMENTS:
        return
    run_dir = Path(run_dir)
    with h5py.File(h5_path, "r") as h5:
        pops = {n: load_population(h5, n) for n in _population_names(h5)}
    EXPERIMENTS[name](cfg, run_dir, pops)
