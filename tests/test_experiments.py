"""simctl.experiments.finish on a hand-written sim.h5, and each experiment end to end."""

import csv
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from simctl.experiments import finish, format_table
from simctl.fi_curve import rate_euler
from simctl.neurons.lif import LIFParameters
from simctl.neurons.lif_refrac import (
    LIFRefracParameters,
    lif_refrac_feed_forward_step,
    lif_refrac_initial_state,
)

FI_CFG = {
    "experiment": {"name": "lif_fi_curve", "options": {"transient": 0.0}},
    "populations": {
        "lif": {
            "neuron": {
                "model": "lif_refrac",
                "lif": {"tau_syn_inv": 10.0, "tau_mem_inv": 0.1, "v_leak": 0.0, "v_th": 20.0,
                        "v_reset": 0.0},
                "rho_reset": 20.0,
            },
            "input": {"protocol": "constant", "amplitude": [float(c) for c in range(0, 61, 5)]},
        }
    },
}  # fmt: skip


def _write_fi_h5(path, currents, dt=0.1, duration=300.0, v_leak=0.0, record_params=True):
    p = LIFRefracParameters(
        lif=LIFParameters(
            tau_syn_inv=1 / dt, tau_mem_inv=0.1, v_leak=v_leak, v_th=20.0, v_reset=0.0
        ),
        rho_reset=20.0,
    )
    x = torch.tensor(currents, dtype=torch.float64)
    state = lif_refrac_initial_state(x.shape, p, dtype=torch.float64)
    ts, ids = [], []
    with torch.no_grad():
        for k in range(round(duration / dt)):
            z, state = lif_refrac_feed_forward_step(x, state, p, dt)
            for n in np.nonzero(z.numpy())[0]:
                ts.append((k + 1) * dt)
                ids.append(n)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "simctl"  # what simctl.recording.load_run accepts
        g = f.create_group("populations/lif")
        g.attrs.update({"model": "lif_refrac", "size": len(currents), "dt": dt, "t_stop": duration})
        if record_params:  # what simctl's writer records: the parameters and the input that ran
            lif = {"tau_mem_inv": 0.1, "v_leak": v_leak, "v_th": 20.0, "v_reset": 0.0}
            g.attrs["parameters_json"] = json.dumps({"lif": lif, "t_ref": 2.0, "rho_reset": 20.0})
            g.attrs["input_json"] = json.dumps({"protocol": "constant", "amplitude": currents})
        f["spikes/lif/timestamps"] = np.array(ts)
        f["spikes/lif/node_ids"] = np.array(ids)


def test_finish_lif_fi_curve_writes_csv_and_png(tmp_path, capsys):
    currents = FI_CFG["populations"]["lif"]["input"]["amplitude"]
    _write_fi_h5(tmp_path / "sim.h5", currents)
    assert finish(OmegaConf.create(FI_CFG), tmp_path, tmp_path / "sim.h5") == []
    with open(tmp_path / "fi_curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["current", "rate_hz", "rate_theory_hz"]
    rate = np.array([float(r["rate_hz"]) for r in rows])
    np.testing.assert_allclose(rate, rate_euler(np.array(currents), 10.0, 20.0, 0.0, 2.0, 0.1))
    assert (tmp_path / "fi_curve.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "rate equals the exact forward-Euler formula" in out


def test_finish_lif_reads_the_parameters_recorded_in_sim_h5(tmp_path):
    """The run's v_leak (-10 mV, recorded in parameters_json) sets the rheobase, whatever the
    config says; the config's stale value (0.0) is not read."""
    currents = [float(c) for c in range(0, 61, 5)]
    _write_fi_h5(tmp_path / "sim.h5", currents, v_leak=-10.0)
    assert finish(OmegaConf.create(FI_CFG), tmp_path, tmp_path / "sim.h5") == []
    with open(tmp_path / "fi_curve.csv") as fh:
        theory = np.array([float(r["rate_theory_hz"]) for r in csv.DictReader(fh)])
    assert theory[currents.index(30.0)] == 0.0  # V_inf = -10 + 30 = 20 mV: at threshold
    assert theory[currents.index(35.0)] > 0.0
    _write_fi_h5(tmp_path / "sim.h5", currents, record_params=False)
    with pytest.raises(ValueError, match="parameters_json lacks 'tau_mem_inv'"):
        finish(OmegaConf.create(FI_CFG), tmp_path, tmp_path / "sim.h5")


def test_finish_honours_plot_format_and_reports_failures(tmp_path, capsys):
    currents = [float(c) for c in range(0, 61, 5)]
    _write_fi_h5(tmp_path / "sim.h5", currents)
    cfg = OmegaConf.create({**FI_CFG, "plot": {"format": "pdf"}})
    # Brian2's convention: the same run is Brian2's neuron with t_ref one step longer
    cfg.experiment.options.refractory_convention = "brian2"
    cfg.experiment.options.transient = 0.0
    failed = finish(cfg, tmp_path, tmp_path / "sim.h5")
    assert (tmp_path / "fi_curve.pdf").read_bytes()[:4] == b"%PDF"
    assert not (tmp_path / "fi_curve.png").exists()
    assert failed == []  # the rates equal Brian2's formula for t_ref + dt
    assert "brian2 refractory" in capsys.readouterr().out


def test_finish_rejects_an_unknown_refractory_convention(tmp_path):
    from simctl.config.errors import ConfigError

    _write_fi_h5(tmp_path / "sim.h5", [0.0, 30.0])
    cfg = OmegaConf.create(FI_CFG)
    cfg.experiment.options.refractory_convention = "nest"
    with pytest.raises(ConfigError, match="refractory_convention=nest: unknown; allowed: simctl"):
        finish(cfg, tmp_path, tmp_path / "sim.h5")


def test_finish_ignores_other_experiments(tmp_path):
    out = finish(OmegaConf.create({"experiment": {"name": "something_else"}}), tmp_path, "x")
    assert out == [] and not list(tmp_path.iterdir())


def test_format_table():
    text = format_table([{"a": 1.23456, "b": True, "c": None}], ["a", "b", "c"])
    assert "1.235" in text and "yes" in text and "n/a" in text


# --- end to end: one command per experiment ------------------------------------------------


def _run(tmp_path, name, *overrides, rc=0):
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "simctl.cli", "run", f"experiment={name}",
           f"hydra.run.dir={tmp_path}", *overrides]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == rc, proc.stderr[-3000:]
    with open(tmp_path / "checks.csv") as fh:
        return list(csv.DictReader(fh)), proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, figure, n_rows",
    [
        ("izhikevich2004", "figure1.png", 20),
        ("izhikevich2004_accurate", "figure1.png", 20),
        ("izhikevich2003_cells", "izhikevich2003.png", 8),
        ("adex_patterns", "adex_patterns.png", 15),
    ],
)
def test_experiment_end_to_end(tmp_path, name, figure, n_rows):
    rows, out = _run(tmp_path, name)
    assert len(rows) == n_rows
    assert (tmp_path / figure).stat().st_size > 20_000
    assert (tmp_path / "sim.h5").exists()
    failed = [r for r in rows if r["holds"] == "false"]
    assert not failed, failed
    if name == "izhikevich2004_accurate":
        skipped = {r["panel"] for r in rows if r["holds"] == ""}
        assert skipped == set("HNPQST")
    if name == "izhikevich2004":
        assert all(r["holds"] == "true" for r in rows)
        a = next(r for r in rows if r["panel"] == "A")
        # OSB: first crossing 13.0 ms; simctl stamps the end of the step (+1 step)
        assert abs(float(a["first_spike_ms"]) - 0.25 - 13.0) <= 0.25
    assert "hold" in out


