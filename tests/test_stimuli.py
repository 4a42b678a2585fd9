"""Input protocols on the grid t_k = k·dt, with the strict/non-strict edges of the papers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import resolve_overrides

from simctl.stimuli import build_encoder, build_stimulus


def _input(*overrides: str, k0: int = 0, k1: int | None = None, size: int = 1):
    pop = resolve_overrides(*overrides).populations[0]
    stim = build_stimulus(
        pop.input, pop.size, pop.dt, torch.float64, "cpu", torch.Generator().manual_seed(0)
    )
    values = stim.block(k0, pop.n_steps if k1 is None else k1).numpy()
    t = np.arange(k0, pop.n_steps if k1 is None else k1) * pop.dt
    return t, values[:, 0], pop


def test_spike_latency_pulse_selects_14_grid_points():
    t, i, pop = _input("preset=spike_latency")
    on = t[i != 0]
    assert pop.dt == 0.2 and len(on) == 14
    assert on[0] == pytest.approx(10.2) and on[-1] == pytest.approx(12.8)
    assert np.all(i[i != 0] == pytest.approx(7.04))


def test_tonic_spiking_step_is_strict():
    t, i, _ = _input("preset=tonic_spiking")
    assert i[t <= 10 + 1e-9].max() == 0 and np.all(i[t > 10 + 1e-9] == 14)
    assert len(t) == 401


def test_accommodation_ramps():
    t, i, _ = _input("preset=accommodation")
    assert i[t == 100][0] == pytest.approx(4.0)  # t/25
    assert i[(t >= 200) & (t < 300)].max() == 0
    assert i[t == 300][0] == 0 and i[t == 306.0][0] == pytest.approx(4 * 6 / 12.5)
    assert i[t >= 312.5].max() == 0


def test_inhibition_induced_window_is_inclusive():
    t, i, _ = _input("preset=inhibition_induced_spiking")
    assert i[t == 50][0] == 75 and i[t == 250][0] == 75
    assert i[t == 49.5][0] == 80 and i[t == 250.5][0] == 80


def test_class_ramps_and_bistability_baseline():
    t, i, _ = _input("preset=class_2_exc")
    assert i[t == 30][0] == pytest.approx(-0.5) and i[t == 300][0] == pytest.approx(3.55)
    t, i, _ = _input("preset=class_1_exc")
    assert i[t == 300][0] == pytest.approx(20.25)
    t, i, _ = _input("preset=bistability")
    assert (
        i[0] == pytest.approx(0.24)
        and i[t == 40][0] == pytest.approx(1.24)
        and i[t == 42.5][0] == pytest.approx(0.24)
    )


def test_integrator_windows():
    t, i, _ = _input("preset=integrator")
    on = t[i > 0]
    assert on[0] == pytest.approx(9.25) and 72 not in on and 70.25 in on


def test_pulses_sine_ramp():
    t, i, _ = _input(
        "input=pulses",
        "input.start=10",
        "input.width=2",
        "input.period=10",
        "input.count=2",
        "simulation.dt=1",
        "simulation.duration=50",
    )
    assert list(t[i > 0]) == [10, 11, 20, 21]
    t, i, _ = _input(
        "input=sine",
        "input.amplitude=1",
        "input.offset=0",
        "input.frequency=10",
        "simulation.dt=25",
        "simulation.duration=100",
    )
    assert i == pytest.approx([0, 1, 0, -1], abs=1e-12)
    t, i, _ = _input(
        "input=ramp",
        "input.start=10",
        "input.stop=20",
        "input.slope=1",
        "input.hold=true",
        "simulation.dt=5",
        "simulation.duration=30",
    )
    assert list(i) == [0, 0, 0, 5, 10, 10]


def test_per_neuron_amplitude():
    pop = resolve_overrides(
        "input=constant", "input.amplitude=[1,2,3]", "population.size=3"
    ).populations[0]
    stim = build_stimulus(pop.input, 3, pop.dt, torch.float32, "cpu")
    assert stim.block(0, 2).tolist() == [[1, 2, 3], [1, 2, 3]]


def test_noise_is_seeded_and_ou_has_its_std():
    pop = resolve_overrides(
        "input=noise",
        "input.kind=ou",
        "input.mean=1",
        "input.std=2",
        "input.tau=5",
        "population.size=200",
    ).populations[0]

    def draw(seed):
        stim = build_stimulus(
            pop.input, 200, 0.5, torch.float64, "cpu", torch.Generator().manual_seed(seed)
        )
        return torch.cat([stim.block(0, 500), stim.block(500, 1000)])

    a, b, c = draw(1), draw(1), draw(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.mean()) == pytest.approx(1, abs=0.15) and float(a.std()) == pytest.approx(
        2, rel=0.1
    )


def test_ou_noise_follows_its_recurrence_across_blocks():
    """The block-wise OU (a scan) is the step-by-step update x' = m + (x − m)·e + k·xi, with
    the same draws, however the run is cut into blocks."""
    pop = resolve_overrides(
        "input=noise", "input.kind=ou", "input.mean=1", "input.std=2", "input.tau=5"
    ).populations[0]
    stim = build_stimulus(pop.input, 3, 0.5, torch.float64, "cpu", torch.Generator().manual_seed(4))
    got = torch.cat([stim.block(0, 1), stim.block(1, 300), stim.block(300, 1000)])
    g = torch.Generator().manual_seed(4)

    def normal(*shape):
        return torch.randn(shape, dtype=torch.float64, generator=g)

    draws = [normal(1, 3)]
    x = 1 + 2 * normal(3)  # the start, drawn after the first block's kicks
    draws += [normal(299, 3), normal(700, 3)]
    decay = np.exp(-0.5 / 5)
    kick = 2 * np.sqrt(1 - decay**2)
    expected = []
    for xi in torch.cat(draws):
        expected.append(x)
        x = 1 + (x - 1) * decay + kick * xi
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["constant_current_lif", "spike_latency_lif", "spike_latency"])
def test_windowed_encoders_do_not_depend_on_the_blocks(name):
    """Windows (50 ms) that straddle blocks carry their held value, voltage and first spikes."""
    pop = resolve_overrides(
        f"encoder={name}",
        "encoder.window=50",
        "input=ramp",
        "input.slope=0.004",
        "input.start=0",
        "population.size=3",
    ).populations[0]

    def current(cuts):
        stim = build_stimulus(pop.input, 3, 1.0, torch.float64, "cpu")
        enc = build_encoder(
            pop.encoder, 3, 1.0, 200, torch.float64, "cpu", torch.Generator().manual_seed(0)
        )
        return torch.cat([enc(stim, a, b) for a, b in zip(cuts, cuts[1:], strict=False)])

    whole = current([0, 200])
    assert torch.equal(whole, current([0, 37, 50, 51, 120, 200]))
    assert float(whole.abs().sum()) > 0
    if name != "constant_current_lif":  # at most one spike per train and window
        per_window = (whole.reshape(4, 50, 3) != 0).sum(1)
        assert int(per_window.max()) <= pop.encoder.fan_in


@pytest.mark.parametrize(
    "name",
    [
        "poisson",
        "signed_poisson",
        "bernoulli",
        "constant_current_lif",
        "spike_latency_lif",
        "spike_latency",
        "population",
    ],
)
def test_encoders_drive_currents(name):
    pop = resolve_overrides(
        f"encoder={name}",
        "input=constant",
        "input.amplitude=0.8",
        "population.size=4",
        "simulation.dt=1",
    ).populations[0]
    stim = build_stimulus(pop.input, 4, 1.0, torch.float32, "cpu")
    enc = build_encoder(
        pop.encoder, 4, 1.0, 200, torch.float32, "cpu", torch.Generator().manual_seed(0)
    )
    current = torch.cat([enc(stim, 0, 100), enc(stim, 100, 200)])
    assert current.shape == (200, 4)
    assert float(current.abs().sum()) > 0
    if name in ("spike_latency_lif", "spike_latency"):
        per_window = (current[:50] != 0).sum(0)
        assert int(per_window.max()) <= pop.encoder.fan_in


@pytest.mark.parametrize(
    "name",
    [
        "poisson",
        "signed_poisson",
        "bernoulli",
        "constant_current_lif",
        "spike_latency_lif",
        "spike_latency",
        "population",
    ],
)
def test_encoders_return_the_run_dtype(name):
    """The library's Poisson encoders return float32 spikes (as Norse's); a float64 run must
    still get float64 currents."""
    pop = resolve_overrides(
        f"encoder={name}", "input=constant", "input.amplitude=0.8", "population.size=4"
    ).populations[0]
    stim = build_stimulus(pop.input, 4, 1.0, torch.float64, "cpu")
    enc = build_encoder(
        pop.encoder, 4, 1.0, 20, torch.float64, "cpu", torch.Generator().manual_seed(0)
    )
    assert enc(stim, 0, 20).dtype == torch.float64


def test_float64_run_with_an_encoder_is_float64_and_reproducible(tmp_path):
    from conftest import simulate

    from simctl import registry
    from simctl.recording import load_run

    overrides = (
        "neuron=lif",
        "encoder=poisson",
        "input=constant",
        "input.amplitude=0.5",
        "population.size=20",
        "simulation.dtype=float64",
        "simulation.dt=0.5",
        "simulation.duration=200",
        "simulation.device=cpu",
    )
    spec = resolve_overrides(*overrides)
    pop = registry.build_population(
        spec.populations[0], 0, spec.simulation, spec.record, "cpu", torch.float64
    )
    block = pop.input_block(0, 10)
    assert block.dtype == torch.float64 and float(block.abs().sum()) > 0
    runs = [load_run(simulate(tmp_path / f"run{k}", *overrides)) for k in range(2)]
    a, b = (r.populations["lif"] for r in runs)
    assert runs[0].attrs["dtype"] == "float64"
    assert a.spike_times.size > 0
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    np.testing.assert_array_equal(a.spike_ids, b.spike_ids)
    np.testing.assert_array_equal(a.input_current, b.input_current)


def test_rate_encoder_chunks_give_the_numbers_of_one_draw(monkeypatch):
    """Memory is bounded (rows at a time) without changing a seeded run's spikes."""
    from types import SimpleNamespace

    from simctl.stimuli import STIMULI, _Poisson

    spec = SimpleNamespace(fan_in=40, f_max=100.0, weight=2.0, window=None)
    stim = STIMULI["constant"](SimpleNamespace(amplitude=0.5), 30, 0.1, torch.float64, "cpu")

    def draw(chunk):
        monkeypatch.setattr(_Poisson, "chunk_elements", chunk)
        enc = _Poisson(spec, 30, 0.1, 100, torch.float64, "cpu", torch.Generator().manual_seed(3))
        return enc(stim, 0, 100)

    whole = draw(1 << 30)
    assert whole.shape == (100, 30) and whole.sum() > 0
    assert torch.equal(draw(30 * 40 * 7), whole)  # 7 rows at a time
