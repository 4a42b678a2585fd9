"""Connectivity of projections: which neurons connect, with which weight and delay.

Every rule is drawn on the CPU from a seed (:func:`projection_seed` of the run's seed and the
projection's index), so a network is the same on every device and every run with that seed.
The result is stored per presynaptic neuron (CSR), which is what event-driven propagation reads:
the synapses of neuron ``i`` are ``indptr[i]:indptr[i+1]``, their postsynaptic neurons
``indices`` (int32, ascending within a row), their weights ``weight`` (float32; a single number
when every synapse has the same weight) and their delays in whole steps ``delay_steps`` (int16; a
single number when uniform). A uniform projection therefore costs 4 bytes per synapse, one with a
weight distribution 8.

Rules (``connectivity.rule``), as NEST and PyNN name them:

``all_to_all``
    every pre neuron to every post neuron.
``one_to_one``
    ``i → i`` (equal sizes).
``fixed_probability`` (``p``)
    every pair independently with probability ``p`` (the out-degree of a neuron is binomial).
``fixed_indegree`` (``k``)
    every post neuron gets exactly ``k`` inputs, drawn uniformly.
``fixed_outdegree`` (``k``)
    every pre neuron makes exactly ``k`` synapses.
``fixed_total`` (``n``)
    ``n`` synapses, each pair drawn uniformly.

``autapses`` (default false) allows ``i → i`` where pre is post; ``multapses`` (default false)
allows a pair to be drawn more than once (``fixed_indegree``, ``fixed_outdegree`` and
``fixed_total`` only: the other rules never repeat a pair).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from simctl.config.errors import ConfigError

__all__ = [
    "RULES",
    "Connectivity",
    "projection_seed",
    "expected_synapses",
    "estimate_bytes",
    "check_memory",
    "connect",
    "delay_steps",
]

#: rule name → its parameter (None: no parameter)
RULES: dict[str, str | None] = {
    "all_to_all": None,
    "one_to_one": None,
    "fixed_probability": "p",
    "fixed_indegree": "k",
    "fixed_outdegree": "k",
    "fixed_total": "n",
}


@dataclass
class Connectivity:
    """The synapses of one projection, stored per presynaptic neuron (CSR)."""

    n_pre: int
    n_post: int
    indptr: np.ndarray  #: (n_pre + 1,) int64
    indices: np.ndarray  #: (n_synapses,) int32, postsynaptic neuron of each synapse
    weight: np.ndarray | float  #: (n_synapses,) float32, or one number for all
    delay_steps: np.ndarray | int  #: (n_synapses,) int16, or one number for all
    delay_ms: np.ndarray | float  #: the delays as drawn (before rounding to steps)

    @property
    def n_synapses(self) -> int:
        return int(self.indices.size)

    def sources(self) -> np.ndarray:
        """The presynaptic neuron of each synapse (int64, ascending): SONATA's source ids."""
        return np.repeat(np.arange(self.n_pre, dtype=np.int64), np.diff(self.indptr))

    def weights(self) -> np.ndarray:
        """Every synapse's weight (float32), expanded when uniform."""
        if isinstance(self.weight, np.ndarray):
            return self.weight
        return np.full(self.n_synapses, self.weight, dtype=np.float32)

    def delays(self) -> np.ndarray:
        """Every synapse's delay in steps (int64), expanded when uniform."""
        if isinstance(self.delay_steps, np.ndarray):
            return self.delay_steps.astype(np.int64)
        return np.full(self.n_synapses, self.delay_steps, dtype=np.int64)

    def delay_range(self) -> tuple[int, int]:
        """``(min, max)`` delay in steps (``(0, 0)`` without synapses)."""
        if isinstance(self.delay_steps, np.ndarray):
            if not self.delay_steps.size:
                return 0, 0
            return int(self.delay_steps.min()), int(self.delay_steps.max())
        return int(self.delay_steps), int(self.delay_steps)

    def nbytes(self) -> int:
        """Bytes held by the synapses (indices, weights and delays, not the row pointers)."""
        total = self.indices.nbytes
        for part in (self.weight, self.delay_steps):
            if isinstance(part, np.ndarray):
                total += part.nbytes
        return total

    def dense(self) -> np.ndarray:
        """``(n_post, n_pre)`` float64 matrix of summed weights (tests and small networks)."""
        out = np.zeros((self.n_post, self.n_pre))
        np.add.at(out, (self.indices, self.sources()), self.weights().astype(np.float64))
        return out

    def in_degrees(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=self.n_post)

    def out_degrees(self) -> np.ndarray:
        return np.diff(self.indptr)


