"""After-run step of the textbook experiments (``configs/experiment/*.yaml``).

``simctl run experiment=<name>`` simulates the experiment's populations and then calls
:func:`finish`, which reads ``sim.h5`` (the layout of README.md, "The HDF5 file"), checks each
population
against the published result, prints the table and writes the experiment's own files into the
run directory:

| experiment | files |
|---|---|
| ``izhikevich2004`` | ``figure1.png`` (5 x 4, like the paper), ``checks.csv`` |
| ``izhikevich2004_accurate`` | the same; only properties robust to accurate integration |
| ``izhikevich2003_cells`` | ``izhikevich2003.png``, ``checks.csv`` |
| ``adex_patterns`` | ``adex_patterns.png``, ``checks.csv`` |
| ``lif_fi_curve`` | ``fi_curve.csv`` (current, rate_hz, rate_theory_hz), ``fi_curve.png`` |
| ``brunel2000`` | ``brunel2000.png`` (Fig. 8 A-D), ``checks.csv`` |
| ``izhikevich2003_network`` | ``izhikevich2003_network.png`` (Fig. 3), ``checks.csv`` |
"""

from __future__ import annotations

import csv
import json
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
    """What the checks of :mod:`simctl.analysis` look at: neuron 0's spikes, trace and input
    (the recorded current sits at the grid time ``k*dt`` where the protocol is evaluated)."""
    time = pop.state_time if pop.state_time is not None else np.empty(0)
    t_in = pop.input_time if pop.input_time is not None else np.empty(0)
    return an.PanelData(
        _spikes(pop),
        pop.dt,
        pop.t_stop,
        time,
        _voltage(pop),
        t_in,
        _first_column(pop.input_current),
    )


def paper_differences(pop: PopulationData, dirs: list[Path] | None = None) -> list[str]:
    """How the population's recorded parameters differ from its preset's (the paper's) values.

    Compares what the preset file sets (``neuron.*`` scalars, ``neuron.physical.*``,
    ``simulation.dt`` and ``input.*``) with ``parameters_json``, ``dt`` and ``input_json`` of
    ``sim.h5``; e.g. ``["d = 8 (paper 2)"]``. Empty for a population without a preset.
    """
    name = pop.attrs.get("preset") or ""
    if not name:
        return []
    try:
        from .config.resolve import load_option, search_dirs

        preset = load_option("preset", name, dirs if dirs is not None else search_dirs())
    except Exception:  # noqa: BLE001 - a preset that is gone: nothing to compare with
        return []
    params = pop.parameters
    try:
        given = json.loads(pop.attrs.get("input_json") or "{}")
    except ValueError:
        given = {}
    out = []

    def compare(key: str, paper: Any, used: Any) -> None:
        if isinstance(paper, bool) or not isinstance(paper, (int, float, str)) or used is None:
            return
        if isinstance(paper, str) or isinstance(used, (bool, str)):
            if paper != used:
                out.append(f"{key} = {used} (paper {paper})")
        elif not math.isclose(float(paper), float(used), rel_tol=1e-9, abs_tol=1e-12):
            out.append(f"{key} = {float(used):g} (paper {float(paper):g})")

    neuron = preset.get("neuron") or {}
    for key, paper in neuron.items():
        if key == "physical" and isinstance(paper, dict):
            for k, v in paper.items():
                compare(k, v, (params.get("physical") or {}).get(k))
        elif key != "model":
            compare(key, paper, params.get(key))
    sim = preset.get("simulation") or {}
    if "dt" in sim:
        compare("dt", sim["dt"], pop.dt)
    for key, paper in (preset.get("input") or {}).items():
        if key != "protocol":
            compare(f"input.{key}", paper, given.get(key))
    return out


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


