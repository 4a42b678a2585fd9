r"""Networks: populations connected by projections, advanced together.

Semantics (one step ``k`` of every population, in this order):

1. **deliver**: the jumps due at step ``k`` (ring buffers of whole steps, one row per step, one
   per target variable of each population) and the Poisson drive (one count per neuron and
   step, times its weight) are added to their target variables, except in neurons that are
   refractory at the start of the step (``refractory_input: discard``, the default; ``keep``
   adds them anyway). Jumps into ``input`` are a one-step pulse of the input current instead.
2. **advance** each population one step with its step function (the current protocol, if any,
   as a continuous current);
3. **detect** the step's spikes (stamped ``(k+1)·dt``);
4. **queue**: a spike of step ``k`` through a synapse of delay ``D`` steps (``round(delay/dt)``)
   is delivered at the start of step ``k + 1 + D``, i.e. exactly ``D·dt`` after its stamp.
   ``D = 0`` (instantaneous coupling, net.m) reaches the next step's advance.

Four engines share the ring buffers, the Poisson counts and the current protocol's draws
(one per chunk of about 2 M neuron-steps):

* :meth:`Network.run_reference` (the specification): a Python loop over steps, each
  projection a sparse (or, when small, dense) matrix product per distinct delay;
* :meth:`Network.run_loop` (the default): the whole chunk in one C call, per step each
  population's delivery and one step of its traced kernel (:mod:`simctl.kernels`, called
  through its function pointer), then each projection's CSR propagation; no Python between
  steps, which is what instantaneous coupling (net.m: one-step blocks) needs;
* :meth:`Network.run_fused` (``blocks``): with ``d`` the shortest delay, the ``d + 1`` steps
  of a block are independent of the spikes emitted inside it, so each population runs its
  block in one call
  of the fused C kernel (:func:`simctl.kernels.spike_events`, tracing a wrapper step that adds
  the block's jumps into the target variable), and the block's spikes then go through each
  projection's CSR into the ring buffers in one C call. The loop and the blocks add in the same
  order (identical in float32 too); both are proven equal to the reference
  (identical when the sums of simultaneous arrivals are exact, e.g. dyadic weights; otherwise
  within the rounding of reassociating those sums).
* :meth:`Network.run_device` (``device``, chosen when a population is not on the CPU): the
  blocks of :meth:`Network.run_fused` with the ring buffers on the populations' device, each
  block through :func:`simctl.kernels.spike_events` there (Triton on CUDA) and the spikes
  scattered into the rings by torch ops on the device; nothing waits for the device within a
  block except the kernels' spike events. On CPU tensors identical to the blocks engine; on
  CUDA the additions into one ring element are deterministic but may be grouped differently
  (equal when the sums are exact).

:meth:`Network.select_engine` picks one (``$SIMCTL_NETWORK_ENGINE`` forces it); sim.h5 records
the engine per population (``network_engine``) beside the kernel backend (``backend``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from simctl import connectivity as conn_mod
from simctl.config.errors import ConfigError, SimulationError
from simctl.config.network import INPUT_TARGET, NetworkSpec, ProjectionSpec, refractory_state
from simctl.kernels.codegen import CTZ_MACRO

__all__ = [
    "ENGINES",
    "Network",
    "Projection",
    "build_network",
    "netm_step",
    "jump_model",
    "PoissonDrive",
]

log = logging.getLogger("simctl")

#: the network engines (:meth:`Network.run`, ``$SIMCTL_NETWORK_ENGINE``)
ENGINES = ("auto", "loop", "blocks", "device", "reference")


# ---------------------------------------------------------------------------------------------
# state helpers


def _get(state: Any, path: str) -> Any:
    for part in path.split("."):
        state = getattr(state, part)
    return state


def _set(state: Any, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    if not rest:
        return state._replace(**{head: value})
    return state._replace(**{head: _set(getattr(state, head), rest, value)})


# ---------------------------------------------------------------------------------------------
# step functions


def netm_step(input_current: torch.Tensor, state: Any, p: Any, dt: float) -> tuple[Any, Any]:
    """One millisecond of net.m (Izhikevich 2003, Fig. 3) for ``dt = 1``.

    ``v ← v + (dt/2)·(0.04v² + 5v + 140 − u + I)`` twice (same ``u`` and ``I``), then
    ``u ← u + dt·a·(b·v − u)`` with the new ``v``; a spike is ``v ≥ v_th`` (30 mV), after which
    ``v ← c`` and ``u ← u + d`` (net.m applies the reset at the start of the next ms, before
    anything else reads ``v`` or ``u``: the same numbers). ``sq``, ``mn`` and ``bias`` are the
    model's 0.04, 5 and 140.
    """
    v, u = state.v, state.u
    half = 0.5 * dt * p.tau_inv
    v = v + half * (p.sq * (v * v) + p.mn * v + p.bias - u + input_current)
    v = v + half * (p.sq * (v * v) + p.mn * v + p.bias - u + input_current)
    u = u + dt * p.tau_inv * p.a * (p.b * v - u)
    fired = v >= p.v_th
    z = fired.to(v.dtype)
    v = torch.where(fired, p.c + 0.0 * v, v)
    u = torch.where(fired, u + p.d, u)
    return z, type(state)(v=v, u=u)


SCHEMES = {"netm": netm_step}

_JUMP_MODELS: dict[Any, Any] = {}


def jump_model(
    model: Any, step: Any, target: str | None, refractory: str | None, keep: bool
) -> Any:
    """``model`` whose step's input is the step's jump into ``target`` (added first, masked out
    where the refractory counter is positive unless ``keep``); the model then advances with no
    current. ``target`` None or ``input``: the input is the model's current (unchanged step).
    Memoised, so the fused kernels trace each wrapper once."""
    if target in (None, INPUT_TARGET):
        return dataclasses.replace(model, feed_forward_step=step)
    key = (model.name, step, target, refractory, keep)
    cached = _JUMP_MODELS.get(key)
    if cached is not None:
        return cached

    def jump_step(x: torch.Tensor, state: Any, p: Any, dt: float) -> tuple[Any, Any]:
        if refractory is not None and not keep:
            x = torch.where(_get(state, refractory) > 0, 0.0 * x, x)
        state = _set(state, target, _get(state, target) + x)
        return step(0.0 * x, state, p, dt)

    jump_step.__name__ = f"jump_{model.name}_{target.replace('.', '_')}"
    wrapped = dataclasses.replace(model, feed_forward_step=jump_step)
    _JUMP_MODELS[key] = wrapped
    return wrapped


# ---------------------------------------------------------------------------------------------
# C helpers: Poisson counts and CSR propagation

_C_SOURCE = (
    r"""
#include <stdint.h>
#include <math.h>
"""
    + CTZ_MACRO
    + r"""