def projection_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of projection ``index`` of a run with ``seed`` (independent streams)."""
    return np.random.SeedSequence([int(seed) % 2**64, 0x5E7C0, int(index)])


def _eligible(n_pre: int, same: bool, autapses: bool) -> int:
    """Candidates per post neuron (pre neurons, minus itself when autapses are excluded)."""
    return n_pre - 1 if same and not autapses else n_pre


def expected_synapses(
    rule: str, param: float | None, n_pre: int, n_post: int, same: bool, autapses: bool
) -> int:
    """The number of synapses a rule makes (the expectation for ``fixed_probability``)."""
    pairs = n_post * _eligible(n_pre, same, autapses)
    if rule == "all_to_all":
        return pairs
    if rule == "one_to_one":
        return min(n_pre, n_post)
    if rule == "fixed_probability":
        return int(math.ceil(pairs * float(param)))
    if rule == "fixed_indegree":
        return int(param) * n_post
    if rule == "fixed_outdegree":
        return int(param) * n_pre
    if rule == "fixed_total":
        return int(param)
    raise ValueError(rule)


def estimate_bytes(n_synapses: int, weight_varies: bool, delay_varies: bool) -> int:
    """Peak bytes to build a projection of ``n_synapses``: the stored synapses plus the
    temporaries of the build (pre and post ids, the row-sorting permutation)."""
    stored = 4 + (4 if weight_varies else 0) + (2 if delay_varies else 0)
    building = 4 + 8 + (8 if weight_varies else 0) + (8 if delay_varies else 0)
    return n_synapses * (stored + building)


def available_memory() -> int | None:
    """Physical memory in bytes (None where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_memory(items: list[tuple], limit: int | None = None) -> None:
    """Raises a one-line ConfigError when the projections ``[(key, bytes[, shown value])]``
    together need
    more than ``limit`` (default: 80 % of physical memory), naming the largest."""
    limit = limit if limit is not None else available_memory()
    if limit is None or not items:
        return
    limit = int(limit * 0.8) if limit == available_memory() else limit
    total = sum(item[1] for item in items)
    if total > limit:
        largest = max(items, key=lambda kv: kv[1])
        key = largest[0]
        raise ConfigError(
            key,
            largest[2] if len(largest) > 2 else f"{largest[1] / 2**30:.1f} GiB",
            f"the projections need about {total / 2**30:.1f} GiB to build, more than the "
            f"{limit / 2**30:.1f} GiB available",
            "fewer synapses (a smaller network.scale, in-degree or probability)",
        )


def delay_steps(delay_ms: np.ndarray | float, dt: float) -> np.ndarray | int:
    """Delays in whole steps, ``round(delay/dt)`` with halves rounded up."""
    steps = np.floor(np.asarray(delay_ms, dtype=np.float64) / dt + 0.5 + 1e-9).astype(np.int64)
    return int(steps) if steps.ndim == 0 else steps


def _choose(
    rng: np.random.Generator, n: int, k: int, skip: int | None, replace: bool
) -> np.ndarray:
    """``k`` of ``0 … n−1`` without ``skip``, sorted (distinct unless ``replace``)."""
    m = n - (skip is not None)
    if replace:
        out = rng.integers(0, m, size=k)
    else:
        out = rng.choice(m, size=k, replace=False)
    if skip is not None:
        out = out + (out >= skip)
    out.sort()
    return out


def _draw_pairs(
    rule: str,
    param: Any,
    n_pre: int,
    n_post: int,
    same: bool,
    autapses: bool,
    multapses: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pre, post)`` int64 arrays of every synapse of a rule (any order)."""
    excl = same and not autapses
    if rule == "all_to_all":
        pre = np.repeat(np.arange(n_pre), n_post)
        post = np.tile(np.arange(n_post), n_pre)
        if excl:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        return pre, post
    if rule == "one_to_one":
        idx = np.arange(n_pre)
        return idx, idx.copy()
    if rule == "fixed_probability":
        p = float(param)
        m = _eligible(n_post, same, autapses)
        counts = rng.binomial(m, p, size=n_pre)
        pre = np.repeat(np.arange(n_pre), counts)
        post = np.empty(int(counts.sum()), dtype=np.int64)
        at = 0
        for i, c in enumerate(counts.tolist()):
            post[at : at + c] = _choose(rng, n_post, c, i if excl else None, False)
            at += c
        return pre, post
    if rule in ("fixed_indegree", "fixed_outdegree"):
        k = int(param)
        rows, cols = (n_post, n_pre) if rule == "fixed_indegree" else (n_pre, n_post)
        m = cols - excl
        if multapses:
            other = rng.integers(0, m, size=(rows, k))
            if excl:
                other += other >= np.arange(rows)[:, None]
            other.sort(axis=1)
        else:
            other = np.empty((rows, k), dtype=np.int64)
            for r in range(rows):
                other[r] = _choose(rng, cols, k, r if excl else None, False)
        row = np.repeat(np.arange(rows), k)
        other = other.reshape(-1)
        return (other, row) if rule == "fixed_indegree" else (row, other)
    if rule == "fixed_total":
        n = int(param)
        m = _eligible(n_pre, same, autapses)
        pairs = n_post * m
        flat = rng.integers(0, pairs, size=n) if multapses else rng.choice(pairs, n, replace=False)
        post, pre = np.divmod(flat, m)
        if excl:
            pre = pre + (pre >= post)
        return pre, post
    raise ValueError(rule)


def _sample(spec: Any, n: int, seed: np.random.SeedSequence, salt: int) -> np.ndarray | float:
    """A number stays a number; a ``{dist: …}`` spec gives ``n`` draws (float64, on the CPU,
    through :data:`simctl.registry.DISTRIBUTIONS`)."""
    if not isinstance(spec, dict):
        return float(spec)
    if spec["dist"] == "constant":
        return float(spec["value"])
    import torch

    from simctl.registry import DISTRIBUTIONS

    generator = torch.Generator().manual_seed(int(seed.spawn(salt + 1)[salt].generate_state(1)[0]))
    return DISTRIBUTIONS[spec["dist"]](spec, n, generator, torch.float64).numpy()


def connect(
    rule: str,
    n_pre: int,
    n_post: int,
    *,
    param: Any = None,
    same: bool = False,
    autapses: bool | None = None,
    multapses: bool = False,
    weight: Any = 1.0,
    delay: Any = 1.0,
    dt: float = 1.0,
    seed: np.random.SeedSequence | int = 0,
    min_delay_steps: int = 1,
) -> Connectivity:
    """Draws one projection (see the module docstring).

    Args:
        rule, param: the connectivity rule and its ``p``, ``k`` or ``n``.
        same: pre and post are the same population (autapses then matter).
        autapses: allow ``i → i`` where ``same`` (default False).
        multapses: allow a pair more than once.
        weight, delay: numbers or ``{dist: …}`` specs; delays in ms, rounded to steps of ``dt``
            and clipped below at ``min_delay_steps`` (1, or 0 for instantaneous coupling).
        seed: a SeedSequence (:func:`projection_seed`) or an int.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    autapses = bool(autapses) if autapses is not None else False
    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(int(seed))
    rng = np.random.default_rng(seed.spawn(1)[0])
    pre, post = _draw_pairs(rule, param, n_pre, n_post, same, autapses, multapses, rng)
    n = int(pre.size)
    weight_v = _sample(weight, n, seed, 1)
    delay_v = _sample(delay, n, seed, 2)
    steps = delay_steps(delay_v, dt)
    if isinstance(steps, np.ndarray):
        steps = np.maximum(steps, min_delay_steps)
        if steps.size and int(steps.max()) > np.iinfo(np.int16).max:
            raise ValueError("delays longer than 32767 steps")
    else:
        steps = max(int(steps), min_delay_steps)
    indptr, order = _rows(pre.astype(np.int64), post.astype(np.int64), n_pre, n_post)
    indices = post[order].astype(np.int32)
    if isinstance(weight_v, np.ndarray):
        weight_v = weight_v[order].astype(np.float32)
    else:  # one number for all: stored as float32 like a weight array (every engine agrees)
        weight_v = float(np.float32(weight_v))
    if isinstance(delay_v, np.ndarray):
        delay_v = delay_v[order]
        steps = steps[order].astype(np.int16)
    return Connectivity(n_pre, n_post, indptr, indices, weight_v, steps, delay_v)


def _rows(pre: np.ndarray, post: np.ndarray, n_pre: int, n_post: int) -> tuple[np.ndarray, Any]:
    """Row pointers and the permutation that orders synapses by (pre, post): a stable counting
    sort by pre (in C where a compiler is) keeps the post order of pairs drawn post-major."""
    if pre.size and np.all(pre[1:] >= pre[:-1]):  # already by pre (rows drawn sorted)
        counts = np.bincount(pre, minlength=n_pre)
        indptr = np.zeros(n_pre + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, slice(None)
    if not (post.size < 2 or np.all(post[1:] >= post[:-1])):
        # any order: sort by post first (stable), then the counting sort by pre
        by_post = np.argsort(post, kind="stable")
        indptr, order = _rows(pre[by_post], post[by_post], n_pre, n_post)
        return indptr, by_post[order]
    from simctl.network import _c_functions

    fns = _c_functions()
    pre = np.ascontiguousarray(pre, dtype=np.int64)
    indptr = np.empty(n_pre + 1, dtype=np.int64)
    if fns is None:  # pragma: no cover - no compiler
        counts = np.bincount(pre, minlength=n_pre)
        indptr[0] = 0
        np.cumsum(counts, out=indptr[1:])
        return indptr, np.argsort(pre, kind="stable")
    scratch = np.empty(pre.size + n_pre, dtype=np.int64)
    fns["csr_order"](pre.size, pre.ctypes.data, n_pre, indptr.ctypes.data, scratch.ctypes.data)
    return indptr, scratch[: pre.size]
