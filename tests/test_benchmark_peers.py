"""The benchmark's plain C step loop (benchmarks/peers.py) computes simctl's LIF step exactly:
a baseline that did other work, or produced other spikes, would make its ratio meaningless."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from simctl import kernels
from simctl.kernels.cbuild import compiler
from simctl.neurons import lif

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(compiler() is None, reason="no C compiler")
@pytest.mark.parametrize("threads", [1, 2])
def test_c_step_loop_is_simctls_lif_step_bit_for_bit(tmp_path, threads):
    peers = _module("peers")
    loop = peers.c_step_loop(str(tmp_path))
    torch.manual_seed(3)
    neurons, block, blocks = 1500, 40, 3
    x = 3.0 * torch.rand(block, neurons)
    p = lif.LIFParameters()
    state = lif.lif_initial_state((neurons,), p)
    v, i, out = torch.zeros(neurons), torch.zeros(neurons), torch.empty(block, neurons)
    for k in range(blocks):
        expected, _, state = kernels.integrate_reference(lif.MODEL, x, state, p, 0.001)
        loop(x, k * block, v, i, out, 0.001 * p.tau_mem_inv, 0.001 * p.tau_syn_inv,
             p.v_th, p.v_reset, threads)  # fmt: skip
        assert torch.equal(out, expected)
        assert 0 < int(out.sum()) < out.numel()  # some neurons spike, not all
    assert torch.equal(v, state.v) and torch.equal(i, state.i)


def test_peer_cases_are_listed_and_report_a_missing_peer():
    run = _module("run")
    for name in ("lif_ff_peers", "izhikevich_20x4000_brian2", "recurrent_lif_1e4_sparse_brian2"):
        assert name in run.CASES
    args = run.argparse.Namespace(peers_python="", quick=True, repeats=1)
    row = run.CASES["izhikevich_20x4000_brian2"](args)
    assert row["met"] is None and row["target"] == "needs --peers-python"
