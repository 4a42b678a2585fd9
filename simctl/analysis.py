"""Spike-train analysis and the checks against published results.

Everything here works on plain NumPy arrays (spike times in ms, voltages in mV), so it runs on
what :mod:`simctl.recording` loads from ``sim.h5`` and on synthetic trains in tests alike.

Contents:

* basic measures: :func:`isis`, :func:`firing_rate_hz`, :func:`bursts`, :func:`isi_bimodal`,
  :func:`upward_crossings`, :func:`clip_spikes`, :func:`oscillation_extrema`;
* :data:`IZHIKEVICH_2004` and :func:`check_izhikevich2004` - the defining property of each panel of
  Izhikevich (2004) Fig. 1 (the paper's Section II, one sentence per panel), and
  :data:`ROBUST_PANELS`, the panels
  whose property survives accurate integration (section 1.5);
* :func:`check_izhikevich2003` - the qualitative behaviour of the 2003 cell classes (section 1.7);
* :func:`check_adex` - the signature of each AdEx firing pattern (Naud et al. 2008; Neuronal
  Dynamics Table 6.1, section 3).

Spike-time convention: simctl stamps a spike emitted in the step from t_k to t_k+1 at
t_k+1 = (k+1)*dt. Izhikevich's script stores the reset at the grid time t_k where the step
started, so ``script_time = simctl_time - dt`` (see :func:`script_spike_times`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "isis",
    "firing_rate_hz",
    "bursts",
    "isi_bimodal",
    "upward_crossings",
    "clip_spikes",
    "script_spike_times",
    "oscillation_extrema",
    "aperiodic",
    "Check",
    "PanelData",
    "Panel",
    "IZHIKEVICH_2004",
    "ROBUST_PANELS",
    "panel_for_preset",
    "check_izhikevich2004",
    "IZHIKEVICH_2003",
    "check_izhikevich2003",
    "ADEX_PATTERNS",
    "check_adex",
    "BURST_MAX_ISI_MS",
    "summarize",
    "spike_sample_index",
]

#: Spikes closer than this (ms) belong to one burst (Izhikevich's bursts run at > 100 Hz).
BURST_MAX_ISI_MS = 10.0


# ---------------------------------------------------------------------------------------------
# Basic measures
# ---------------------------------------------------------------------------------------------


def _times(spike_times: Sequence[float] | np.ndarray) -> np.ndarray:
    t = np.asarray(spike_times, dtype=np.float64).ravel()
    return np.sort(t)


def isis(spike_times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Inter-spike intervals (ms) of one sorted or unsorted train; empty below two spikes."""
    return np.diff(_times(spike_times))


def firing_rate_hz(
    spike_times: Sequence[float] | np.ndarray, t_start: float, t_stop: float
) -> float:
    """Spike count in ``t_start < t <= t_stop`` (ms) divided by the window, in Hz."""
    if t_stop <= t_start:
        raise ValueError(f"empty window: t_start={t_start} ms, t_stop={t_stop} ms")
    t = _times(spike_times)
    n = int(np.count_nonzero((t > t_start) & (t <= t_stop)))
    return 1000.0 * n / (t_stop - t_start)


def bursts(
    spike_times: Sequence[float] | np.ndarray, max_isi: float = BURST_MAX_ISI_MS
) -> list[np.ndarray]:
    """Groups of consecutive spikes whose ISIs are all ``<= max_isi`` (ms).

    A single isolated spike is a group of one, so ``sum(len(g)) == len(spike_times)``; a burst
    in the usual sense is a group with at least two spikes.
    """
    t = _times(spike_times)
    if t.size == 0:
        return []
    cuts = np.nonzero(np.diff(t) > max_isi)[0] + 1
    return np.split(t, cuts)