@pytest.mark.slow
def test_lif_fi_curve_end_to_end(tmp_path):
    rows, out = _run(tmp_path, "lif_fi_curve")
    assert all(r["holds"] == "true" for r in rows), rows
    with open(tmp_path / "fi_curve.csv") as fh:
        fi = list(csv.DictReader(fh))
    assert len(fi) == 81
    current = np.array([float(r["current"]) for r in fi])
    rate = np.array([float(r["rate_hz"]) for r in fi])
    np.testing.assert_allclose(rate, rate_euler(current, 10.0, 20.0, 0.0, 2.0, 0.1), rtol=1e-9)
    assert (tmp_path / "fi_curve.png").exists()


@pytest.mark.slow
def test_failing_check_exits_1_after_writing_everything(tmp_path):
    """Panel C with d = 8 (doublets): exit 1, every file written, the failure named;
    ``experiment.strict=false`` exits 0 with the same files; the figure is in plot.format."""
    rows, out = _run(
        tmp_path / "strict", "izhikevich2004", "+populations.tonic_bursting.neuron.d=8",
        "plot.format=svg", rc=1,
    )  # fmt: skip
    assert [r["panel"] for r in rows if r["holds"] == "false"] == ["C"]
    assert "1 check(s) failed: C (tonic_bursting)" in out
    assert "FAILED C (tonic_bursting)" in out and "groups of [3, 2, 2, 2]" in out
    for name in ("sim.h5", "checks.csv", "figure1.svg", "summary.json"):
        assert (tmp_path / "strict" / name).exists(), name
    assert "d = 8 (paper 2)" in (tmp_path / "strict" / "figure1.svg").read_text()
    rows, out = _run(
        tmp_path / "lax", "izhikevich2004", "+populations.tonic_bursting.neuron.d=8",
        "experiment.strict=false", rc=0,
    )  # fmt: skip
    assert "FAILED C (tonic_bursting)" in out and "check(s) failed" not in out
    assert (tmp_path / "lax" / "figure1.png").exists()


def _same(a, b) -> bool:
    """Equal values of the same types (arrays: dtype, shape and values, NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and (a.dtype, a.shape) == (b.dtype, b.shape)
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", ["izhikevich2004", "lif_fi_curve"])
def test_kept_populations_are_what_load_run_reads(tmp_path, name, monkeypatch):
    """``simctl run experiment=...`` hands the after-run step what it wrote, kept in memory
    (simctl.app.KeepingWriter), instead of reading sim.h5 back: field for field, dtype for
    dtype, it is what load_run reads from the file; past KEEP_BYTES nothing is kept."""
    import dataclasses

    from conftest import compose_cfg

    from simctl import app
    from simctl.recording import load_run

    cfg = compose_cfg(f"experiment={name}", "plot.enabled=false")
    kept: dict = {}
    h5 = app.simulate(cfg, tmp_path / "a", {"experiment": name}, config_dirs=[], kept=kept)
    read = load_run(h5).populations
    assert list(kept) == list(read) and len(read) == (20 if name == "izhikevich2004" else 1)
    for pop in read:
        for f in dataclasses.fields(read[pop]):
            assert _same(getattr(kept[pop], f.name), getattr(read[pop], f.name)), (pop, f.name)
    assert kept[next(iter(read))].spike_times.size > 0
    monkeypatch.setattr(app, "KEEP_BYTES", 1000)
    kept = {}
    app.simulate(cfg, tmp_path / "b", {"experiment": name}, config_dirs=[], kept=kept)
    assert kept == {}
