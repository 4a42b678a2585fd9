"""simctl.analysis on synthetic spike trains and traces."""

import numpy as np
import pytest

from simctl import analysis as an


def test_isis_rate_and_bursts():
    s = [30.0, 10.0, 12.0, 14.0, 50.0]
    np.testing.assert_allclose(an.isis(s), [2, 2, 16, 20])
    assert an.firing_rate_hz(s, 0.0, 100.0) == pytest.approx(50.0)
    assert an.firing_rate_hz(s, 10.0, 50.0) == pytest.approx(100.0)  # (10, 50]: 4 spikes
    assert [list(g) for g in an.bursts(s, max_isi=5.0)] == [[10, 12, 14], [30], [50]]
    assert an.bursts([]) == []
    with pytest.raises(ValueError, match="empty window"):
        an.firing_rate_hz(s, 5.0, 5.0)


def test_isi_bimodal():
    burst_train = [0, 2, 4, 50, 52, 54, 100, 102, 104]
    assert an.isi_bimodal(an.isis(burst_train))
    assert not an.isi_bimodal(an.isis(np.arange(0, 100, 10.0)))
    assert not an.isi_bimodal([2.0, 40.0])  # each mode must recur


def test_upward_crossings_clip_and_script_times():
    t = np.arange(6) * 0.5
    v = np.array([-70, -10, 5, -60, 0, 20])
    np.testing.assert_allclose(an.upward_crossings(t, v), [1.0, 2.0])
    clipped = an.clip_spikes(t, v, np.array([1.5]), 30.0)
    assert clipped[3] == 30.0 and clipped[2] == 5.0
    np.testing.assert_allclose(an.script_spike_times([1.5, 3.0], 0.25), [1.25, 2.75])
    assert list(an.spike_sample_index(t, [2.5, 1.0])) == [2, 5]
    assert an.spike_sample_index(t, []).size == 0


def test_summarize_counts_outcomes():
    assert an.summarize([True, None, False, True]) == {"holds": 2, "fails": 1, "skipped": 1}


def test_oscillation_extrema_and_aperiodic():
    t = np.linspace(0, 100, 2001)
    v = -60 + 5 * np.exp(-t / 30) * np.sin(2 * np.pi * t / 25)
    _, ev = an.oscillation_extrema(t, v)
    assert ev.size >= 7
    assert np.all(np.diff(np.abs(np.diff(ev))) < 0)
    assert not an.aperiodic([10.0] * 8)
    assert not an.aperiodic([2, 3, 40] * 4)
    rng = np.random.default_rng(0)
    assert an.aperiodic(rng.uniform(5, 40, 20))


def _panel(spikes, t_stop=100.0, dt=0.25, current=None):
    """Synthetic panel data; ``current(t)`` is the input on the grid 0, dt, ..., t_stop."""
    t_in = np.arange(0.0, t_stop + dt / 2, dt)
    i_in = np.array([current(t) for t in t_in]) if current else np.empty(0)
    return an.PanelData(np.asarray(spikes, float), dt, t_stop, input_time=t_in, current=i_in)


def _step(on, amp=14.0):
    return lambda t: amp if t > on else 0.0


def test_deviations_classify_steps_ramps_pulses():
    t = np.arange(0.0, 100.25, 0.25)
    step = an.deviations(t, np.where(t > 10, 14.0, 0.0))
    assert len(step) == 1 and step[0].start == 10.25 and step[0].stop == np.inf
    assert step[0].constant and step[0].sign == 1 and step[0].peak == 14.0
    pulses = an.deviations(t, np.where((t > 20) & (t < 25), -15.0, 0.0))
    assert [(p.start, p.stop, p.sign) for p in pulses] == [(20.25, 25.0, -1)]
    ramp = an.deviations(t, np.where(t > 30, 0.075 * (t - 30), 0.0))
    assert not ramp[0].constant and ramp[0].slope == pytest.approx(0.075, rel=1e-2)
    assert an.deviations(t, np.full(t.size, 3.0)) == []


def test_runaway_is_named():
    dense = np.arange(0.5, 350.0, 0.5)  # a spike every step of 0.5 ms
    assert an.runaway(dense, 350.0, 0.5).startswith("runaway firing: 699 spikes in 350 ms")
    assert an.runaway(np.arange(10, 100, 2.0), 100.0, 0.25) == ""  # 500 Hz is a burst
    check = an.check_izhikevich2004("T", _panel(dense, 350.0, 0.5, lambda t: 80.0))
    assert check.holds is False and check.detail.startswith("runaway firing")


