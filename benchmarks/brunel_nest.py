"""Brunel (2000) model A, Fig. 8 panels A-D, in NEST 3, for the regime checks of
``simctl run experiment=brunel2000`` (simctl/network_analysis.py).

Two steps, so that only the simulator differs:

``simulate`` (the peers' Python, with ``nest-simulator``): one panel at full scale with
``iaf_psc_delta`` (tau_m 20 ms, V_th 20 mV, V_reset 10 mV, E_L 0, t_ref 2 ms, input discarded
while refractory; weights are voltage jumps), J = 0.1 mV and -g*J, delay 1.5 ms, fixed in-degree
C_E = 1000, C_I = 250 (``--multapses`` allows autapses and multapses as NEST's default rule and
``pynest/examples/brunel_delta_nest.py`` do; simctl draws neither), one ``poisson_generator`` at
C_E*eta*nu_thr, resolution 0.1 ms, V_m uniform in [0, 20] mV, 1200 ms; the spikes of all
12 500 neurons go to an npz.

``stats`` (simctl's Python): simctl's own ``population_stats`` (rate, ISI CV, chi, spectral
peak) of E and I together after 200 ms, the statistics the experiment checks.

Usage::

    /work/peers-venv/bin/python benchmarks/brunel_nest.py simulate C --seed 1 --out C.npz
    python benchmarks/brunel_nest.py stats C.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PANELS = {"A": (3.0, 2.0), "B": (6.0, 4.0), "C": (5.0, 2.0), "D": (4.5, 0.9)}
N_E, N_I, C_E, C_I = 10000, 2500, 1000, 250
J, DELAY, TAU, THETA, V_R, T_REF = 0.1, 1.5, 20.0, 20.0, 10.0, 2.0
DT, T_STOP, TRANSIENT = 0.1, 1200.0, 200.0


def simulate(panel: str, seed: int, out: str, multapses: bool, threads: int) -> None:
    import nest

    g, eta = PANELS[panel]
    nu_thr = THETA / (J * C_E * TAU)  # spikes per ms
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.WARNING
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": seed})
    params = {
        "C_m": 1.0,
        "tau_m": TAU,
        "t_ref": T_REF,
        "E_L": 0.0,
        "V_reset": V_R,
        "V_th": THETA,
        "refractory_input": False,
    }
    nodes = nest.Create("iaf_psc_delta", N_E + N_I, params=params)
    nodes.V_m = nest.random.uniform(0.0, THETA)
    noise = nest.Create("poisson_generator", params={"rate": 1000.0 * eta * nu_thr * C_E})
    recorder = nest.Create("spike_recorder")
    nest.Connect(noise, nodes, syn_spec={"weight": J, "delay": DELAY})
    rule = {"rule": "fixed_indegree", "allow_autapses": multapses, "allow_multapses": multapses}
    for pre, k, w in ((nodes[:N_E], C_E, J), (nodes[N_E:], C_I, -g * J)):
        nest.Connect(pre, nodes, {**rule, "indegree": k}, {"weight": w, "delay": DELAY})
    nest.Connect(nodes, recorder)
    start = time.perf_counter()
    nest.Simulate(T_STOP)
    events = recorder.events
    times = np.asarray(events["times"], dtype=np.float64)
    ids = np.asarray(events["senders"], dtype=np.int64) - nodes[0].global_id
    np.savez(out, times=times, ids=ids, size=N_E + N_I, t_stop=T_STOP, g=g, eta=eta)
    print(
        f"panel {panel} g {g} eta {eta} seed {seed} multapses {multapses}: {times.size} spikes"
        f" in {time.perf_counter() - start:.0f} s -> {out}"
    )


def stats(paths: list[str]) -> None:
    from simctl.network_analysis import population_stats

    for path in paths:
        d = np.load(path)
        s = population_stats(d["times"], d["ids"], int(d["size"]), TRANSIENT, float(d["t_stop"]))
        print(
            f"{path}: rate {s.rate_hz:.2f} Hz, ISI CV {s.cv_isi:.3f}, chi {s.chi:.3f}, "
            f"peak {s.f_peak_hz:.0f} Hz (x{s.prominence:.0f} the median power)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("simulate", help="one panel in NEST (the peers' Python)")
    sim.add_argument("panel", choices=sorted(PANELS))
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--out", required=True)
    sim.add_argument("--multapses", action="store_true", help="NEST's default rule")
    sim.add_argument("--threads", type=int, default=1)
    st = sub.add_parser("stats", help="simctl's statistics of saved spikes (simctl's Python)")
    st.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.cmd == "simulate":
        simulate(args.panel, args.seed, args.out, args.multapses, args.threads)
    else:
        stats(args.paths)


if __name__ == "__main__":
    main()