def _report(
    run_dir: Path, title: str, rows: list[dict[str, Any]], columns: list[str], key: str = "panel"
) -> list[str]:
    """Writes checks.csv, prints the table and each failure's detail; returns the failures
    (``"<panel> (<population>)"``)."""
    _write_csv(run_dir / "checks.csv", rows, columns)
    n = an.summarize([r["holds"] for r in rows])
    shown = [c for c in columns if c != "detail"]
    print(f"\n{title}\n" + format_table(rows, shown))
    failed = []
    for r in rows:
        if r["holds"] is False:
            label = f"{r[key]} ({r['population']})" if r.get("population") else str(r[key])
            failed.append(label)
            print(f"FAILED {label}: {r.get('property', '')}: {r.get('detail') or r.get('value')}")
    print(
        f"{n['holds']} hold, {n['fails']} fail, {n['skipped']} not checked"
        f" -> {run_dir / 'checks.csv'}"
    )
    return failed


def _trace_panel(label: str, title: str, pop: PopulationData, check: an.Check) -> Any:
    from .figures import TracePanel

    d = _panel_data(pop)
    current = _first_column(pop.input_current) if pop.input_current is not None else None
    return TracePanel(
        label,
        title,
        d.time,
        d.v,
        d.spikes,
        pop.input_time,
        current,
        d.t_stop,
        check.holds,
        changed=paper_differences(pop),
        runaway=an.runaway(d.spikes, d.t_stop, d.dt),
    )


def _figure_path(cfg: Any, run_dir: Path, stem: str) -> Path:
    """``run_dir/<stem>.<plot.format>`` (png, pdf or svg; png when unset)."""
    fmt = str(_get(cfg, "plot.format", "png") or "png")
    return run_dir / f"{stem}.{fmt}"


def _number_first(text: str) -> tuple[int, float, str]:
    """Sort key: numbers by value, then other text."""
    try:
        return 0, float(text), ""
    except ValueError:
        return 1, 0.0, text


def _changed_note(panels: list[Any]) -> str:
    """What differs from the paper, for the figure: a key changed the same way in every panel
    is said once ("every panel: dt = 0.025 (paper 0.1-0.5)"), the rest per panel."""
    import re

    parsed = []
    for p in panels:
        items = {}
        for text in getattr(p, "changed", None) or []:
            m = re.match(r"^(\S+) = (.*) \(paper (.*)\)$", text)
            key, used, paper = m.groups() if m else (text, "", "")
            items[key] = (used, paper)
        parsed.append(items)
    if not any(parsed):
        return ""
    common = set.intersection(*(set(i) for i in parsed)) if parsed else set()
    common = {k for k in common if len({i[k][0] for i in parsed}) == 1}
    parts = []
    if common and len(parsed) > 1:
        said = []
        for k in sorted(common):
            papers = sorted({i[k][1] for i in parsed}, key=_number_first)
            paper = papers[0] if len(papers) == 1 else f"{papers[0]}-{papers[-1]}"
            said.append(f"{k} = {parsed[0][k][0]} (paper {paper})")
        parts.append("every panel: " + ", ".join(said))
    for p, items in zip(panels, parsed, strict=True):
        rest = [f"{k} = {u} (paper {v})" for k, (u, v) in items.items() if k not in common]
        if rest:
            parts.append(f"{p.label or p.title}: {', '.join(rest)}")
    return "* differs from the paper: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# experiments


