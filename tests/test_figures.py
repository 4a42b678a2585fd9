"""simctl.figures from plain arrays (artist data, not pixels)."""

import numpy as np
import pytest

from simctl.figures import TracePanel, fi_figure, spike_drawn_trace, trace_grid


def test_spike_drawn_trace_inserts_the_peak():
    t = np.array([0.25, 0.5, 0.75, 1.0])
    v = np.array([-70.0, 10.0, -65.0, -60.0])
    tt, vv = spike_drawn_trace(t, v, np.array([0.75]), 30.0)
    assert list(vv) == [-70.0, 10.0, 30.0, -65.0, -60.0]
    assert list(tt) == [0.25, 0.5, 0.75, 0.75, 1.0]


def test_trace_grid_and_fi_figure_write_pngs(tmp_path):
    t = np.arange(1, 401) * 0.25
    v = -65 + 5 * np.sin(t / 5)
    panels = [
        TracePanel(L, "panel", t, v, np.array([20.0, 50.0]), t, (t > 10) * 14.0, 100.0, L != "B")
        for L in "ABCDEFGHIJKLMNOPQRST"
    ]
    out = trace_grid(panels, tmp_path / "figure1.png", 5, 4, title="test")
    assert out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="do not fit"):
        trace_grid(panels, tmp_path / "x.png", 2, 4)
    cur = np.arange(0.0, 41.0)
    rate = np.where(cur > 20, 50.0, 0.0)
    out = fi_figure(cur, rate, rate, tmp_path / "fi.png", rheobase=20.0, rate_discrete=rate)
    assert out.stat().st_size > 10_000
