"""The shipped networks end to end: experiments, statistics, figures, the phase-diagram sweep."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from simctl.network_analysis import NetworkStats, _signature, balanced_rate, population_stats

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _table(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_population_stats_on_known_trains():
    """A clock (every neuron every 10 ms, all in phase): rate 100 Hz, CV 0, χ = 1, peak at
    100 Hz (a multiple of the period's harmonics: the fundamental is the largest). Independent
    Poisson trains: CV ≈ 1 and χ ≈ 1/√N."""
    n, t1 = 20, 1000.0
    ticks = np.arange(5.0, t1, 10.0)
    times = np.tile(ticks, n)
    ids = np.repeat(np.arange(n), ticks.size)
    s = population_stats(times, ids, n, 0.0, t1)
    assert s.rate_hz == pytest.approx(100.0)
    assert s.cv_isi == pytest.approx(0.0, abs=1e-9)
    assert s.chi == pytest.approx(1.0)
    assert s.f_peak_hz == pytest.approx(100.0)
    rng = np.random.default_rng(0)
    n = 400
    counts = rng.poisson(20.0, n)  # 20 Hz over 1 s
    times = np.concatenate([np.sort(rng.uniform(0, t1, c)) for c in counts])
    ids = np.repeat(np.arange(n), counts)
    s = population_stats(times, ids, n, 0.0, t1)
    assert abs(s.cv_isi - 1.0) < 0.1
    assert s.chi < 3 / math.sqrt(n)


def test_balanced_estimate():
    assert balanced_rate(5.0, 2.0) == pytest.approx(40.0)
    assert balanced_rate(6.0, 4.0) == pytest.approx(60.0)
    assert balanced_rate(3.0, 2.0) is None and balanced_rate(4.5, 0.9) is None


#: full-scale statistics of NEST 3.10 (iaf_psc_delta, fixed in-degree without multapses, 1.2 s,
#: E and I after 200 ms, seed 1; benchmarks/brunel_nest.py): (rate, CV, chi, f_peak, prominence)
NEST_FULL_SCALE = {
    "A": (333.0, 0.001, 0.502, 333.0, 1.1e5),
    "B": (59.4, 0.769, 0.217, 185.0, 339.0),
    "C": (37.95, 0.401, 0.105, 138.0, 93.0),
    "D": (5.60, 0.542, 0.146, 25.0, 134.0),
}
PANEL_REGIMES = {"A": ("SR", 3.0, 2.0), "B": ("SI fast", 6.0, 4.0), "C": ("AI", 5.0, 2.0)}
PANEL_REGIMES["D"] = ("SI slow", 4.5, 0.9)


def _stats(rate: float, cv: float, chi: float, f_peak: float, prominence: float) -> NetworkStats:
    return NetworkStats(rate, cv, chi, f_peak, prominence, n_spikes=100_000)


def _holds(regime: str, s: NetworkStats, g: float, eta: float) -> dict[str, bool]:
    return {prop: ok for prop, ok, _ in _signature(regime, s, g, eta)}


@pytest.mark.parametrize("panel", "ABCD")
def test_brunel_checks_pass_on_a_peers_statistics(panel: str):
    """Every check of a panel holds on NEST's statistics of the same model at full scale."""
    regime, g, eta = PANEL_REGIMES[panel]
    holds = _holds(regime, _stats(*NEST_FULL_SCALE[panel]), g, eta)
    assert holds and all(holds.values()), holds


def test_brunel_checks_discriminate_the_regimes():
    """The CV thresholds separate regular from irregular: panel A's statistics fail the AI and
    SI checks, C's and D's fail SR's; CVs just across a threshold flip it."""
    a, c, d = (_stats(*NEST_FULL_SCALE[p]) for p in "ACD")
    ai = _holds("AI", a, 5.0, 2.0)
    assert not ai["asynchronous: chi < 0.2"] and not ai["irregular: ISI CV > 0.3"]
    assert not _holds("SI slow", a, 4.5, 0.9)["irregular: ISI CV > 0.4"]
    assert not _holds("SI fast", a, 6.0, 4.0)["irregular: ISI CV > 0.5"]
    for s in (c, d):
        sr = _holds("SR", s, 3.0, 2.0)
        assert not sr["synchronous: chi > 0.2"] and not sr["regular: ISI CV < 0.3"]
    # D's low rate is far from the balanced estimate the AI panel's (g, eta) predicts
    assert not _holds("AI", d, 5.0, 2.0)["balanced estimate 40 Hz (+-40%)"]
    for regime, prop, below, above in (
        ("AI", "irregular: ISI CV > 0.3", 0.29, 0.31),
        ("SI slow", "irregular: ISI CV > 0.4", 0.39, 0.41),
        ("SR", "regular: ISI CV < 0.3", 0.31, 0.29),
    ):
        for cv, expected in ((below, False), (above, True)):
            s = _stats(*NEST_FULL_SCALE["C"])
            s.cv_isi = cv
            assert _holds(regime, s, 5.0, 2.0)[prop] is expected, (regime, cv)


def test_brunel2000_experiment_is_strict():
    import yaml

    cfg = yaml.safe_load((CONFIGS / "experiment" / "brunel2000.yaml").read_text())
    assert cfg["experiment"]["strict"] is True


def test_brunel2000_experiment_small(tmp_path: Path):
    """The four panels at 5 % size: files, one row of checks per property, the exit status of
    a strict experiment, and the robust contrast between the synchronous regular (A) and the
    asynchronous irregular (C) panels."""
    done = run_cli(
        "run",
        "experiment=brunel2000",
        "network.scale=0.05",
        "simulation.duration=300",
        f"hydra.run.dir={tmp_path}",
        timeout=600,
    )
    assert (tmp_path / "brunel2000.png").stat().st_size > 10_000
    rows = _table(tmp_path / "checks.csv")
    assert {r["panel"] for r in rows} == {"A", "B", "C", "D"}
    # strict: a failed check (the regimes blur at 5 %) exits 1 after writing every file
    failed = any(r["holds"] != "true" for r in rows)
    assert done.returncode == (1 if failed else 0), done.stderr[-2000:]
    assert "cv_isi" in done.stdout and "f_peak_hz" in done.stdout
    from simctl.recording import load_run

    run = load_run(tmp_path / "sim.h5", state=False)
    stats = {}
    for panel in "AC":
        e, i = run.populations[f"E_{panel}"], run.populations[f"I_{panel}"]
        times = np.concatenate([e.spike_times, i.spike_times])
        ids = np.concatenate([e.spike_ids, i.spike_ids + e.size])
        stats[panel] = population_stats(times, ids, e.size + i.size, 100.0, 300.0)
    assert stats["A"].cv_isi < 0.5 < stats["C"].cv_isi
    assert stats["A"].rate_hz > 2 * stats["C"].rate_hz


@pytest.mark.slow
def test_brunel2000_regimes_at_one_fifth(tmp_path: Path):
    """At 20 % size (C_E = 200, J = 0.5 mV) the signatures of A, B and C hold, and the
    balanced-state estimate for B and C (60 and 40 Hz) within 40 %; D's rate (about 19 Hz: the
    fluctuations grow by 1/sqrt(scale)) fails its low-rate check, and the strict run exits 1."""
    done = run_cli(
        "run",
        "experiment=brunel2000",
        "network.scale=0.2",
        f"hydra.run.dir={tmp_path}",
        timeout=1500,
    )
    rows = _table(tmp_path / "checks.csv")
    for r in rows:
        if r["panel"] in "ABC":
            assert r["holds"] == "true", r
    failed = any(r["holds"] != "true" for r in rows)
    assert done.returncode == (1 if failed else 0), done.stderr[-2000:]


def test_izhikevich2003_network_experiment(tmp_path: Path):
    """net.m at full size: every check holds (rates within the band derived from net.m's own
    loop, alpha and gamma power above a flat spectrum's, volleys)."""
    done = run_cli(
        "run", "experiment=izhikevich2003_network", f"hydra.run.dir={tmp_path}", timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _table(tmp_path / "checks.csv")
    assert len(rows) == 5 and all(r["holds"] == "true" for r in rows), rows
    assert (tmp_path / "izhikevich2003_network.png").stat().st_size > 10_000
    assert (tmp_path / "raster.png").is_file()


def test_phase_diagram_sweep_and_collect(tmp_path: Path):
    sweep = tmp_path / "sweep"
    done = run_cli(
        "run",
        "-m",
        "network=brunel2000",
        "network.g=4,6",
        "network.eta=1,2",
        "network.scale=0.03",
        "simulation.duration=60",
        "plot.enabled=false",
        f"hydra.sweep.dir={sweep}",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_cli("collect", str(sweep))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _table(sweep / "collect.csv")
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert all(float(r["cv_isi:E"]) > 0 for r in rows)
    assert (sweep / "collect_heatmaps.png").stat().st_size > 5_000