def isi_bimodal(isi: Sequence[float] | np.ndarray, ratio: float = 3.0, min_each: int = 2) -> bool:
    """True when the ISIs fall into a short and a long group separated by a gap ``>= ratio``.

    The ISIs are sorted; the largest ratio between neighbours splits them. Each side must hold at
    least ``min_each`` intervals (a burst train repeats, so both modes recur).
    """
    x = np.sort(np.asarray(isi, dtype=np.float64))
    if x.size < 2 * min_each or np.any(x <= 0):
        return False
    j, gap = _largest_gap(x)
    return bool(gap >= ratio and j + 1 >= min_each and x.size - j - 1 >= min_each)


def _largest_gap(x: np.ndarray) -> tuple[int, float]:
    """For sorted positive intervals (>= 2): the index j of the largest ratio x[j+1]/x[j]
    and that ratio: x[:j+1] is the short mode, x[j+1:] the long one."""
    gaps = x[1:] / x[:-1]
    j = int(np.argmax(gaps))
    return j, float(gaps[j])


def upward_crossings(time: np.ndarray, v: np.ndarray, level: float = 0.0) -> np.ndarray:
    """Times of the samples where ``v`` goes from ``< level`` to ``>= level``.

    This is OSB's "threshold" spike detection on a stored trace (the time of the first sample at or
    above the level).
    """
    time = np.asarray(time, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    idx = np.nonzero((v[1:] >= level) & (v[:-1] < level))[0] + 1
    return time[idx]


def clip_spikes(
    time: np.ndarray, v: np.ndarray, spike_times: np.ndarray, peak: float = 30.0
) -> np.ndarray:
    """A copy of ``v`` with the sample recorded at each spike time set to ``peak``.

    The library records v after the reset; Izhikevich's figure stores +30 mV at the spike step.
    Each spike time is matched to the nearest sample.
    """
    out = np.array(v, dtype=np.float64, copy=True)
    out[spike_sample_index(time, spike_times)] = peak
    return out


def spike_sample_index(time: np.ndarray, spike_times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Index of the sample of ``time`` recorded at each spike (the first at or after it, within
    rounding), sorted; empty when either is empty."""
    time = np.asarray(time, dtype=np.float64)
    st = _times(spike_times)
    if st.size == 0 or time.size == 0:
        return np.empty(0, dtype=np.intp)
    idx = np.searchsorted(time, st - 1e-9 * max(1.0, abs(time[-1])))
    return np.clip(idx, 0, time.size - 1)


def script_spike_times(spike_times: np.ndarray, dt: float) -> np.ndarray:
    """simctl's end-of-step stamps ``(k+1)*dt`` converted to the script's grid time ``k*dt``."""
    return _times(spike_times) - dt


def oscillation_extrema(time: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of the local extrema (sign changes of the slope) of ``v``."""
    v = np.asarray(v, dtype=np.float64)
    d = np.diff(v)
    nz = np.nonzero(d)[0]
    if nz.size < 2:
        return np.empty(0), np.empty(0)
    s = np.sign(d[nz])
    turn = np.nonzero(s[1:] != s[:-1])[0]
    idx = nz[turn] + 1
    return np.asarray(time, dtype=np.float64)[idx], v[idx]


def aperiodic(isi: Sequence[float] | np.ndarray, max_period: int = 4, tol: float = 1.0) -> bool:
    """True when no period of 1..``max_period`` intervals repeats the ISIs within ``tol`` ms.

    Applied to the second half of a train (past the onset transient) it tells chaotic or
    irregular firing from tonic firing (period 1) and from regular bursts (period = spikes per
    burst).
    """
    x = np.asarray(isi, dtype=np.float64)
    for p in range(1, max_period + 1):
        if x.size <= p:
            return False
        if np.max(np.abs(x[p:] - x[:-p])) <= tol:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Results of a check
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """Outcome of one published-property check.

    ``holds`` is ``None`` when the property is not checked (a sensitive panel under accurate
    integration); ``property`` says what was demanded, ``detail`` what was measured.
    """

    name: str
    property: str
    holds: bool | None
    detail: str = ""


@dataclass
class PanelData:
    """What a check may look at: spike times (ms, simctl's end-of-step stamps) and the trace.

    ``time``/``v`` are the recorded membrane trace (may be empty when not recorded); ``dt`` the
    population's step (ms); ``t_stop`` its duration (ms).
    """

    spikes: np.ndarray
    dt: float
    t_stop: float
    time: np.ndarray = field(default_factory=lambda: np.empty(0))
    v: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        self.spikes = _times(self.spikes)
        self.time = np.asarray(self.time, dtype=np.float64)
        self.v = np.asarray(self.v, dtype=np.float64)

    def between(self, t0: float, t1: float) -> np.ndarray:
        """Spikes with ``t0 < t <= t1`` (ms)."""
        s = self.spikes
        return s[(s > t0) & (s <= t1)]


Rule = Callable[[PanelData], tuple[bool, str]]


@dataclass(frozen=True)
class Panel:
    """One panel of Izhikevich (2004) Fig. 1: letter, title, preset name and its check."""

    letter: str
    title: str
    preset: str
    property: str
    rule: Rule
    aliases: tuple[str, ...] = ()


def _fmt(x: Sequence[float] | np.ndarray, n: int = 6) -> str:
    x = list(np.asarray(x, dtype=np.float64).ravel())
    body = ", ".join(f"{v:.4g}" for v in x[:n])
    return "[" + body + (", ...]" if len(x) > n else "]")


# ---------------------------------------------------------------------------------------------
# Izhikevich (2004) Fig. 1: one rule per panel (the paper's Section II)
# ---------------------------------------------------------------------------------------------


def _tonic_spiking(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    if s.size < 4:
        return False, f"{s.size} spikes (< 4)"
    isi = np.diff(s)
    early = int(np.count_nonzero(s <= 10.0))
    # the train lasts as long as the input: no silence at the end longer than 1.5 steady ISIs
    tail = d.t_stop - s[-1]
    ok = early == 0 and tail <= 1.5 * isi[-1]
    return (
        ok,
        f"{s.size} spikes, {early} before 10 ms, silent tail {tail:.4g} ms vs ISI {isi[-1]:.4g}",
    )


def _single_spike(after: float, until: float = math.inf, note: str = "") -> Rule:
    """Rule: exactly one spike, at ``after < t <= until`` (ms)."""

    def rule(d: PanelData) -> tuple[bool, str]:
        s = d.spikes
        ok = s.size == 1 and after < s[0] <= until
        return ok, f"{s.size} spike(s) at {_fmt(s)} ms" + (f" ({note})" if note else "")

    return rule


def _bursts_only(min_bursts: int, after: float = -math.inf) -> Rule:
    """Rule: at least ``min_bursts`` bursts, every spike in one, the first after ``after`` ms."""

    def rule(d: PanelData) -> tuple[bool, str]:
        sizes = [len(g) for g in bursts(d.spikes)]
        ok = len(sizes) >= min_bursts and all(n >= 2 for n in sizes) and d.spikes[0] > after
        return ok, f"{len(sizes)} bursts of {sizes} spikes"

    return rule


def _single_burst(after: float) -> Rule:
    """Rule: one burst starting after ``after`` ms, then silence."""

    def rule(d: PanelData) -> tuple[bool, str]:
        sizes = [len(g) for g in bursts(d.spikes)]
        ok = len(sizes) == 1 and sizes[0] >= 2 and d.spikes[0] > after
        last = d.spikes[-1] if d.spikes.size else float("nan")
        return ok, f"{len(sizes)} burst(s) of {sizes} spikes, silent after {last:.4g} ms"

    return rule


def _burst_then_singles(d: PanelData) -> tuple[bool, str]:
    sizes = [len(g) for g in bursts(d.spikes)]
    ok = len(sizes) >= 3 and sizes[0] >= 2 and all(n == 1 for n in sizes[1:])
    return ok, f"onset burst of {sizes[0] if sizes else 0}, then groups {sizes[1:]}"


def _adaptation(d: PanelData) -> tuple[bool, str]:
    isi = np.diff(d.spikes)
    ok = isi.size >= 3 and bool(np.all(np.diff(isi) > 0))
    return ok, f"ISIs {_fmt(isi)} ms"


def _class1(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    isi = np.diff(s)
    ok = isi.size >= 2 and s[0] > 30.0 and isi[0] > 2.0 * isi[-1]
    return ok, f"{s.size} spikes, first ISI {isi[0] if isi.size else float('nan'):.4g} ms, " + (
        f"last {isi[-1]:.4g} ms" if isi.size else "no ISI"
    )


def _class2(d: PanelData) -> tuple[bool, str]:
    # class 2: firing sets in at a non-zero rate; the first ISI is already within 2x of the last
    # (class 1 starts from an arbitrarily long one), and the onset rate is tens of Hz
    s = d.spikes
    isi = np.diff(s)
    if isi.size < 2:
        return False, f"{s.size} spikes"
    onset_hz = 1000.0 / isi[0]
    ok = s[0] > 30.0 and isi[0] <= 2.0 * isi[-1] and onset_hz >= 20.0
    return (
        ok,
        f"{s.size} spikes, onset rate {onset_hz:.3g} Hz, first/last ISI {isi[0] / isi[-1]:.3g}",
    )


def _not_one_spike_with_trace(d: PanelData) -> str:
    """Why a one-spike-then-trace rule cannot apply ("" when it can)."""
    if d.spikes.size != 1:
        return f"{d.spikes.size} spikes (want 1)"
    return "" if d.v.size else "no voltage trace recorded"


def _subthreshold_osc(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    if problem := _not_one_spike_with_trace(d):
        return False, problem
    m = d.time > s[0] + 2.0
    _, ev = oscillation_extrema(d.time[m], d.v[m])
    swings = np.abs(np.diff(ev))
    ok = ev.size >= 4 and bool(np.all(np.diff(swings) < 0))
    return ok, f"1 spike, then {ev.size} extrema with swings {_fmt(swings, 4)} mV"


def _bistability(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    ok = s.size >= 3 and s[0] > 37.5 and s[-1] <= 221.0 + 5.0
    return ok, f"{s.size} spikes from {s[0] if s.size else float('nan'):.4g} to " + (
        f"{s[-1]:.4g} ms (on at 37.5, off at 216)" if s.size else "-"
    )


def _dap(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    if problem := _not_one_spike_with_trace(d):
        return False, problem
    after = d.time > s[0]
    v_after = d.v[after]
    rest = float(d.v[d.time <= 9.0][-1]) if np.any(d.time <= 9.0) else float(d.v[0])
    # after the reset the membrane climbs again (no AHP) and stays well above rest
    rise = float(v_after.max() - v_after[0]) if v_after.size else 0.0
    ok = rise > 3.0 and float(v_after.max()) > rest + 10.0
    return (
        ok,
        f"1 spike; after it v rises {rise:.3g} mV to {v_after.max():.4g} mV (rest {rest:.4g})",
    )


def _inh_spiking(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    ok = s.size >= 2 and s[0] > 50.0 and s[-1] <= 250.0 + 2 * d.dt and len(bursts(s)) == s.size
    return ok, f"{s.size} single spikes at {_fmt(s)} ms (input lowered 50-250)"


def _inh_bursting(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    groups = bursts(s)
    sizes = [len(g) for g in groups]
    ok = len(groups) >= 2 and min(sizes) >= 2 and s[0] > 50.0 and s[-1] <= 250.0 + 2 * d.dt
    return ok, f"{len(groups)} bursts of {sizes[:6]} spikes within 50-250 ms"


#: Second pulse of the integrator's close pair (Fig. 1L: T1 = 100/11 ms, then T1 + 5).
_T2_INTEGRATOR = 100.0 / 11.0 + 5.0

_P = Panel
IZHIKEVICH_2004: dict[str, Panel] = {
    p.letter: p
    for p in (
        _P(
            "A",
            "tonic spiking",
            "tonic_spiking",
            ">= 4 spikes, none before 10 ms, firing to the end",
            _tonic_spiking,
        ),
        _P(
            "B",
            "phasic spiking",
            "phasic_spiking",
            "exactly 1 spike after onset",
            _single_spike(20.0),
        ),
        _P(
            "C",
            "tonic bursting",
            "tonic_bursting",
            ">= 3 bursts, every spike in a burst",
            _bursts_only(3, after=22.0),
        ),
        _P(
            "D",
            "phasic bursting",
            "phasic_bursting",
            "one burst at onset, then silence",
            _single_burst(after=20.0),
        ),
        _P("E", "mixed mode", "mixed_mode", "onset burst, then single spikes", _burst_then_singles),
        _P(
            "F",
            "spike freq. adaptation",
            "spike_frequency_adaptation",
            "ISIs strictly increasing",
            _adaptation,
        ),
        _P("G", "Class 1 excitable", "class_1_exc", "first ISI > 2x last ISI", _class1),
        _P(
            "H", "Class 2 excitable", "class_2_exc", "onset >= 20 Hz, first ISI <= 2x last", _class2
        ),
        _P(
            "I",
            "spike latency",
            "spike_latency",
            "exactly 1 spike, after the pulse ends",
            _single_spike(13.0, note="the pulse ends at 13 ms"),
        ),
        _P(
            "J",
            "subthreshold osc.",
            "subthreshold_oscillation",
            "1 spike, then damped oscillation",
            _subthreshold_osc,
        ),
        _P(
            "K",
            "resonator",
            "resonator",
            "1 spike, only after the resonant pair",
            # pulses at 40/60 ms (20 ms apart) and 280/320 ms (40 ms apart, resonant)
            _single_spike(320.0, 370.0, "window 320-370"),
        ),
        _P(
            "L",
            "integrator",
            "integrator",
            "1 spike, only after the close pair",
            _single_spike(_T2_INTEGRATOR, 70.0, f"window {_T2_INTEGRATOR:.4g}-70"),
        ),
        _P(
            "M",
            "rebound spike",
            "rebound_spike",
            "exactly 1 spike after release (25 ms)",
            _single_spike(25.0),
        ),
        _P(
            "N",
            "rebound burst",
            "rebound_burst",
            "one burst after release (25 ms)",
            _single_burst(25.0),
        ),
        _P(
            "O",
            "thresh. variability",
            "threshold_variability",
            "1 spike, only after inhibition+pulse",
            _single_spike(80.0, 100.0, "only the pulse after inhibition may fire"),
        ),
        _P(
            "P",
            "bistability",
            "bistability",
            "pulse 1 switches on, pulse 2 switches off",
            _bistability,
        ),
        _P("Q", "DAP", "dap", "1 spike followed by a depolarized after-potential", _dap),
        _P(
            "R",
            "accommodation",
            "accommodation",
            "slow ramp: no spike; fast ramp: 1 spike",
            _single_spike(300.0, note="slow ramp 0-200, fast ramp 300-312.5"),
            ("accomodation",),
        ),
        _P(
            "S",
            "inhibition-induced spiking",
            "inhibition_induced_spiking",
            "single spikes only while input lowered",
            _inh_spiking,
        ),
        _P(
            "T",
            "inhibition-induced bursting",
            "inhibition_induced_bursting",
            "bursts only while input lowered",
            _inh_bursting,
        ),
    )
}

#: Panels whose defining property survives a small step and the simultaneous update (1.5).
ROBUST_PANELS: frozenset[str] = frozenset("ABCDEFGIJKLMOR")


def panel_for_preset(name: str) -> Panel:
    """The panel whose preset (or alias, e.g. ``accomodation``) is ``name``."""
    for p in IZHIKEVICH_2004.values():
        if name == p.preset or name in p.aliases or name == p.letter:
            return p
    raise KeyError(f"no Izhikevich 2004 panel for preset {name!r}")


def check_izhikevich2004(panel: str, data: PanelData, robust_only: bool = False) -> Check:
    """The defining property of one panel (letter or preset name).

    With ``robust_only`` (accurate integration) the sensitive panels H, N, P, Q, S, T come back
    with ``holds=None``.
    """
    p = panel_for_preset(panel)
    if robust_only and p.letter not in ROBUST_PANELS:
        return Check(p.preset, p.property, None, "not checked: depends on the published numerics")
    holds, detail = p.rule(data)
    return Check(p.preset, p.property, bool(holds), detail)


# ---------------------------------------------------------------------------------------------
# Izhikevich (2003) Fig. 2 cell classes (OpenSourceBrain IzhikevichModel MATLAB/izhi2003.m)
# ---------------------------------------------------------------------------------------------


def _rs(d: PanelData) -> tuple[bool, str]:
    isi = np.diff(d.spikes)
    ok = isi.size >= 3 and isi[0] < isi[-1] and abs(isi[-1] - isi[-2]) <= 0.2 * isi[-1]
    return ok, f"tonic with adaptation, ISIs {_fmt(isi)} ms"


def _fs(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    isi = np.diff(s)
    rate = 1000.0 / float(np.mean(isi)) if isi.size else 0.0
    ok = s.size >= 10 and rate >= 80.0 and isi[-1] < 2.0 * isi[0]
    return ok, f"{s.size} spikes at {rate:.3g} Hz, little adaptation"


def _tc(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    ok = s.size >= 2 and len(bursts(s)) == s.size and s[0] > 30.0
    return ok, f"{s.size} single spikes from {s[0] if s.size else float('nan'):.4g} ms"


def _tcb(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    groups = bursts(s)
    ok = s.size >= 3 and s[0] > 45.0 and s[0] <= 55.0 and len(groups[0]) >= 3
    return ok, f"rebound burst of {len(groups[0]) if groups else 0} spikes after release at 45 ms"


def _rz(d: PanelData) -> tuple[bool, str]:
    s = d.spikes
    ok = 1 <= s.size <= 3 and s[0] > 60.0
    return ok, f"{s.size} spike(s) at {_fmt(s)} ms, only after the pulse at 60 ms"


def _lts(d: PanelData) -> tuple[bool, str]:
    isi = np.diff(d.spikes)
    ok = d.spikes.size >= 10 and isi[0] < 0.5 * isi[-1]
    return ok, f"{d.spikes.size} spikes, ISIs {_fmt(isi, 5)} ms (high-frequency onset, adapting)"


#: 2003 classes: preset name -> (title, property, rule). ``tc_burst`` is TC's burst protocol.
IZHIKEVICH_2003: dict[str, tuple[str, str, Rule]] = {
    "rs": ("regular spiking (RS)", "adapting tonic spikes", _rs),
    "ib": ("intrinsically bursting (IB)", "initial burst, then single spikes", _burst_then_singles),
    "ch": ("chattering (CH)", "repetitive bursts", _bursts_only(2)),
    "fs": ("fast spiking (FS)", ">= 80 Hz without adaptation", _fs),
    "tc": ("thalamo-cortical (TC)", "tonic single spikes when depolarized", _tc),
    "tc_burst": ("thalamo-cortical burst (TC)", "rebound burst after hyperpolarization", _tcb),
    "rz": ("resonator (RZ)", "spikes only after the pulse", _rz),
    "lts": ("low-threshold spiking (LTS)", "high-frequency onset, adapting", _lts),
}


def check_izhikevich2003(cell: str, data: PanelData) -> Check:
    """Qualitative behaviour of one 2003 cell class (``rs``, ``ib``, ... ``tc_burst``)."""
    try:
        title, prop, rule = IZHIKEVICH_2003[cell]
    except KeyError:
        raise KeyError(
            f"no Izhikevich 2003 class {cell!r}; known: {sorted(IZHIKEVICH_2003)}"
        ) from None
    holds, detail = rule(data)
    return Check(cell, prop, bool(holds), detail)


# ---------------------------------------------------------------------------------------------
# AdEx firing patterns (Naud et al. 2008; Neuronal Dynamics Table 6.1)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stim:
    onset: float
    offset: float


def _second_half(isi: np.ndarray) -> np.ndarray:
    return isi[isi.size // 2 :]


def _sig_tonic(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    if isi.size < 3:
        return False, f"{s.size} spikes"
    late = _second_half(isi)
    cv = float(np.std(late) / np.mean(late))
    ok = cv < 0.05 and isi[-1] < 1.5 * isi[0]
    return ok, f"{s.size} spikes, late ISI CV {cv:.3f}, last/first ISI {isi[-1] / isi[0]:.3g}"


def _sig_adaptation(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    # ISIs grow (up to one step of grid jitter once they saturate) to >= 1.5x the first
    isi = np.diff(s)
    ok = isi.size >= 3 and bool(np.all(np.diff(isi) > -dt)) and isi[-1] >= 1.5 * isi[0]
    return ok, f"ISIs {_fmt(isi)} ms"


def _sig_initial_burst(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    if isi.size < 4:
        return False, f"{s.size} spikes"
    steady = float(np.median(_second_half(isi)))
    n_fast = int(np.argmax(isi > 0.5 * steady)) if np.any(isi > 0.5 * steady) else isi.size
    late = _second_half(isi)
    regular = float(np.std(late) / np.mean(late)) < 0.05
    ok = n_fast >= 1 and regular and not isi_bimodal(late)
    return ok, f"onset burst of {n_fast + 1} spikes, then tonic at ISI {steady:.4g} ms"


def _sig_bursting(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    ok = isi_bimodal(isi)
    groups = bursts(s, max_isi=_burst_cut(isi))
    sizes = [len(g) for g in groups]
    ok = ok and len(groups) >= 3 and min(sizes[1:] or [0]) >= 2
    return ok, f"bimodal ISIs, {len(groups)} bursts of {sizes[:6]} spikes"


def _burst_cut(isi: np.ndarray) -> float:
    x = np.sort(isi)
    if x.size < 2:
        return BURST_MAX_ISI_MS
    j, _ = _largest_gap(x)
    return float(np.sqrt(x[j] * x[j + 1]))


def _sig_delayed_accelerating(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    if isi.size < 3:
        return False, f"{s.size} spikes"
    latency = s[0] - st.onset
    ok = latency > isi[0] and bool(np.all(np.diff(isi) < dt)) and isi[0] > 1.3 * isi[-1]
    return ok, f"latency {latency:.4g} ms, ISIs shrink {isi[0]:.4g} -> {isi[-1]:.4g} ms"


def _sig_delayed_bursting(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    ok, detail = _sig_bursting(s, st, dt)
    if not ok:
        return False, detail
    cut = _burst_cut(isi)
    inter = np.median(isi[isi > cut])
    latency = s[0] - st.onset
    ok = latency >= 0.75 * inter
    return ok, f"latency {latency:.4g} ms vs inter-burst {inter:.4g} ms; " + detail


def _sig_transient(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    ok = s.size == 1 and s[0] > st.onset
    return ok, f"{s.size} spike(s) at {_fmt(s)} ms, then silent under constant input"


def _sig_transient_few(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    # a few spikes with lengthening ISIs, then silence for the rest of the step (longer than
    # the last ISI)
    isi = np.diff(s)
    quiet = st.offset - (s[-1] if s.size else st.onset)
    ok = (
        1 <= s.size <= 6
        and (isi.size == 0 or quiet > isi[-1])
        and quiet > 0.25 * (st.offset - st.onset)
    )
    return ok, f"{s.size} spikes, then silent for the last {quiet:.4g} ms of the step"


def _sig_irregular(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    isi = np.diff(s)
    late = _second_half(isi)
    cv = float(np.std(isi) / np.mean(isi)) if isi.size else 0.0
    ok = isi.size >= 8 and cv > 0.3 and aperiodic(late, max_period=6, tol=max(1.0, 5 * dt))
    return ok, f"{s.size} spikes, ISI CV {cv:.2f}, no period <= 6 in the late ISIs"


def _sig_delayed(s: np.ndarray, st: _Stim, dt: float) -> tuple[bool, str]:
    latency = s[0] - st.onset if s.size else float("nan")
    ok = s.size >= 1 and latency >= 50.0
    return ok, f"first spike {latency:.4g} ms after onset"


_SIGNATURES: dict[str, tuple[str, Callable[[np.ndarray, _Stim, float], tuple[bool, str]]]] = {
    "tonic": ("regular ISIs (late CV < 0.05)", _sig_tonic),
    "adaptation": ("ISIs grow to >= 1.5x the first", _sig_adaptation),
    "initial_burst": ("onset burst, then regular spikes", _sig_initial_burst),
    "bursting": ("bimodal ISIs, >= 3 bursts", _sig_bursting),
    "delayed_accelerating": ("delayed onset, shrinking ISIs", _sig_delayed_accelerating),
    "delayed_bursting": ("delayed onset, bimodal ISIs", _sig_delayed_bursting),
    "transient": ("one spike, then silence", _sig_transient),
    "transient_few": ("a few spikes, then silence", _sig_transient_few),
    "irregular": ("aperiodic ISIs, CV > 0.3", _sig_irregular),
    "delayed": ("first spike >= 50 ms after onset", _sig_delayed),
}

#: AdEx preset name -> signature name (Naud 2008: adex_*; Neuronal Dynamics Table 6.1: nd_*).
ADEX_PATTERNS: dict[str, str] = {
    "adex_tonic": "tonic",
    "adex_adaptation": "adaptation",
    "adex_initial_burst": "initial_burst",
    "adex_regular_bursting": "bursting",
    "adex_delayed_accelerating": "delayed_accelerating",
    "adex_delayed_regular_bursting": "delayed_bursting",
    "adex_transient": "transient",
    "adex_irregular": "irregular",
    "nd_tonic": "tonic",
    "nd_adapting": "adaptation",
    "nd_initial_burst": "initial_burst",
    "nd_bursting": "bursting",
    "nd_irregular": "irregular",
    "nd_transient": "transient_few",
    "nd_delayed": "delayed",
}


def check_adex(
    pattern: str,
    spikes: np.ndarray,
    dt: float,
    onset: float = 0.0,
    offset: float = float("inf"),
) -> Check:
    """The signature of an AdEx firing pattern (a preset name of :data:`ADEX_PATTERNS` or a
    signature name) for the spikes (ms) under a step current on from ``onset`` to ``offset``."""
    sig = ADEX_PATTERNS.get(pattern, pattern)
    if sig not in _SIGNATURES:
        raise KeyError(f"unknown AdEx pattern {pattern!r}; known: {sorted(ADEX_PATTERNS)}")
    prop, rule = _SIGNATURES[sig]
    s = _times(spikes)
    s = s[(s > onset) & (s <= offset + dt)]
    if s.size == 0:
        return Check(pattern, prop, False, "no spikes")
    holds, detail = rule(s, _Stim(onset, offset), dt)
    return Check(pattern, prop, bool(holds), detail)


def summarize(holds: Sequence[bool | None]) -> dict[str, int]:
    """Counts of the ``holds`` outcomes (:attr:`Check.holds`) that hold, fail and were skipped."""
    return {
        "holds": sum(1 for h in holds if h is True),
        "fails": sum(1 for h in holds if h is False),
        "skipped": sum(1 for h in holds if h is None),
    }