def _izhikevich2004(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> list[str]:
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
        panels.append(_trace_panel(p.letter, p.title, pop, check))
    name = _get(cfg, "experiment.name", "izhikevich2004")
    trace_grid(
        panels,
        _figure_path(cfg, run_dir, "figure1"),
        nrows=5,
        ncols=4,
        title="Izhikevich (2004) Fig. 1, simulated by simctl: "
        + (
            "accurate integration (dt 0.025 ms, simultaneous update); H, N, P, Q, S, T not checked"
            if robust
            else "published numerics of figure1.m"
        ),
        note=_changed_note(panels),
        input_label="input I (dimensionless, as in figure1.m)",
    )
    return _report(run_dir, f"{name}: defining property of each panel", rows, CHECK_COLUMNS)


def _izhikevich2003(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> list[str]:
    from .figures import trace_grid

    rows, panels = [], []
    for cell, (title, _, _) in an.IZHIKEVICH_2003.items():
        if cell not in pops:
            continue
        pop = pops[cell]
        check = an.check_izhikevich2003(cell, _panel_data(pop))
        rows.append(_check_row(cell.upper(), pop, check))
        panels.append(_trace_panel("", title, pop, check))
    trace_grid(
        panels,
        _figure_path(cfg, run_dir, "izhikevich2003"),
        nrows=2,
        ncols=4,
        scale_bar_ms=20.0,
        title="Izhikevich (2003) Fig. 2 cell classes, simulated by simctl (izhi2003.m protocols)",
        note=_changed_note(panels),
        input_label="input I (dimensionless, as in izhi2003.m)",
    )
    return _report(
        run_dir, "izhikevich2003_cells: qualitative behaviour of each class", rows, CHECK_COLUMNS
    )


def _step_window(pop: PopulationData) -> tuple[float, float]:
    """Onset and offset (ms) of the current: where it first/last differs from zero."""
    current = _first_column(pop.input_current)
    if pop.input_time is None or not np.any(current != 0):
        return 0.0, pop.t_stop
    on = np.nonzero(current != 0)[0]
    t = pop.input_time
    # the recorded current of step k sits at the grid time k*dt of that step
    shift = t[0] if t.size else 0.0
    onset = float(t[on[0]] - shift)
    offset = float(t[on[-1]] - shift + pop.dt) if on[-1] + 1 < t.size else float("inf")
    return onset, offset


def _adex(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> list[str]:
    from .figures import trace_grid

    rows, panels = [], []
    for name in an.ADEX_PATTERNS:
        if name not in pops:
            continue
        pop = pops[name]
        onset, offset = _step_window(pop)
        check = an.check_adex(name, _spikes(pop), pop.dt, onset, offset)
        src = "Naud 2008" if name.startswith("adex_") else "ND Tab. 6.1"
        rows.append(_check_row(src, pop, check))
        title = name.split("_", 1)[1].replace("_", " ")
        if "adapted" in str(pop.attrs.get("source", "")):
            title += ", adapted I"
        panels.append(_trace_panel("", f"{title} ({src})", pop, check))
    ncols = 4
    nrows = max(1, math.ceil(len(panels) / ncols))
    trace_grid(
        panels,
        _figure_path(cfg, run_dir, "adex_patterns"),
        nrows=nrows,
        ncols=ncols,
        v_lim=(-90.0, 5.0),
        peak=0.0,
        scale_bar_ms=100.0,
        scale_bar_mv=20.0,
        title="AdEx firing patterns simulated by simctl: Naud et al. (2008) Fig. 4 and "
        "Neuronal Dynamics Table 6.1 ('adapted I': step amplitude chosen from a scan)",
        note=_changed_note(panels),
        input_label="input current (pA)",
        input_unit="pA",
        peak_label="membrane potential (spikes drawn to 0 mV)",
    )
    return _report(run_dir, "adex_patterns: signature of each firing pattern", rows, CHECK_COLUMNS)


def _refractory_ms(params: dict[str, Any], dt: float) -> float:
    """The refractory period (ms) recorded in ``parameters_json``: ``t_ref`` (ms) when the model
    states it, else ``rho_reset`` steps of ``dt``."""
    for key in ("t_ref", "tau_ref", "refractory"):
        if isinstance(params.get(key), (int, float)):
            return float(params[key])
    if isinstance(params.get("rho_reset"), (int, float)):
        return float(params["rho_reset"]) * dt
    raise ValueError("the population's parameters_json records no refractory period (rho_reset)")


def _lif_fi(cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> list[str]:
    from .fi_curve import CONVENTIONS, euler_error_bound, rate_closed_form, rate_euler, rheobase
    from .figures import fi_figure

    name = next(iter(pops))
    pop = pops[name]
    # what ran: the parameters and the input recorded in sim.h5
    params = pop.parameters
    lif = params.get("lif", params)
    try:
        tau_m = 1.0 / float(lif["tau_mem_inv"])
        theta, v_reset, e_l = float(lif["v_th"]), float(lif["v_reset"]), float(lif["v_leak"])
    except KeyError as missing:
        raise ValueError(f"sim.h5: {name}'s parameters_json lacks {missing}") from None
    dt = pop.dt
    convention = str(_get(cfg, "experiment.options.refractory_convention", "simctl"))
    if convention not in CONVENTIONS:
        from .config.errors import ConfigError

        raise ConfigError(
            "experiment.options.refractory_convention", convention, "unknown", CONVENTIONS
        )
    # simctl holds the spike step plus rho_reset steps; Brian2's refractory=t_ref holds one step
    # fewer, so the same run is Brian2's neuron with t_ref one step longer
    t_ref = _refractory_ms(params, dt) + (dt if convention == "brian2" else 0.0)
    given = json.loads(pop.attrs.get("input_json") or "{}")
    amp = given.get("amplitude")
    if amp is None:
        raise ValueError(f"sim.h5: {name}'s input_json records no amplitude")
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
    euler = rate_euler(current, tau_m, theta, v_reset, t_ref, dt, e_l, convention=convention)
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
    fig = _figure_path(cfg, run_dir, "fi_curve")
    fi_figure(
        current,
        rate,
        theory,
        fig,
        rh,
        rate_discrete=euler,
        current_fine=fine,
        rate_theory_fine=rate_closed_form(fine, tau_m, theta, v_reset, t_ref, e_l),
        title=f"LIF f-I curve (tau_m {tau_m:g} ms, theta {theta:g} mV, "
        f"V_r {v_reset:g} mV, t_ref {t_ref:g} ms; {convention} refractory convention)",
        note=f"dt {dt:g} ms forward Euler: max |sim - closed form| = {max_err:.3g} Hz",
        xlabel="input R·I (mV)",
    )
    rows = []
    above = current > rh
    equal = bool(np.allclose(rate, euler, rtol=1e-9, atol=0.0))
    rows.append(
        {
            "check": f"rate equals the exact forward-Euler formula ({convention} refractory)",
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
    failed = [r["check"] for r in rows if r["holds"] is False]
    for r in rows:
        if r["holds"] is False:
            print(f"FAILED {r['check']}: {r['value']}")
    print(f"-> {run_dir / 'fi_curve.csv'}, {fig}")
    return failed


EXPERIMENTS: dict[str, Callable[[Any, Path, dict[str, PopulationData]], list[str]]] = {
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


def _network(name: str, cfg: Any, run_dir: Path, pops: dict[str, PopulationData]) -> list[str]:
    """The network experiments live in :mod:`simctl.network_analysis` (failed checks back)."""
    from . import network_analysis

    return getattr(network_analysis, name)(cfg, run_dir, pops)


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


def finish(
    cfg: Any, run_dir: Path, h5_path: Path, pops: dict[str, PopulationData] | None = None
) -> list[str]:
    """Dispatches on ``cfg.experiment.name``; writes the experiment's files into ``run_dir``
    and returns the checks that failed (empty when all hold or nothing is checked).

    ``pops``: the populations of ``h5_path`` already in memory (``simctl run`` keeps what it
    writes: :class:`simctl.app.KeepingWriter`); None reads them from the file.

    The caller (``simctl run``) exits 1 on a failure unless ``experiment.strict`` is false.
    An experiment name without an after-run step does nothing.
    """
    name = _get(cfg, "experiment.name")
    if name not in EXPERIMENTS:
        return []
    if pops is None:
        pops = load_run(h5_path).populations
    return EXPERIMENTS[name](cfg, Path(run_dir), pops)
