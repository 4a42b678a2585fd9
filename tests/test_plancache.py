"""The on-disk trace cache: a warm process reuses a plan's C source without tracing, and any
entry that is malformed, foreign or stale is ignored (the step is traced again)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from simctl import kernels
from simctl.kernels import cbuild, fused, plancache
from simctl.kernels.cbuild import compiler
from simctl.neurons import lif, lif_mc

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMCTL_KERNELS", raising=False)
    monkeypatch.delenv("SIMCTL_TRACE_CACHE", raising=False)
    monkeypatch.setattr(fused, "_plans", type(fused._plans)())
    monkeypatch.setattr(cbuild, "_loaded", {})


def _entries(tmp_path):
    return sorted((tmp_path / "cache" / "traces").glob("t_*.json"))


def _forget_plans(monkeypatch):
    monkeypatch.setattr(fused, "_plans", type(fused._plans)())


def _no_trace(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("traced although the plan was cached")

    monkeypatch.setattr(fused, "trace_step", refuse)


def _lif_run():
    torch.manual_seed(3)
    x = torch.rand(40, 6) * 4
    p = lif.LIFParameters(v_th=torch.tensor(0.7))
    state = lif.lif_initial_state((6,), p)
    return kernels.integrate(lif.MODEL, x, state, p, 0.001, ("v",)), (x, state, p)


def test_a_cached_plan_runs_without_tracing_and_equals_the_reference(tmp_path, monkeypatch):
    (out, traces, _), (x, state, p) = _lif_run()
    assert kernels.last_backend()[0] == "c"
    [entry] = _entries(tmp_path)
    data = json.loads(entry.read_bytes())
    assert data["format"] == plancache.FORMAT and "simctl_kernel" in data["source"]
    assert float(torch.tensor(0.7)) in data["consts"]  # the float32 threshold, folded in
    assert entry.stat().st_mode & 0o777 == 0o600

    _forget_plans(monkeypatch)
    _no_trace(monkeypatch)
    (out2, traces2, final2), _ = _lif_run()
    assert kernels.last_backend()[0] == "c"
    ref_out, ref_traces, ref_final = kernels.integrate_reference(
        lif.MODEL, x, state, p, 0.001, ("v",)
    )
    assert torch.equal(out2, ref_out) and torch.equal(out2, out)
    assert torch.equal(traces2["v"], ref_traces["v"])
    assert all(torch.equal(a, b) for a, b in zip(final2, ref_final, strict=True))


def test_another_parameter_value_is_another_entry(tmp_path, monkeypatch):
    _lif_run()
    p = lif.LIFParameters(v_th=torch.tensor(0.9))
    x = torch.rand(10, 6) * 4
    kernels.integrate(lif.MODEL, x, lif.lif_initial_state((6,), p), p, 0.001, ("v",))
    assert len(_entries(tmp_path)) == 2


def test_switched_off_it_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCTL_TRACE_CACHE", "0")
    _lif_run()
    assert kernels.last_backend()[0] == "c"
    assert _entries(tmp_path) == []


@pytest.mark.parametrize("damage", ["garbage", "wrong_types", "old_format", "group_writable"])
def test_an_untrustworthy_entry_is_traced_again(tmp_path, monkeypatch, damage):
    (out, _, _), _ = _lif_run()
    [entry] = _entries(tmp_path)
    good = json.loads(entry.read_bytes())
    if damage == "garbage":
        entry.write_bytes(b"{not json")
    elif damage == "wrong_types":
        entry.write_text(json.dumps({**good, "consts": ["1.0"]}))
    elif damage == "old_format":
        entry.write_text(json.dumps({**good, "format": 0, "source": "int x = ;"}))
    else:
        entry.write_text(json.dumps({**good, "source": "int x = ;"}))  # would fail to build
        os.chmod(entry, 0o664)
    _forget_plans(monkeypatch)
    (out2, _, _), _ = _lif_run()
    assert kernels.last_backend()[0] == "c"
    assert torch.equal(out2, out)
    assert json.loads(entry.read_bytes()) == good  # rewritten by the fresh trace
    assert entry.stat().st_mode & 0o777 == 0o600


def test_a_changed_source_misses(tmp_path, monkeypatch):
    _lif_run()
    monkeypatch.setattr(plancache, "_fingerprint", "an edited model file")
    _forget_plans(monkeypatch)
    _lif_run()
    assert len(_entries(tmp_path)) == 2


def test_a_refusal_is_cached_with_its_reason(tmp_path, monkeypatch):
    model = lif_mc.MODEL
    p = model.parameters()
    x = torch.rand(10, 4) * 2
    state = model.initial_state((4,), p)
    kernels.integrate(model, x, state, p, 0.001)
    backend, reason = kernels.last_backend()
    assert backend == "reference" and reason
    [entry] = _entries(tmp_path)
    assert json.loads(entry.read_bytes())["refused"] == reason
    _forget_plans(monkeypatch)
    _no_trace(monkeypatch)
    out, _, _ = kernels.integrate(model, x, state, p, 0.001)
    assert kernels.last_backend() == ("reference", reason)
    assert torch.equal(out, kernels.integrate_reference(model, x, state, p, 0.001)[0])


def test_steps_from_outside_simctl_are_not_cached(tmp_path):
    def step(x, s, p, dt):  # LIF's step under another (local) name
        return lif.lif_feed_forward_step(x, s, p, dt)

    model = dataclasses.replace(lif.MODEL, feed_forward_step=step)
    p = lif.LIFParameters()
    kernels.integrate(model, torch.rand(5, 3), lif.lif_initial_state((3,), p), p, 0.001)
    assert kernels.last_backend()[0] == "c"
    assert _entries(tmp_path) == []


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path):
    _lif_run()
    [entry] = _entries(tmp_path)
    key = entry.stem[2:]
    good = plancache.load(key)
    assert good is not None
    errors = []

    def write():
        for _ in range(200):
            plancache.store(key, good)

    def read():
        for _ in range(400):
            found = plancache.load(key)
            if found != good and found is not None:
                errors.append(found)

    threads = [threading.Thread(target=f) for f in (write, write, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert plancache.load(key) == good
    assert not list(entry.parent.glob(".tmp-*"))


def test_a_warm_process_does_not_import_the_tracer(tmp_path):
    code = (
        "import sys, torch\n"
        "from simctl import kernels\n"
        "from simctl.neurons import izhikevich as iz\n"
        "p = iz.IzhikevichParameters(a=0.02, b=0.2, c=-65.0, d=6.0)\n"
        "s = iz.izhikevich_initial_state((4,), p)\n"
        "kernels.integrate(iz.MODEL, torch.full((50, 4), 10.0), s, p, 0.25)\n"
        "assert kernels.last_backend()[0] == 'c', kernels.last_backend()\n"
        "print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))\n"
    )
    env = dict(os.environ, SIMCTL_CACHE_DIR=str(tmp_path / "cache"))
    runs = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stdout.strip() == "['sympy', 'torch._dynamo']"  # the cold one traced
    assert runs[1].stdout.strip() == "[]"


@pytest.mark.parametrize("seed", range(5))
def test_merging_runs_by_step_equals_sorting(seed):
    from simctl.kernels.merge import merge_by_step

    rng = np.random.default_rng(seed)
    neurons, steps = int(rng.integers(1, 3000)), int(rng.integers(1, 200))
    edges = np.unique(np.r_[0, rng.integers(0, neurons, size=rng.integers(0, 12)), neurons])
    runs = []  # tile order: each neuron range through every step
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        spikes = rng.random((steps, hi - lo)) < rng.random()
        t, n = np.nonzero(spikes)
        runs.append(t * neurons + lo + n)
    flat = np.concatenate(runs).astype(np.int64)
    merged = merge_by_step(flat, neurons, steps, len(runs))
    if merged is None:  # sparse: sorting is cheaper, the caller sorts
        assert steps * len(runs) > 4 * flat.size + 4096 or flat.size == 0
    else:
        assert np.array_equal(merged, np.sort(flat))
    if len(runs) > 1 and flat.size and merged is not None:
        assert merge_by_step(flat, neurons, steps, 0) is None  # more runs than said


def test_an_in_place_change_of_a_scalar_parameter_is_seen():
    # the plan key is memoised per parameter leaf (identity and version counter): a write into
    # the same tensor must give the new constant, not the memoised one
    x = torch.rand(30, 5) * 3
    p = lif.LIFParameters(v_th=torch.tensor(1.0))
    state = lif.lif_initial_state((5,), p)
    first, _, _ = kernels.integrate(lif.MODEL, x, state, p, 0.001)
    p.v_th.fill_(0.3)
    second, _, _ = kernels.integrate(lif.MODEL, x, state, p, 0.001)
    assert kernels.last_backend()[0] == "c"
    assert torch.equal(second, kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)[0])
    assert second.sum() > first.sum()


def test_a_record_index_changed_in_place_is_seen():
    x = torch.rand(20, 8) * 3
    p = lif.LIFParameters()
    state = lif.lif_initial_state((8,), p)
    index = torch.tensor([0, 3])
    _, first, _ = kernels.integrate(lif.MODEL, x, state, p, 0.001, ("v",), record_index=index)
    index[1] = 5  # same tensor object, new version: the memoised table must not be reused
    _, second, _ = kernels.integrate(lif.MODEL, x, state, p, 0.001, ("v",), record_index=index)
    _, full, _ = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001, ("v",))
    assert torch.equal(first["v"], full["v"][:, [0, 3]])
    assert torch.equal(second["v"], full["v"][:, [0, 5]])
    with pytest.raises(IndexError):
        index[1] = 8
        kernels.integrate(lif.MODEL, x, state, p, 0.001, ("v",), record_index=index)
