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


def _bbox(artist, renderer):
    return artist.get_window_extent(renderer)


def test_trace_grid_title_legend_marks_and_runaway():
    """The figure title overlaps no panel title; the legend names every colour in use; a
    failing panel is red, a changed one starred and listed; a runaway panel draws its rate."""
    from simctl.figures import trace_grid_figure

    t = np.arange(1, 1401) * 0.25
    v = -65 + 5 * np.sin(t / 5)
    dense = np.arange(100.0, 300.0, 0.25)  # a spike every step
    panels = [
        TracePanel("A", "tonic", t, v, np.array([20.0]), t, (t > 10) * 14.0, 350.0, True),
        TracePanel("B", "phasic", t, v, np.array([20.0]), t, (t > 10) * 14.0, 350.0, False),
        TracePanel(
            "C", "changed", t, v, np.array([20.0]), t, None, 350.0, True, ["d = 8 (paper 2)"]
        ),
        TracePanel("D", "wild", t, v, dense, t, None, 350.0, None, runaway="runaway firing: 800"),
    ]
    fig = trace_grid_figure(
        panels, 2, 4, title="a long title " * 12, note="* differs: C: d = 8 (paper 2)",
        input_label="input (pA)", input_unit="pA",
    )  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    titles = [ax._left_title for ax in fig.axes if ax.get_title("left")]  # loc="left" titles
    assert [x.get_text() for x in titles] == ["(A) tonic", "(B) phasic (check fails)",
                                              "(C) changed*", "(D) wild"]  # fmt: skip
    assert titles[1].get_color() == "firebrick"
    head = [x for x in fig.texts if x.get_text().startswith("a long title")]
    assert len(head) == 1 and head[0].get_text().endswith("(*: parameters differ from the paper)")
    for x in titles:
        assert not _bbox(head[0], renderer).overlaps(_bbox(x, renderer)), x.get_text()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "membrane potential (spikes drawn to +30 mV)",
        "input (pA) (beneath each trace)",
        "red title: check fails",
        "runaway firing: drawn as rate (kHz)",
        "*: parameters differ from the paper",
    ]
    assert any("d = 8 (paper 2)" in x.get_text() for x in fig.texts)
    ax_d = next(ax for ax in fig.axes if ax.get_title("left") == "(D) wild")
    assert [line.get_color() for line in ax_d.lines][0] == "tab:red"  # the rate, not v
    assert any("runaway firing" in x.get_text() for x in ax_d.texts)
    ax_a = next(ax for ax in fig.axes if ax.get_title("left") == "(A) tonic")
    assert {"20 ms", "50 mV"} <= {x.get_text() for x in ax_a.texts}


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_trace_grid_writes_the_requested_format(tmp_path, fmt, magic):
    t = np.arange(1, 401) * 0.25
    panel = TracePanel("A", "x", t, -65 + 0 * t, np.array([]), t, 0 * t, 100.0, True)
    out = trace_grid([panel], tmp_path / f"f.{fmt}", 1, 1)
    assert out.read_bytes()[:5].startswith(magic)


def test_decimate_keeps_every_column_extreme_in_order():
    from simctl._png import decimate

    x = np.linspace(0.0, 9.999, 10_000)  # 1000 points in each of 10 pixel columns
    y = np.sin(x * 7.0)
    y[4321] = 5.0  # a spike
    y[8765] = -5.0  # a trough
    xd, yd = decimate(x, y, 10)
    assert len(xd) <= 40 and np.all(np.diff(xd) > 0)
    assert 5.0 in yd and -5.0 in yd
    for col in range(10):
        inside = (x >= col) & (x < col + 1)
        kept = (xd >= col) & (xd < col + 1)
        assert yd[kept].max() == y[inside].max() and yd[kept].min() == y[inside].min()
        assert xd[kept][0] == x[inside][0] and xd[kept][-1] == x[inside][-1]
    short = np.arange(20.0)
    assert decimate(short, short, 10)[0] is short  # few points per column: as given


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int), image.info.get("dpi")


def test_trace_grid_png_pixels(tmp_path):
    """The PNG (drawn without matplotlib): its size and dpi, the spike drawn up to the peak,
    a failing panel's title in firebrick, the same layout as the matplotlib figure."""
    from simctl import _png
    from simctl.figures import trace_grid_figure

    if not _png.available():
        pytest.skip("Pillow without FreeType: trace_grid draws PNGs with matplotlib")
    t = np.arange(1, 401) * 0.25
    v = np.full(t.size, -65.0)
    panels = [
        TracePanel("A", "pass", t, v, np.array([50.0]), t, (t > 10) * 14.0, 100.0, True),
        TracePanel("B", "fails", t, v, np.array([]), t, (t > 10) * 14.0, 100.0, False),
    ]
    out = trace_grid(panels, tmp_path / "g.png", 1, 2, title="t", dpi=100)
    rgb, dpi = _pixels(out)
    fig = trace_grid_figure(panels, 1, 2, title="t")
    width, height = fig.get_size_inches()
    assert rgb.shape == (round(height * 100), round(width * 100), 3)
    assert dpi is not None and round(dpi[0]) == 100
    # panel A's voltage axes, where matplotlib puts them
    x0, y0, x1, y1 = fig.axes[0].get_position().extents
    cols = slice(int(x0 * rgb.shape[1]), int(x1 * rgb.shape[1]))
    top_rows = slice(int((1 - y1) * rgb.shape[0]), int((1 - y1) * rgb.shape[0]) + 3)
    dark = rgb[top_rows, cols].sum(axis=2) < 300
    assert dark.any(), "the spike reaches the top of the axes (+30 mV)"
    spike_col = int(x0 * rgb.shape[1] + 0.5 * (x1 - x0) * rgb.shape[1])  # 50 of 100 ms
    assert abs(np.flatnonzero(dark.any(axis=0))[0] + cols.start - spike_col) <= 2
    red = (rgb[..., 0] > 140) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    ys, xs = np.nonzero(red[: rgb.shape[0] // 2])  # above the legend (its key is red too)
    assert xs.size and xs.min() >= 0.45 * rgb.shape[1], "only panel B's title is red"
    assert ys.max() < (1 - y1) * rgb.shape[0], "above the axes"
    assert red[rgb.shape[0] // 2 :].any(), "the legend's 'red title: check fails'"