static inline uint64_t rotl(const uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256+ (Blackman & Vigna), one stream per call site */
static inline double next_double(uint64_t *s) {
    const uint64_t result = s[0] + s[3];
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return (double)(result >> 11) * 0x1.0p-53;
}

/* Poisson(lam) counts by inversion against the cumulative table cdf[0..m-1] (cdf[m-1] = 1 up
   to rounding; the search stops there), started at guide[floor(u*G)], the smallest k with
   cdf[k] >= floor(u*G)/G, so that most draws take one comparison */
static inline int32_t draw(uint64_t *state, const double *cdf, int64_t m, const int32_t *guide,
                           int64_t G) {
    double u = next_double(state);
    int32_t k = guide[(int64_t)(u * G)];
    while (k < m - 1 && u > cdf[k]) k++;
    return k;
}
void simctl_poisson(uint64_t *state, int64_t n, const double *cdf, int64_t m,
                    const int32_t *guide, int64_t G, int32_t *out) {
    for (int64_t j = 0; j < n; j++) out[j] = draw(state, cdf, m, guide, G);
}
/* x[j] += count * w, the counts drawn as simctl_poisson draws them */
void simctl_poisson_add_f32(uint64_t *state, int64_t n, const double *cdf, int64_t m,
                            const int32_t *guide, int64_t G, double w, float *x) {
    for (int64_t j = 0; j < n; j++) {
        int32_t k = draw(state, cdf, m, guide, G);
        if (k) x[j] += (float)((double)k * w);
    }
}
void simctl_poisson_add_f64(uint64_t *state, int64_t n, const double *cdf, int64_t m,
                            const int32_t *guide, int64_t G, double w, double *x) {
    for (int64_t j = 0; j < n; j++) {
        int32_t k = draw(state, cdf, m, guide, G);
        if (k) x[j] += (double)k * w;
    }
}

/* the permutation that orders synapses by presynaptic neuron, stable (a counting sort), and
   the row pointers */
void simctl_csr_order(int64_t n, const int64_t *pre, int64_t n_pre, int64_t *indptr,
                      int64_t *order) {
    for (int64_t i = 0; i <= n_pre; i++) indptr[i] = 0;
    for (int64_t e = 0; e < n; e++) indptr[pre[e] + 1]++;
    for (int64_t i = 0; i < n_pre; i++) indptr[i + 1] += indptr[i];
    int64_t *next = order + n; /* scratch: n_pre slots after the permutation */
    for (int64_t i = 0; i < n_pre; i++) next[i] = indptr[i];
    for (int64_t e = 0; e < n; e++) order[next[pre[e]]++] = e;
}

#define PROPAGATE(NAME, T) \
void NAME(int64_t n_events, const int64_t *events, int64_t n_pre, int64_t k0, \
          const int64_t *indptr, const int32_t *indices, const float *w, double wscalar, \
          const int16_t *dsteps, int64_t dscalar, T *ring, int64_t L, int64_t n_post) { \
    for (int64_t e = 0; e < n_events; e++) { \
        int64_t s = events[e] / n_pre, i = events[e] % n_pre; \
        int64_t a = indptr[i], b = indptr[i + 1]; \
        if (!dsteps) { \
            T *row = ring + ((k0 + s + 1 + dscalar) % L) * n_post; \
            if (!w) { T x = (T)wscalar; for (int64_t j = a; j < b; j++) row[indices[j]] += x; } \
            else { for (int64_t j = a; j < b; j++) row[indices[j]] += (T)w[j]; } \
        } else { \
            for (int64_t j = a; j < b; j++) { \
                T *row = ring + ((k0 + s + 1 + dsteps[j]) % L) * n_post; \
                row[indices[j]] += w ? (T)w[j] : (T)wscalar; \
            } \
        } \
    } \
}
PROPAGATE(simctl_propagate_f32, float)
PROPAGATE(simctl_propagate_f64, double)
"""
)

#: the whole network loop in C: per step, every population's delivery and its traced step
#: kernel (one step per call, through its function pointer), then every projection's
#: propagation; no Python between steps. Layouts mirror _PopC and _ProjC below.
_LOOP_SOURCE = (
    _C_SOURCE
    + r"""
typedef void (*kern_t)(int64_t, int64_t, int64_t, int64_t, const double *, void **);
typedef struct {
    int64_t n; void *kern; const double *consts; void **table;
    void *x; const void *out; void *ring; const void *cur;
    int64_t trace_at, n_trace, columns; void **trace_base;
    uint64_t *pstate; const double *cdf; int64_t m; const int32_t *guide; int64_t G; double pw;
    int64_t *ev; int64_t n_ev; int64_t step_start;
} pop_t;
typedef struct {
    int64_t pre, post, n_pre, n_post; const int64_t *indptr; const int32_t *indices;
    const float *w; double wscalar; const int16_t *dsteps; int64_t dscalar;
} proj_t;

#define LOOP(NAME, T) \
void NAME(int64_t steps, int64_t k0, int64_t L, int64_t n_pops, pop_t *pops, int64_t n_proj, \
          proj_t *projs) { \
    for (int64_t s = 0; s < steps; s++) { \
        int64_t slot = (k0 + s) % L; \
        for (int64_t q = 0; q < n_pops; q++) { \
            pop_t *P = &pops[q]; \
            int64_t n = P->n; T *x = (T *)P->x; \
            if (P->ring) { \
                T *row = (T *)P->ring + slot * n; \
                for (int64_t j = 0; j < n; j++) { x[j] = row[j]; row[j] = 0; } \
            } else { for (int64_t j = 0; j < n; j++) x[j] = 0; } \
            if (P->pstate) \
                for (int64_t j = 0; j < n; j++) { \
                    int32_t k = draw(P->pstate, P->cdf, P->m, P->guide, P->G); \
                    if (k) x[j] += (T)((double)k * P->pw); \
                } \
            if (P->cur) { const T *c = (const T *)P->cur + s * n; \
                for (int64_t j = 0; j < n; j++) x[j] = c[j] + x[j]; } \
            for (int64_t r = 0; r < P->n_trace; r++) \
                P->table[P->trace_at + r] = (T *)P->trace_base[r] + s * P->columns; \
            ((kern_t)P->kern)(1, n, 0, n, P->consts, P->table); \
            const T *z = (const T *)P->out; \
            P->step_start = P->n_ev; \
            /* the spikes by a 64-lane bit mask (vectorised), then one iteration per spike */ \
            for (int64_t jb = 0; jb < n; jb += 64) { \
                const int64_t wb = (n - jb) < 64 ? (n - jb) : 64; \
                uint64_t m = 0; \
                for (int64_t j = 0; j < wb; j++) m |= (uint64_t)(z[jb + j] != 0) << j; \
                while (m) { P->ev[P->n_ev++] = s * n + jb + SIMCTL_CTZ(m); m &= m - 1; } \
            } \
        } \
        for (int64_t e = 0; e < n_proj; e++) { \
            proj_t *J = &projs[e]; pop_t *A = &pops[J->pre]; pop_t *B = &pops[J->post]; \
            T *ring = (T *)B->ring; \
            for (int64_t v = A->step_start; v < A->n_ev; v++) { \
                int64_t i = A->ev[v] - s * A->n; \
                for (int64_t j = J->indptr[i]; j < J->indptr[i + 1]; j++) { \
                    int64_t d = J->dsteps ? J->dsteps[j] : J->dscalar; \
                    T *row = ring + ((k0 + s + 1 + d) % L) * J->n_post; \
                    row[J->indices[j]] += J->w ? (T)J->w[j] : (T)J->wscalar; \
                } \
            } \
        } \
    } \
}
LOOP(simctl_netloop_f32, float)
LOOP(simctl_netloop_f64, double)
"""
)


class _PopC(ctypes.Structure):
    _fields_ = [
        (name, kind)
        for name, kind in [
            ("n", ctypes.c_int64),
            ("kern", ctypes.c_void_p),
            ("consts", ctypes.c_void_p),
            ("table", ctypes.c_void_p),
            ("x", ctypes.c_void_p),
            ("out", ctypes.c_void_p),
            ("ring", ctypes.c_void_p),
            ("cur", ctypes.c_void_p),
            ("trace_at", ctypes.c_int64),
            ("n_trace", ctypes.c_int64),
            ("columns", ctypes.c_int64),
            ("trace_base", ctypes.c_void_p),
            ("pstate", ctypes.c_void_p),
            ("cdf", ctypes.c_void_p),
            ("m", ctypes.c_int64),
            ("guide", ctypes.c_void_p),
            ("G", ctypes.c_int64),
            ("pw", ctypes.c_double),
            ("ev", ctypes.c_void_p),
            ("n_ev", ctypes.c_int64),
            ("step_start", ctypes.c_int64),
        ]
    ]


class _ProjC(ctypes.Structure):
    _fields_ = [
        ("pre", ctypes.c_int64),
        ("post", ctypes.c_int64),
        ("n_pre", ctypes.c_int64),
        ("n_post", ctypes.c_int64),
        ("indptr", ctypes.c_void_p),
        ("indices", ctypes.c_void_p),
        ("w", ctypes.c_void_p),
        ("wscalar", ctypes.c_double),
        ("dsteps", ctypes.c_void_p),
        ("dscalar", ctypes.c_int64),
    ]


_C: dict[str, Any] = {}


def _c_functions() -> dict[str, Any] | None:
    """The compiled helpers, or None without a working compiler (torch/numpy then)."""
    if "tried" in _C:
        return _C.get("fns")
    _C["tried"] = True
    try:
        from simctl.kernels.cbuild import CompileError, load_kernel

        vp, i64, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double

        def load(symbol: str, args: list) -> Any:
            # load_kernel memoises per source: one (commented) source per symbol
            return load_kernel(f"{_C_SOURCE}\n/* {symbol} */\n", symbol, args)

        fns = {
            "poisson": load("simctl_poisson", [vp, i64, vp, i64, vp, i64, vp]),
            "poisson_f32": load("simctl_poisson_add_f32", [vp, i64, vp, i64, vp, i64, f64, vp]),
            "poisson_f64": load("simctl_poisson_add_f64", [vp, i64, vp, i64, vp, i64, f64, vp]),
            "csr_order": load("simctl_csr_order", [i64, vp, i64, vp, vp]),
        }
        args = [i64, vp, i64, i64, vp, vp, vp, f64, vp, i64, vp, i64, i64]
        for name in ("f32", "f64"):
            fns[name] = load(f"simctl_propagate_{name}", args)
            loop = load_kernel(
                f"{_LOOP_SOURCE}\n/* loop {name} */\n",
                f"simctl_netloop_{name}",
                [i64, i64, i64, i64, vp, i64, vp],
            )
            fns[f"loop_{name}"] = loop
        _C["fns"] = fns
    except CompileError as error:  # pragma: no cover - machines without cc
        log.debug("network C helpers unavailable: %s", error)
        _C["fns"] = None
    return _C["fns"]


class PoissonDrive:
    """One Poisson count per neuron and step with mean ``n·rate·dt`` (``rate_hz``, ``dt`` in ms),
    each count a jump of ``weight``; the same numbers for the same seed on every engine."""

    def __init__(self, spec: Any, size: int, dt: float, seed: np.random.SeedSequence):
        self.spec = spec
        self.size = size
        self.lam = spec.n * spec.rate_hz * dt / 1000.0
        # the cumulative distribution up to where its tail is below double precision; lam
        # above ~700 would underflow exp(-lam): the count is then drawn by numpy
        self.cdf = None
        if 0 < self.lam < 700:
            m = int(self.lam + 12 * math.sqrt(self.lam) + 30)
            k = np.arange(m, dtype=np.float64)
            log_p = -self.lam + k * math.log(self.lam) - np.array([math.lgamma(x + 1) for x in k])
            self.cdf = np.ascontiguousarray(np.cumsum(np.exp(log_p)))
            G = 1024
            self.guide = np.searchsorted(self.cdf, np.arange(G) / G, side="left").astype(np.int32)
            self.guide = np.ascontiguousarray(np.minimum(self.guide, self.cdf.size - 1))
        words = seed.generate_state(4, dtype=np.uint64)
        words[0] |= np.uint64(1)  # xoshiro's state must not be all zero
        self.state = np.ascontiguousarray(words)
        self.rng = np.random.default_rng(seed)

    def counts(self, steps: int) -> np.ndarray:
        """``(steps, size)`` int32 counts (consumed: the next call continues the stream)."""
        out = np.empty((steps, self.size), dtype=np.int32)
        if self.lam <= 0:
            out.fill(0)
            return out
        fns = _c_functions()
        if fns is not None and self.cdf is not None:
            fns["poisson"](*self._args(out.size), out.ctypes.data)
        else:  # pragma: no cover - no compiler
            out[:] = self.rng.poisson(self.lam, size=out.shape)
        return out

    def terms(self, steps: int, dtype: torch.dtype) -> np.ndarray:
        """``(steps, size)`` of ``counts·weight`` in ``dtype``, each term rounded as
        :meth:`add_into` rounds it (consumed: the next call continues the stream)."""
        out = np.zeros((steps, self.size), dtype=_NUMPY_DTYPES[dtype])
        self.add_into(out)
        return out

    def _args(self, n: int) -> list:
        return [
            self.state.ctypes.data,
            n,
            self.cdf.ctypes.data,
            self.cdf.size,
            self.guide.ctypes.data,
            self.guide.size,
        ]

    def add_into(self, x: np.ndarray) -> None:
        """``x += counts·weight`` for the next ``x.shape[0]`` steps (the counts :meth:`counts`
        would return), without materialising the counts."""
        fns = _c_functions()
        if fns is None or self.cdf is None or x.dtype not in (np.float32, np.float64):
            x += self.counts(x.shape[0]) * x.dtype.type(self.spec.weight)
            return
        if self.lam <= 0:
            return
        assert x.flags.c_contiguous
        fn = fns["poisson_f32" if x.dtype == np.float32 else "poisson_f64"]
        fn(*self._args(x.size), float(self.spec.weight), x.ctypes.data)


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on ``device`` without waiting for the device: CUDA copies go from
    pinned memory, asynchronously (torch's pinned allocator keeps the buffer until the copy
    is done); on the CPU the array itself."""
    tensor = torch.from_numpy(array)
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


#: synapse events per scatter of the device engine (bounds its temporaries: ~40 bytes each)
DEVICE_SCATTER_EVENTS = 1 << 24


@dataclass
class _DeviceCSR:
    """A projection's CSR on the post population's device, for the device engine."""

    indptr_host: np.ndarray  #: (n_pre + 1,) int64: each block's synapse-event count, on the host
    indptr: torch.Tensor  #: (n_pre + 1,) int64
    indices: torch.Tensor  #: (n_synapses,) int64 postsynaptic neurons
    weight: torch.Tensor  #: (n_synapses,) in the ring's dtype, or a 0-dim scalar
    delay: torch.Tensor | int  #: (n_synapses,) int64 delay steps, or one for all
    ring: torch.Tensor  #: the post population's ring buffer of this projection's target
    n_pre: int
    n_post: int


# ---------------------------------------------------------------------------------------------
# the network


@dataclass
class Projection:
    """A built projection: its spec, its synapses and the ring buffer it feeds."""

    spec: ProjectionSpec
    conn: conn_mod.Connectivity
    pre: int  #: index of the presynaptic population
    post: int
    seed: int
    _groups: list[tuple[int, torch.Tensor]] | None = None
    _device: dict[Any, Any] = field(default_factory=dict)  #: the device engine's CSR

    def groups(self, dtype: torch.dtype) -> list[tuple[int, torch.Tensor]]:
        """``[(delay steps, sparse (n_post, n_pre) matrix)]``: the reference's products."""
        if self._groups is None:
            c = self.conn
            src = torch.from_numpy(c.sources())
            dst = torch.from_numpy(c.indices.astype(np.int64))
            w = torch.from_numpy(c.weights().astype(np.float32)).to(dtype)
            d = torch.from_numpy(c.delays())
            out = []
            for value in torch.unique(d).tolist() if d.numel() else []:
                sel = d == value
                m = torch.sparse_coo_tensor(
                    torch.stack([dst[sel], src[sel]]),
                    w[sel],
                    (c.n_post, c.n_pre),
                    check_invariants=True,
                ).coalesce()
                if c.n_post * c.n_pre <= 1 << 22:  # small: a dense product
                    m = m.to_dense()
                out.append((int(value), m))
            self._groups = out
        return self._groups


class ISIStats:
    """Per-neuron running sums of inter-spike intervals (count, Σ, Σ²) for the ISI CV."""

    def __init__(self, size: int):
        self.last = np.full(size, np.nan)
        self.n = np.zeros(size, dtype=np.int64)
        self.s1 = np.zeros(size)
        self.s2 = np.zeros(size)

    def add(self, flat: np.ndarray, size: int, k0: int, dt: float) -> None:
        ids = flat % size
        times = (flat // size + k0 + 1) * dt
        order = np.lexsort((times, ids))
        ids, times = ids[order], times[order]
        prev = np.empty_like(times)
        prev[1:] = times[:-1]
        first = np.ones(ids.size, dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        prev[first] = self.last[ids[first]]
        isi = times - prev
        ok = np.isfinite(isi)
        self.n += np.bincount(ids[ok], minlength=self.n.size)
        self.s1 += np.bincount(ids[ok], isi[ok], minlength=self.n.size)
        self.s2 += np.bincount(ids[ok], isi[ok] ** 2, minlength=self.n.size)
        last = np.ones(ids.size, dtype=bool)
        last[:-1] = ids[1:] != ids[:-1]
        self.last[ids[last]] = times[last]

    def cv(self) -> np.ndarray:
        """std/mean of each neuron's intervals (NaN with fewer than two)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.s1 / self.n
            var = np.maximum(self.s2 / self.n - mean**2, 0.0)
            out = np.sqrt(var) / mean
        out[self.n < 2] = np.nan
        return out


@dataclass
class NetPopulation:
    """What the network adds to a runner population."""

    pop: Any  #: simctl.runner.Population
    step: Any  #: its step function (current drive or a scheme)
    targets: list[str] = field(default_factory=list)  #: jump targets with a ring buffer
    ring: dict[str, torch.Tensor] = field(default_factory=dict)  #: target → (L, N)
    refractory: str | None = None
    poisson: PoissonDrive | None = None
    has_current: bool = False
    isi: Any = None  #: ISIStats

    def __post_init__(self) -> None:
        self.isi = ISIStats(self.pop.spec.size)


class Network:
    """Populations and projections on one time grid (see the module docstring)."""

    def __init__(
        self,
        pops: list[NetPopulation],
        projections: list[Projection],
        spec: NetworkSpec,
        dt: float,
        n_steps: int,
    ):
        self.pops = pops
        self.projections = projections
        self.spec = spec
        self.dt = dt
        self.n_steps = n_steps
        self.k = 0
        delays = [p.conn.delay_range() for p in projections if p.conn.n_synapses]
        self.min_delay = min((d[0] for d in delays), default=None)
        self.max_delay = max((d[1] for d in delays), default=0)
        self.L = self.max_delay + 1
        keep = spec.refractory_input == "keep"
        self.keep = keep
        self.engine = ""  #: the engine that ran the last chunk (sim.h5 ``network_engine``)
        for npop in pops:
            dtype, size = npop.pop.dtype, npop.pop.spec.size
            for target in npop.targets:
                # on the population's device: the C propagation writes the CPU rings, the
                # device engine's scatter the others
                npop.ring[target] = torch.zeros((self.L, size), dtype=dtype, device=npop.pop.device)

    # -- shared pieces ---------------------------------------------------------------------

    @property
    def block(self) -> int:
        """Steps per block: ``min delay + 1`` (spikes of a block arrive after it)."""
        if self.min_delay is None:
            return 256
        return self.min_delay + 1

    def _deliveries(self, npop: NetPopulation, k0: int, n: int) -> dict[str, torch.Tensor]:
        """``{target: (n, N)}`` jumps due at steps k0 … k0+n−1 (ring rows taken and zeroed,
        plus the Poisson counts times their weight). In numpy, on this thread: torch's
        indexing waits for its worker threads, milliseconds per call on a busy machine."""
        first = k0 % self.L
        spans = [(first, min(self.L, first + n))]
        if first + n > self.L:
            spans.append((0, first + n - self.L))
        out = {}
        for target, ring in npop.ring.items():
            if ring.device.type != "cpu":  # the reference engine on a device
                x = self._take_rows(ring, k0, n)
                if npop.poisson is not None and npop.poisson.spec.target == target:
                    x = x + _to_device(npop.poisson.terms(n, ring.dtype), ring.device)
                out[target] = x
                continue
            r = ring.numpy()
            x = (
                np.concatenate([r[a:b] for a, b in spans])
                if len(spans) > 1
                else r[spans[0][0] : spans[0][1]].copy()
            )
            for a, b in spans:
                r[a:b] = 0
            if npop.poisson is not None and npop.poisson.spec.target == target:
                npop.poisson.add_into(x)
            out[target] = torch.from_numpy(x)
        return out

    def _current(self, npop: NetPopulation, k0: int, n: int) -> torch.Tensor:
        """The current protocol's ``(n, N)`` or ``(n, 1)`` block (zeros without one)."""
        pop = npop.pop
        if not npop.has_current:
            return torch.zeros((n, 1), dtype=pop.dtype)
        block = pop.input_block(k0, k0 + n)
        return block.expand(n, block.shape[-1]) if block.shape[0] == 1 and n > 1 else block

    def _take_rows(self, ring: torch.Tensor, k0: int, n: int) -> torch.Tensor:
        """Rows ``k0 … k0+n−1`` of a ring (taken and zeroed) with torch slices on the ring's
        device: no index tensor, no host transfer."""
        L = self.L
        if n > L:  # blocks longer than the ring: no synapse at all, nothing ever queued
            return torch.zeros((n, ring.shape[1]), dtype=ring.dtype, device=ring.device)
        first = k0 % L
        if first + n <= L:
            x = ring[first : first + n].clone()
            ring[first : first + n].zero_()
            return x
        x = torch.cat([ring[first:], ring[: first + n - L]])
        ring[first:].zero_()
        ring[: first + n - L].zero_()
        return x

    def _queue_reference(self, k: int, spikes: list[torch.Tensor]) -> None:
        for proj in self.projections:
            z = spikes[proj.pre]
            if not bool(z.any()):
                continue
            ring = self.pops[proj.post].ring[proj.spec.target]
            for d, m in proj.groups(ring.dtype):
                arrived = (m @ z.to(ring.dtype).cpu()).to(dtype=ring.dtype, device=ring.device)
                ring[(k + 1 + d) % self.L] += arrived

    # -- engines -----------------------------------------------------------------------------

    def run_reference(self, writer: Any, n_steps: int | None = None) -> None:
        """The specification: one Python iteration per step (``n_steps`` from the current
        step, default: to the end)."""
        self.engine = "reference"
        for npop in self.pops:
            if not npop.pop.backend:  # the step function, one Python call per step
                npop.pop.backend, npop.pop.backend_reason = "reference", "network reference engine"
        end = self.n_steps if n_steps is None else min(self.n_steps, self.k + n_steps)
        out = _Chunk(self, self.k)
        # a chunk's current protocol in one draw, as every engine does (same noise)
        chunk = [self._current(p, self.k, end - self.k) for p in self.pops]
        start = self.k
        while self.k < end:
            k0 = self.k
            n = min(self.block, end - k0)
            jumps = [self._deliveries(p, k0, n) for p in self.pops]
            currents = [c[k0 - start : k0 - start + n] if c.shape[0] > 1 else c for c in chunk]
            for s in range(n):
                k = k0 + s
                spikes = []
                for i, npop in enumerate(self.pops):
                    pop = npop.pop
                    state = pop.state
                    current = currents[i][s].expand(pop.spec.size)
                    x_all = {t: x[s] for t, x in jumps[i].items()}
                    if INPUT_TARGET in x_all:
                        current = current + x_all.pop(INPUT_TARGET)
                    if x_all and npop.refractory is not None and not self.keep:
                        free = _get(state, npop.refractory) <= 0
                        x_all = {t: torch.where(free, x, 0.0 * x) for t, x in x_all.items()}
                    for t, x in x_all.items():
                        state = _set(state, t, _get(state, t) + x.to(pop.device))
                    with torch.no_grad():
                        z, state = npop.step(current.to(pop.device), state, pop.p, self.dt)
                    pop.state = state
                    spikes.append(z)
                    hit = torch.nonzero(z.reshape(-1)).flatten().cpu().numpy()
                    traces = {}
                    for var in pop.variables if len(pop.record_ids) else []:
                        traces[var] = _get(state, var).expand(pop.spec.size)[pop.ids_t][None]
                    out.add(i, hit, k, 1, traces)
                self._queue_reference(k, spikes)
            self.k = k0 + n
        out.write(writer)

    def _fused_ok(self) -> str:
        """Why the fused engine cannot run (empty: it can)."""
        if _c_functions() is None:
            return "no C compiler"
        for npop in self.pops:
            if npop.pop.device.type != "cpu":
                return "not on the CPU"
        return self._jumps_ok()

    def _jumps_ok(self) -> str:
        """Why a population's block cannot be one kernel call (empty: every one can): the
        jump wrapper (:func:`jump_model`) takes one input, a jump or a current."""
        for npop in self.pops:
            jumps = [t for t in npop.targets if t != INPUT_TARGET]
            if len(jumps) > 1:
                return f"{npop.pop.name}: jumps into more than one variable"
            if jumps and (npop.has_current or INPUT_TARGET in npop.targets):
                return f"{npop.pop.name}: jumps and a current together"
        return ""

    def run_fused(self, writer: Any, n_steps: int | None = None) -> None:
        """Blocks of ``min delay + 1`` steps: each population's block in one fused kernel
        call, then the block's spikes through the CSR into the ring buffers in C."""
        why = self._fused_ok()
        if why:
            log.info("network: reference engine (%s)", why)
            return self.run_reference(writer, n_steps)
        fns = _c_functions()
        self.engine = "blocks"
        models = []
        for npop in self.pops:
            target = next((t for t in npop.targets), None)
            models.append(jump_model(npop.pop.model, npop.step, target, npop.refractory, self.keep))
        end = self.n_steps if n_steps is None else min(self.n_steps, self.k + n_steps)
        out = _Chunk(self, self.k)
        chunk = [self._current(p, self.k, end - self.k) for p in self.pops]
        start = self.k
        while self.k < end:
            k0 = self.k
            n = min(self.block, end - k0)
            results = []
            for i, (npop, model) in enumerate(zip(self.pops, models, strict=True)):
                pop = npop.pop
                jumps = self._deliveries(npop, k0, n)
                if npop.targets and npop.targets[0] != INPUT_TARGET:
                    drive = jumps[npop.targets[0]]
                else:
                    drive = chunk[i][k0 - start : k0 - start + n]
                    if INPUT_TARGET in jumps:
                        drive = drive + jumps[INPUT_TARGET]
                    drive = drive.expand(n, pop.spec.size)
                results.append(self._integrate_block(i, model, drive, k0, n, out))
            for proj in self.projections:
                flat = results[proj.pre]
                if flat.size and proj.conn.n_synapses:
                    self._propagate(fns, proj, flat, k0)
            self.k = k0 + n
        out.write(writer)
        return None

    def run_loop(self, writer: Any, n_steps: int | None = None) -> None:
        """The whole chunk in one C call (``simctl_netloop``): per step every population's
        delivery and one step of its traced kernel, then every projection's propagation.
        The same arithmetic in the same order as :meth:`run_fused` (its blocks), without
        Python between steps, which matters when the blocks are short (net.m: one step)."""
        from simctl.kernels.fused import (
            FusedUnavailable,
            _dense,
            _per_neuron,
            _record_table,
            get_plan,
        )
        from simctl.kernels.trace import flatten, unflatten

        why = self._fused_ok()
        if why:
            log.info("network: reference engine (%s)", why)
            return self.run_reference(writer, n_steps)
        fns = _c_functions()
        end = self.n_steps if n_steps is None else min(self.n_steps, self.k + n_steps)
        k0, n = self.k, end - self.k
        if n <= 0:
            return None
        dtypes = {p.pop.dtype for p in self.pops}
        if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.float64):
            return self.run_fused(writer, n_steps)
        alive: list[Any] = []  # everything the C loop points at
        pops_c = (_PopC * len(self.pops))()
        parts = []
        try:
            for i, npop in enumerate(self.pops):
                pop, size, dtype = npop.pop, npop.pop.spec.size, npop.pop.dtype
                target = next(iter(npop.targets), None)
                model = jump_model(pop.model, npop.step, target, npop.refractory, self.keep)
                record = pop.variables if len(pop.record_ids) else []
                x = torch.zeros((1, size), dtype=dtype)
                plan = get_plan(
                    model.feed_forward_step,
                    x,
                    pop.state,
                    pop.p,
                    self.dt,
                    record,
                    "full",
                    bool(record),
                    False,
                )
                if plan.output_dtype != dtype:
                    raise FusedUnavailable("the step's output dtype differs from the state's")
                leaves = [_dense(leaf, (size,)) for _, leaf in flatten(pop.state)]
                p_leaves = dict(flatten(pop.p))
                params = [
                    _dense(p_leaves[path], (size,), copy=False) for path in _per_neuron(pop.p)
                ]
                out = torch.empty((1, size), dtype=dtype)
                extra, columns = [], 0
                if record:
                    index, columns = _record_table(pop.ids_t.cpu().to(torch.int64), (size,))
                    extra = [index]
                traces = [
                    torch.empty((n, columns), dtype=leaves[k].dtype) for k in plan.record_leaves
                ]
                # the state's arrays twice: final and initial state, advanced in place
                table = [x, *leaves, *params, out, *traces, *extra, *leaves]
                ptrs = (ctypes.c_void_p * len(table))(*[t.data_ptr() for t in table])
                bases = (ctypes.c_void_p * max(1, len(traces)))(*[t.data_ptr() for t in traces])
                cur = None
                if npop.has_current:
                    cur = self._current(npop, k0, n).expand(n, size).contiguous().to(dtype)
                ev = np.empty(n * size, dtype=np.int64)
                P = pops_c[i]
                P.n, P.kern = size, ctypes.cast(plan.function, ctypes.c_void_p).value
                P.consts = ctypes.cast(plan.consts, ctypes.c_void_p).value
                P.table = ctypes.cast(ptrs, ctypes.c_void_p).value
                P.x, P.out = x.data_ptr(), out.data_ptr()
                P.ring = npop.ring[target].data_ptr() if target else None
                P.cur = cur.data_ptr() if cur is not None else None
                P.trace_at = 1 + len(leaves) + len(params) + 1
                P.n_trace, P.columns = len(traces), columns
                P.trace_base = ctypes.cast(bases, ctypes.c_void_p).value
                drive = npop.poisson
                if drive is not None and drive.cdf is not None and drive.lam > 0:
                    P.pstate, P.cdf, P.m = (
                        drive.state.ctypes.data,
                        drive.cdf.ctypes.data,
                        drive.cdf.size,
                    )
                    P.guide, P.G, P.pw = (
                        drive.guide.ctypes.data,
                        drive.guide.size,
                        drive.spec.weight,
                    )
                elif drive is not None and drive.lam > 0:
                    raise FusedUnavailable("Poisson drive without its table")
                P.ev, P.n_ev = ev.ctypes.data, 0
                alive += [x, leaves, params, out, traces, extra, ptrs, bases, cur, ev]
                parts.append((leaves, traces, ev, record))
        except FusedUnavailable as error:
            log.debug("network loop unavailable, using blocks: %s", error)
            return self.run_fused(writer, n_steps)
        projs_c = (_ProjC * len(self.projections))()
        for e, proj in enumerate(self.projections):
            c, J = proj.conn, projs_c[e]
            J.pre, J.post, J.n_pre, J.n_post = proj.pre, proj.post, c.n_pre, c.n_post
            J.indptr, J.indices = c.indptr.ctypes.data, c.indices.ctypes.data
            if isinstance(c.weight, np.ndarray):
                J.w, J.wscalar = c.weight.ctypes.data, 0.0
            else:
                J.w, J.wscalar = None, float(c.weight)
            if isinstance(c.delay_steps, np.ndarray):
                J.dsteps, J.dscalar = c.delay_steps.ctypes.data, 0
            else:
                J.dsteps, J.dscalar = None, int(c.delay_steps)
        loop = fns["loop_f64" if self.pops[0].pop.dtype == torch.float64 else "loop_f32"]
        loop(
            n,
            k0,
            self.L,
            len(self.pops),
            ctypes.addressof(pops_c),
            len(self.projections),
            ctypes.addressof(projs_c),
        )
        del alive
        self.engine = "loop"
        for npop in self.pops:
            if not npop.pop.backend:  # its traced kernel, called by the loop step by step
                npop.pop.backend, npop.pop.backend_reason = "c", ""
        chunk = _Chunk(self, k0)
        for i, (npop, (leaves, traces, ev, record)) in enumerate(
            zip(self.pops, parts, strict=True)
        ):
            npop.pop.state = unflatten(npop.pop.state, leaves)
            flat = ev[: pops_c[i].n_ev]
            chunk.add(i, flat, k0, n, {v: t for v, t in zip(record, traces, strict=True)})
        self.k = end
        chunk.write(writer)
        return None

    def run_device(self, writer: Any, n_steps: int | None = None) -> None:
        """Blocks of ``min delay + 1`` steps with everything on the populations' device: the
        block's deliveries taken from the device ring (plus the Poisson drive, drawn on the host
        once per chunk by the same generator as the other engines, copied asynchronously), each
        population's block in one :func:`simctl.kernels.spike_events` call (Triton on CUDA, C
        on the CPU), then each projection's scatter of the block's spikes into the ring with
        torch ops on the device (:meth:`_scatter`). Per block and population the only host
        transfers are the kernels' spike events (the writer's, and the scatter's sizes); traces
        are copied once per chunk. The arithmetic and its order are the blocks engine's
        (:meth:`run_fused`), so on the CPU the two are identical."""
        why = self._jumps_ok()
        if why:
            log.info("network: reference engine (%s)", why)
            return self.run_reference(writer, n_steps)
        self.engine = "device"
        models = []
        for npop in self.pops:
            target = next((t for t in npop.targets), None)
            models.append(jump_model(npop.pop.model, npop.step, target, npop.refractory, self.keep))
        csrs = [self._device_csr(proj) for proj in self.projections]
        end = self.n_steps if n_steps is None else min(self.n_steps, self.k + n_steps)
        start = self.k
        total = end - start
        if total <= 0:
            return None
        out = _Chunk(self, start)
        # the chunk's current protocol and Poisson terms, each in one draw and one copy
        currents, poisson = [], []
        for npop in self.pops:
            device, dtype = npop.pop.device, npop.pop.dtype
            current = None
            if npop.has_current:
                current = self._current(npop, start, total)
                if current.shape[0] > 1 and current.stride(0) == 0:
                    current = current[:1]  # one row for every step: copied compact
                current = current.to(device, non_blocking=True)
            currents.append(current)
            drive = npop.poisson
            terms = None
            if drive is not None and drive.lam > 0:
                terms = _to_device(drive.terms(total, dtype), device)
            poisson.append(terms)
        while self.k < end:
            k0 = self.k
            n = min(self.block, end - k0)
            at = k0 - start
            events = []
            for i, (npop, model) in enumerate(zip(self.pops, models, strict=True)):
                pop = npop.pop
                target = next((t for t in npop.targets), None)
                x = None
                if target is not None:
                    x = self._take_rows(npop.ring[target], k0, n)
                    if poisson[i] is not None and npop.poisson.spec.target == target:
                        x = x + poisson[i][at : at + n]
                if target is not None and target != INPUT_TARGET:
                    drive = x
                else:
                    current = currents[i]
                    if current is None:
                        drive = torch.zeros((n, 1), dtype=pop.dtype, device=pop.device)
                    else:
                        drive = current[at : at + n] if current.shape[0] > 1 else current
                    if x is not None:
                        drive = drive + x
                    drive = drive.expand(n, pop.spec.size)
                events.append(self._integrate_block(i, model, drive, k0, n, out))
            on_device: dict[int, torch.Tensor] = {}
            for proj, csr in zip(self.projections, csrs, strict=True):
                flat = events[proj.pre]
                if flat.size and proj.conn.n_synapses:
                    if proj.pre not in on_device:
                        on_device[proj.pre] = _to_device(flat, csr.ring.device)
                    self._scatter(csr, flat, on_device[proj.pre], k0)
            self.k = k0 + n
        out.write(writer)
        return None

    def _device_csr(self, proj: Projection) -> _DeviceCSR:
        """The projection's synapses on its post population's device (built once)."""
        ring = self.pops[proj.post].ring[proj.spec.target]
        key = (ring.device, ring.dtype)
        found = proj._device.get(key)
        if found is not None:
            found.ring = ring
            return found
        c, device = proj.conn, ring.device
        indptr = np.ascontiguousarray(c.indptr, dtype=np.int64)
        if isinstance(c.weight, np.ndarray):
            weight = torch.from_numpy(c.weight).to(device=device, dtype=ring.dtype)
        else:  # as the C propagation casts it
            weight = torch.tensor(float(c.weight), dtype=ring.dtype, device=device)
        delay: torch.Tensor | int
        if isinstance(c.delay_steps, np.ndarray):
            delay = torch.from_numpy(c.delay_steps.astype(np.int64)).to(device)
        else:
            delay = int(c.delay_steps)
        csr = _DeviceCSR(
            indptr_host=indptr,
            indptr=torch.from_numpy(indptr).to(device),
            indices=torch.from_numpy(c.indices.astype(np.int64)).to(device),
            weight=weight,
            delay=delay,
            ring=ring,
            n_pre=c.n_pre,
            n_post=c.n_post,
        )
        proj._device[key] = csr
        return csr

    def _scatter(self, csr: _DeviceCSR, flat: np.ndarray, flat_d: torch.Tensor, k0: int) -> None:
        """The block's spikes (``flat``: ``step·n_pre + neuron``, ascending; ``flat_d`` the same
        on the ring's device) through the CSR into the ring, on the device.

        Each spike's row of synapses is expanded (``repeat_interleave`` with its size known
        from the host's copy of the row pointers, so nothing waits for the device) and added
        at ring row ``(k0 + step + 1 + delay) mod L``, column ``post``. On the CPU
        ``index_add_`` adds serially, in the C propagation's order (spikes ascending, synapses
        in CSR order): identical to the blocks engine. On CUDA ``index_put_`` with
        ``accumulate`` sorts the destinations stably and sums each one's terms in a fixed
        order (deterministic run to run; ``index_add_`` there would use atomics, in no fixed
        order), but it may group them differently from the CPU's serial sum: equal where the
        sums are exact (dyadic weights), otherwise within their rounding."""
        rows = flat % csr.n_pre
        counts = csr.indptr_host[rows + 1] - csr.indptr_host[rows]
        ends = np.cumsum(counts)
        if not ends.size or ends[-1] == 0:
            return
        ring = csr.ring.view(-1)
        device = ring.device
        # slices of at most DEVICE_SCATTER_EVENTS synapse events (a spike's row stays whole)
        cuts = np.searchsorted(
            ends,
            np.arange(1, 1 + ends[-1] // DEVICE_SCATTER_EVENTS) * DEVICE_SCATTER_EVENTS,
            side="left",
        )
        bounds = [0, *sorted({int(c) + 1 for c in cuts if c + 1 < ends.size}), ends.size]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            size = int(ends[b - 1] - (ends[a - 1] if a else 0))
            if size == 0:
                continue
            spikes = flat_d[a:b]
            pre = spikes % csr.n_pre
            first = csr.indptr[pre]
            count = csr.indptr[pre + 1] - first
            which = torch.repeat_interleave(count, output_size=size)  # spike of each event
            offset = torch.cumsum(count, 0) - count  # each spike's first event
            # index_select: the gathers (advanced indexing is several times slower on the CPU)
            synapse = (first - offset).index_select(0, which)
            synapse += torch.arange(size, device=device)
            step = spikes // csr.n_pre + (k0 + 1)
            where = csr.indices.index_select(0, synapse)
            if isinstance(csr.delay, torch.Tensor):
                row = step.index_select(0, which)
                row += csr.delay.index_select(0, synapse)
                row %= self.L
                row *= csr.n_post
            else:  # one delay: each spike's ring row, then gathered
                row = ((step + csr.delay) % self.L * csr.n_post).index_select(0, which)
            where += row
            if csr.weight.dim():
                weight = csr.weight.index_select(0, synapse)
            else:
                weight = csr.weight.expand(size)
            if device.type == "cpu":
                ring.index_add_(0, where, weight)
            else:
                ring.index_put_((where,), weight, accumulate=True)

    def _integrate_block(
        self, i: int, model: Any, drive: torch.Tensor, k0: int, n: int, out: _Chunk
    ) -> np.ndarray:
        """Population ``i``'s block of ``n`` steps from ``k0`` under ``drive`` (the blocks and
        device engines): its state advanced, its traces and spikes handed to ``out``; returns
        the block's flat spike indices (a copy: the kernel's workspace is reused)."""
        from simctl.kernels import last_backend, spike_events

        pop = self.pops[i].pop
        record = pop.variables if len(pop.record_ids) else []
        index = pop.ids_t if record else None
        flat, _, traces, state = spike_events(
            model, drive, pop.state, pop.p, self.dt, record, record_index=index
        )
        flat = np.array(flat)
        if not pop.backend:
            pop.backend, pop.backend_reason = last_backend()
        pop.state = state
        out.add(i, flat, k0, n, traces)
        return flat

    def _propagate(self, fns: dict, proj: Projection, flat: np.ndarray, k0: int) -> None:
        c = proj.conn
        ring = self.pops[proj.post].ring[proj.spec.target]
        fn = fns["f64" if ring.dtype == torch.float64 else "f32"]
        flat = np.ascontiguousarray(flat, dtype=np.int64)
        w = c.weight if isinstance(c.weight, np.ndarray) else None
        d = c.delay_steps if isinstance(c.delay_steps, np.ndarray) else None
        fn(
            flat.size,
            flat.ctypes.data,
            c.n_pre,
            k0,
            c.indptr.ctypes.data,
            c.indices.ctypes.data,
            None if w is None else w.ctypes.data,
            0.0 if w is not None else float(c.weight),
            None if d is None else d.ctypes.data,
            0 if d is not None else int(c.delay_steps),
            ring.data_ptr(),
            self.L,
            c.n_post,
        )

    def select_engine(self, engine: str = "auto") -> str:
        """The engine :meth:`run` uses: ``engine`` unless ``auto``; then
        ``$SIMCTL_NETWORK_ENGINE`` (one of :data:`ENGINES`) unless ``auto``; then
        ``reference`` under ``SIMCTL_KERNELS=reference``, ``device`` when a population is not
        on the CPU, else ``loop``."""
        import os

        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: expected one of {', '.join(ENGINES)}")
        if engine == "auto":
            value = os.environ.get("SIMCTL_NETWORK_ENGINE", "auto").strip().lower() or "auto"
            if value not in ENGINES:
                raise ConfigError("SIMCTL_NETWORK_ENGINE", value, "not a network engine", ENGINES)
            engine = value
        if engine != "auto":
            return engine
        if os.environ.get("SIMCTL_KERNELS", "").strip().lower() == "reference":
            return "reference"
        if any(npop.pop.device.type != "cpu" for npop in self.pops):
            return "device"
        return "loop"

    def run(self, writer: Any, engine: str = "auto", progress: bool | None = None) -> None:
        """Advances to the end with :meth:`select_engine`'s engine (``loop``, ``blocks``,
        ``device`` or ``reference``), flushing the writer about every 2 M neuron-steps; the
        engine that ran is recorded per population (``network_engine``), the kernel backend
        in ``backend``."""
        from simctl.kernels.fused import trim_heap
        from simctl.runner import handle_sigterm

        size = sum(p.pop.spec.size for p in self.pops)
        chunk = max(self.block, (1 << 21) // max(1, size))
        chunk = -(-chunk // self.block) * self.block
        runner = {
            "reference": self.run_reference,
            "blocks": self.run_fused,
            "device": self.run_device,
            "loop": self.run_loop,
        }[self.select_engine(engine)]
        recorded = False
        with handle_sigterm():
            while self.k < self.n_steps:
                runner(writer, chunk)
                if not recorded:  # in the file from the first flush on
                    self._record_engine(writer)
                    recorded = True
                writer.flush()
                trim_heap()
        file = getattr(writer, "file", None)
        if file is not None:  # the ISI CV per neuron beside the runner's summary
            for npop in self.pops:
                group = file.require_group(f"summary/{npop.pop.name}")
                if "cv_isi" in group:
                    del group["cv_isi"]
                group.create_dataset("cv_isi", data=npop.isi.cv())

    def _record_engine(self, writer: Any) -> None:
        set_attrs = getattr(writer, "set_population_attrs", None)
        if set_attrs is None or not self.engine:
            return
        for npop in self.pops:
            set_attrs(npop.pop.name, {"network_engine": self.engine})

    # -- file ------------------------------------------------------------------------------

    def projection_attrs(self, seed: int) -> dict[str, dict[str, Any]]:
        out = {}
        for proj in self.projections:
            s = proj.spec
            lo, hi = proj.conn.delay_range()
            drawn = np.asarray(proj.conn.delay_ms, dtype=np.float64)
            err = (
                float(np.max(np.abs(proj.conn.delays() * self.dt - drawn)))
                if (proj.conn.n_synapses)
                else 0.0
            )
            out[s.name] = {
                "pre": s.pre,
                "post": s.post,
                "rule": s.rule,
                "rule_json": s.rule_json(),
                "n_synapses": proj.conn.n_synapses,
                "target": s.target,
                "weight_json": json.dumps(s.weight),
                "delay_json": json.dumps(s.delay),
                "delay_steps": np.array([lo, hi], dtype=np.int64),
                "delay_rounding_ms": err,
                "bytes_per_synapse": proj.conn.nbytes() / max(1, proj.conn.n_synapses),
                "seed": proj.seed,
            }
        return out


class _Chunk:
    """Spikes and samples of several blocks, handed to the writer at once (one HDF5 append
    per dataset and chunk, not per block); a NaN state ends the run naming the population."""

    def __init__(self, network: Network, k0: int):
        self.network = network
        self.k0 = k0
        self.events: list[list[np.ndarray]] = [[] for _ in network.pops]
        self.traces: list[dict[str, list]] = [{} for _ in network.pops]

    def add(self, i: int, flat: np.ndarray, k: int, n: int, traces: dict) -> None:
        size = self.network.pops[i].pop.spec.size
        if flat.size:
            self.events[i].append(flat + (k - self.k0) * size)
        for var, t in traces.items():
            # kept as tensors (on a device: there) until the chunk is written, one copy then
            self.traces[i].setdefault(var, []).append(t.reshape(n, -1))

    def write(self, writer: Any) -> None:
        """Every population's spikes, traces and new step count; a signal arriving meanwhile
        is raised once all are written (never spikes after ``t_reached``), then a NaN state
        ends the run."""
        from simctl.runner import _nonfinite, _signals_deferred, _spikes

        net = self.network
        n = net.k - self.k0
        if n <= 0:
            return
        samples = []
        for i, npop in enumerate(net.pops):
            pop = npop.pop
            values = None
            if self.traces[i]:
                steps = np.arange(self.k0, self.k0 + n)
                rows = np.nonzero((steps + 1) % pop.every == 0)[0]
                if rows.size:
                    time = (self.k0 + rows + 1).astype(np.float64) * net.dt
                    values = (time, {v: _host(t)[rows] for v, t in self.traces[i].items()})
            samples.append(values)
        with _signals_deferred():
            for i, npop in enumerate(net.pops):
                pop = npop.pop
                if self.events[i]:
                    flat = np.concatenate(self.events[i])
                    npop.isi.add(flat, pop.spec.size, self.k0, net.dt)
                    _spikes(pop, flat, pop.spec.size, self.k0, writer)
                if samples[i] is not None:
                    writer.append_state(pop.name, *samples[i])
                pop.k = net.k
        for npop in net.pops:
            if _nonfinite(npop.pop.state):
                raise SimulationError(
                    f"population {npop.pop.name}: the state became NaN or infinite between "
                    f"t = {self.k0 * net.dt:g} and {net.k * net.dt:g} ms; hint: use a smaller "
                    f"simulation.dt (now {net.dt:g} ms) or weaker weights"
                )


def _host(parts: list[torch.Tensor]) -> np.ndarray:
    """A chunk's blocks of one trace as one host array (from a device: one copy)."""
    return (torch.cat(parts) if len(parts) > 1 else parts[0]).cpu().numpy()


# ---------------------------------------------------------------------------------------------
# building


def netm_parameters(
    kind: str, p: Any, size: int, generator: torch.Generator, dtype: Any, device: Any
) -> Any:
    """net.m's per-cell parameters from ``r ~ U[0, 1]`` (drawn once per cell, on the CPU):
    excitatory ``c = −65 + 15r²``, ``d = 8 − 6r²``; inhibitory ``a = 0.02 + 0.08r``,
    ``b = 0.25 − 0.05r``."""
    r = torch.rand(size, generator=generator, dtype=torch.float64)
    if kind == "netm_excitatory":
        values = {"c": -65.0 + 15.0 * r * r, "d": 8.0 - 6.0 * r * r}
    else:
        values = {"a": 0.02 + 0.08 * r, "b": 0.25 - 0.05 * r}
    return p._replace(**{k: v.to(dtype=dtype, device=device) for k, v in values.items()})


def build_network(spec: Any, sim: Any, device: Any, dtype: torch.dtype) -> Network:
    """Builds populations (through :func:`simctl.registry.build_population`) and projections
    from a resolved :class:`~simctl.config.resolve.RunSpec` whose ``network`` is set."""
    from simctl import registry
    from simctl.config.schema import InputNone

    net: NetworkSpec = spec.network
    # the memory check comes before anything is built
    items = []
    by_name = {p.name: p for p in spec.populations}
    for ps in net.projections:
        same = ps.pre == ps.post
        n = conn_mod.expected_synapses(
            ps.rule, ps.param, by_name[ps.pre].size, by_name[ps.post].size, same, ps.autapses
        )
        need = conn_mod.estimate_bytes(n, isinstance(ps.weight, dict), isinstance(ps.delay, dict))
        items.append((f"{ps.key}.connectivity", need, f"{ps.rule} ({n:.3g} synapses)"))

    conn_mod.check_memory(items)
    pops: list[NetPopulation] = []
    index = {}
    for i, ps in enumerate(spec.populations):
        poisson = net.poisson.get(ps.name)
        build_spec = dataclasses.replace(ps, input=InputNone()) if poisson else ps
        pop = registry.build_population(build_spec, i, sim, spec.record, device, dtype)
        pop.spec = ps  # the HDF5 attrs describe the input as configured
        pop.record_input = False
        model = pop.model
        scheme = net.schemes.get(ps.name)
        step = (
            SCHEMES[scheme]
            if scheme
            else getattr(model, "current_drive_step", model.feed_forward_step)
        )
        derived = net.derived.get(ps.name)
        if derived:
            gen = torch.Generator().manual_seed(int(sim.seed) * 7919 + 104729 + i)
            pop.p = netm_parameters(derived, pop.p, ps.size, gen, dtype, device)
            if ps.name and "u" in ps.initial_state:  # u = b·v with the per-cell b
                pop.state = pop.state._replace(u=pop.p.b * pop.state.v)
        npop = NetPopulation(
            pop=pop,
            step=step,
            refractory=refractory_state(ps.model),
            has_current=(not poisson and ps.input.protocol != "none"),
        )
        if poisson:
            seed = np.random.SeedSequence([int(sim.seed) % 2**64, 0xD21BE, i])
            npop.poisson = PoissonDrive(poisson, ps.size, ps.dt, seed)
            npop.targets.append(poisson.target)
        pops.append(npop)
        index[ps.name] = i
    projections = []
    dt = spec.populations[0].dt
    for j, ps in enumerate(net.projections):
        seed = conn_mod.projection_seed(sim.seed, j)
        try:
            c = conn_mod.connect(
                ps.rule,
                by_name[ps.pre].size,
                by_name[ps.post].size,
                param=ps.param,
                same=ps.pre == ps.post,
                autapses=ps.autapses,
                multapses=ps.multapses,
                weight=ps.weight,
                delay=ps.delay,
                dt=dt,
                seed=seed,
                min_delay_steps=0,
            )
        except MemoryError:
            raise ConfigError(
                f"{ps.key}.connectivity", ps.rule, "not enough memory for the synapses"
            ) from None
        low = c.delay_range()[0] if c.n_synapses else 1
        if low < (0 if net.instantaneous else 1):
            raise ConfigError(
                f"{ps.key}.delay",
                ps.delay,
                f"draws delays shorter than one step (dt = {dt:g} ms)",
                f">= {dt:g} ms, or network.instantaneous: true",
            )
        post = pops[index[ps.post]]
        if ps.target not in post.targets:
            post.targets.append(ps.target)
        projections.append(
            Projection(ps, c, index[ps.pre], index[ps.post], int(seed.generate_state(1)[0]))
        )
    n_steps = spec.populations[0].n_steps
    return Network(pops, projections, net, dt, n_steps)


def write_projections(network: Network, writer: Any, seed: int, edges: bool) -> None:
    """``/projections/<name>`` attrs and, with ``edges``, SONATA-named datasets."""
    group = writer.file.require_group("projections")
    for proj in network.projections:
        attrs = network.projection_attrs(seed)[proj.spec.name]
        g = group.create_group(proj.spec.name)
        for k, v in attrs.items():
            g.attrs[k] = v
        if edges:
            c = proj.conn
            kw = {"compression": "gzip", "compression_opts": 4} if c.n_synapses > 1024 else {}
            g.create_dataset("source_node_id", data=c.sources().astype(np.uint32), **kw)
            g.create_dataset("target_node_id", data=c.indices.astype(np.uint32), **kw)
            g.create_dataset("weight", data=c.weights(), **kw)
            delay = g.create_dataset("delay", data=c.delays() * network.dt, **kw)
            delay.attrs["units"] = "ms"