def test_izhikevich_checks_accept_and_reject():
    a = _step(10.0)
    ok = an.check_izhikevich2004("A", _panel([13.25, 17.25, 31.75, 59.5, 87.0], current=a))
    assert ok.holds and ok.name == "tonic_spiking"
    early = an.check_izhikevich2004("A", _panel([5.0, 13.25, 17.25, 31.75, 59.5, 87.0], current=a))
    assert early.holds is False and "before the step" in early.detail
    stops = an.check_izhikevich2004("A", _panel([13, 17, 20, 23, 26], current=a))
    assert stops.holds is False  # silent for the second half: not tonic
    no_input = an.check_izhikevich2004("A", _panel([13.25, 17.25, 31.75, 59.5, 87.0]))
    assert no_input.holds is False and "no input recorded" in no_input.detail
    ramp = an.check_izhikevich2004(
        "A", _panel([13.25, 17.25, 31.75, 59.5, 87.0], current=lambda t: 0.2 * t)
    )
    assert ramp.holds is False and "needs a sustained step up" in ramp.detail
    b = _step(20.0, 0.5)
    assert an.check_izhikevich2004("phasic_spiking", _panel([44.0], 200, current=b)).holds
    assert not an.check_izhikevich2004("B", _panel([44.0, 90.0], 200, current=b)).holds
    f = _step(8.5, 30.0)
    assert an.check_izhikevich2004("F", _panel([10, 12, 15, 20, 42, 71], 85, current=f)).holds
    # settled (the last ISIs agree): tonic, not adaptation
    assert not an.check_izhikevich2004("F", _panel([10, 12, 15, 20, 42, 64], 85, current=f)).holds
    # doublets are not bursts
    c = _step(22.0, 15.0)
    doublets = _panel([25, 27, 80, 82, 133, 135, 185, 187], 220, current=c)
    assert not an.check_izhikevich2004("C", doublets).holds
    triplets = _panel([25, 27, 29, 80, 82, 84, 133, 135, 137, 185, 187, 189], 220, current=c)
    assert an.check_izhikevich2004("C", triplets).holds

    def k_input(t):
        return 0.65 if any(s < t < s + 4 for s in (40, 60, 280, 320)) else 0.0

    assert an.check_izhikevich2004("K", _panel([330.0], 400, current=k_input)).holds
    assert not an.check_izhikevich2004("K", _panel([65.0], 400, current=k_input)).holds
    assert not an.check_izhikevich2004("L", _panel([330.0], 400, current=k_input)).holds
    ib = _panel([19.0, 21.0, 24.0, 58.0, 87.0, 117.0, 146.0], 150)
    assert an.check_izhikevich2003("ib", ib).holds
    assert not an.check_izhikevich2003("ch", ib).holds  # single spikes after the burst
    skipped = an.check_izhikevich2004("Q", _panel([11.3], 50), robust_only=True)
    assert skipped.holds is None
    with pytest.raises(KeyError):
        an.check_izhikevich2004("nonsense", _panel([]))


def test_every_panel_has_a_rule_and_a_preset():
    assert list(an.IZHIKEVICH_2004) == list("ABCDEFGHIJKLMNOPQRST")
    assert an.ROBUST_PANELS < set(an.IZHIKEVICH_2004)
    assert an.panel_for_preset("accommodation").letter == "R"


def test_adex_signatures_on_synthetic_trains():
    tonic = np.arange(10.0, 600.0, 10.0)
    assert an.check_adex("adex_tonic", tonic, 0.1).holds
    adapting = np.cumsum([10, 12, 15, 20, 30, 45, 60, 70, 75, 76])
    assert an.check_adex("adex_adaptation", adapting, 0.1).holds
    assert not an.check_adex("adex_adaptation", tonic, 0.1).holds
    assert not an.check_adex("adex_tonic", adapting, 0.1).holds
    # 20 % slowing is neither tonic (<= 15 %) nor adaptation (>= 50 %)
    slowing = np.cumsum(np.linspace(10, 12, 12))
    assert not an.check_adex("adex_tonic", slowing, 0.1).holds
    assert not an.check_adex("adex_adaptation", slowing, 0.1).holds
    # an initial burst jumps from its fast ISIs to the tonic ones: not gradual adaptation
    initial = np.cumsum([5, 4, 8, 55, 64, 64, 64, 64, 64, 64])
    assert an.check_adex("adex_initial_burst", initial, 0.1).holds
    assert not an.check_adex("adex_adaptation", initial, 0.1).holds
    assert not an.check_adex("adex_initial_burst", adapting, 0.1).holds
    bursts = np.concatenate([b + np.array([0, 3, 7]) for b in (20, 150, 280, 410)])
    assert an.check_adex("adex_regular_bursting", bursts, 0.1).holds
    assert not an.check_adex("adex_regular_bursting", tonic, 0.1).holds
    assert an.check_adex("adex_transient", [30.5], 0.1).holds
    assert not an.check_adex("adex_transient", [30.5, 60.0], 0.1).holds
    accel = 40 + np.cumsum([20, 18, 16, 15, 14, 13.5, 13])
    assert an.check_adex("adex_delayed_accelerating", accel, 0.1).holds
    assert an.check_adex("nd_delayed", [158.0], 0.025, onset=10.0, offset=251.0).holds
    assert an.check_adex("adex_tonic", [], 0.1).holds is False
    with pytest.raises(KeyError):
        an.check_adex("no_such_pattern", tonic, 0.1)
