"""Export an engine :class:`~synaptica.engine.network.Network` to PyNN (Davison et al. 2009,
"PyNN: a common interface for neuronal network simulators", Front. Neuroinform. 2:11), so
that it runs on NEST (and, through NEST, on MPI clusters) or any other PyNN backend.

Two ways out, one builder (:func:`build_network`, plain NumPy + the PyNN module, so the
written script carries its source verbatim):

* ``net.to_pynn(sim)`` builds the network in an imported PyNN simulator module;
* :func:`write_script` (CLI: ``synaptica export NAME --to pynn --out model.py``) writes a
  self-contained PyNN script and the weights, delays, indices and per-neuron values beside
  it as ``model.npz`` (plain arrays, loaded with ``allow_pickle=False``).

What maps (units: ours ms, mV, pA, nS, pF, GOhm; PyNN's ms, mV, nA, uS, nF, MOhm)::

    LIF (reset="value")   -> IF_curr_exp   cm [nF] = tau_m / r_m * 1e-3 (ms / GOhm = pF);
                             tau_m, tau_syn_E = tau_exc, tau_syn_I = tau_inh, v_rest, v_reset,
                             v_thresh = v_th, tau_refrac = t_ref; weights and i_exc/i_inh pA -> nA
                             (x 1e-3). Both integrate exactly (NEST iaf_psc_exp).
    LIFConductance        -> IF_cond_exp   as LIF plus e_rev_E = e_exc, e_rev_I = e_inh;
                             weights and g_exc/g_inh nS -> uS (x 1e-3).
    Izhikevich (v_peak 30)-> Izhikevich    a, b, c, d, initial v and u. PyNN's synapses are
                             Dirac deltas, ours exponential currents: a population that
                             receives projections is refused.
    PoissonInput (fixed rates)      -> SpikeSourcePoisson (rate in Hz)
    SpikeGeneratorInput             -> SpikeSourceArray (one Sequence of times per source, ms)
    PairSTDP (pairing "all", hard bounds -> AdditiveWeightDependence, soft -> Multiplicative,
              w_min = 0, no normalize/schedule)
                          -> STDPMechanism(SpikePairRule, ...). PyNN's amplitudes are
                             fractions of w_max: A_plus = learning_rate * a_plus / w_max.
    TsodyksMarkram        -> TsodyksMarkramSynapse(U, tau_rec = tau_d, tau_facil = tau_f)
                             (NEST tsodyks_synapse: the same as ours when tau_syn << tau_d).

Everything else is refused, all problems named at once, before any PyNN call:
AdEx (PyNN's EIF_cond_exp_isfa_ista has conductance synapses, ours current synapses), every
other model (including subclasses of LIF such as AdaptiveLIF), LIF with reset="subtract",
other plasticity rules, STDP together with STP, modulators, injected currents, trials,
intrinsic plasticity, batch_size > 1, weights whose sign the PyNN receptor does not accept,
and a state with synaptic input still in flight in the delay buffers.
"""
from __future__ import annotations

import pprint
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Factor from our weight / synaptic state units to PyNN's (pA -> nA, nS -> uS).
WEIGHT_TO_PYNN = 1e-3


class PyNNExportError(ValueError):
    """The network uses something PyNN cannot express; the message names every such thing."""


@dataclass
class PyNNDescription:
    """The network as PyNN sees it: ``spec`` (JSON-like: names, cell types, scalars) and
    ``arrays`` (name -> array: per-neuron values, synapse indices, weights, delays)."""

    spec: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def value(self, key: str, x: Any) -> Any:
        """A scalar stays in the spec; an array goes to ``arrays`` under ``key``."""
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 or np.all(x == x.flat[0]):
            return float(x.flat[0])
        self.arrays[key] = x
        return {"array": key}


def _lif_parameters(v: dict) -> dict:
    return {"cm": v["tau_m"] / v["r_m"] * 1e-3, "tau_m": v["tau_m"], "tau_syn_E": v["tau_exc"],
            "tau_syn_I": v["tau_inh"], "v_rest": v["v_rest"], "v_reset": v["v_reset"], "v_thresh": v["v_th"],
            "tau_refrac": v["t_ref"], "i_offset": 0.0}


def _cell(model) -> tuple[str | None, dict, dict, str | None]:
    """(PyNN cell type, parameters, state -> (PyNN name, factor), refusal reason)."""
    from synaptica.neurons import AdEx, Izhikevich, LIF, LIFConductance

    kind, v = type(model), model.values
    if kind is LIF or kind is LIFConductance:
        if v["reset"] != "value":
            return None, {}, {}, f"reset='{v['reset']}' (PyNN's IF cells reset to a value)"
        params = _lif_parameters(v)
        if kind is LIF:
            return "IF_curr_exp", params, {"v": ("v", 1.0), "i_exc": ("isyn_exc", WEIGHT_TO_PYNN),
                                           "i_inh": ("isyn_inh", WEIGHT_TO_PYNN)}, None
        params.update(e_rev_E=v["e_exc"], e_rev_I=v["e_inh"])
        return "IF_cond_exp", params, {"v": ("v", 1.0), "g_exc": ("gsyn_exc", WEIGHT_TO_PYNN),
                                       "g_inh": ("gsyn_inh", WEIGHT_TO_PYNN)}, None
    if kind is Izhikevich:
        if np.any(np.asarray(v["v_peak"]) != 30.0):
            return None, {}, {}, "v_peak other than 30 mV (fixed in PyNN's Izhikevich)"
        params = {k: v[k] for k in "abcd"}
        return "Izhikevich", {**params, "i_offset": 0.0}, {"v": ("v", 1.0), "u": ("u", 1.0)}, None
    if kind is AdEx:
        return None, {}, {}, ("PyNN's AdEx cells (EIF_cond_exp_isfa_ista, EIF_cond_alpha_isfa_ista) have "
                              "conductance synapses, synaptica's AdEx exponential current synapses")
    return None, {}, {}, "no PyNN standard cell type corresponds"


def _stdp(rule, w_max_pynn: float) -> tuple[dict | None, str | None]:
    """The STDPMechanism arguments of a PairSTDP rule, or why it does not map."""
    from synaptica.plasticity import PairSTDP

    if type(rule) is not PairSTDP:
        return None, f"plasticity rule {type(rule).__name__} (only PairSTDP maps, to SpikePairRule)"
    v = rule.values
    problems = [text for bad, text in (
        (rule.pairing != "all", "pairing='nearest' (SpikePairRule pairs all spikes)"),
        (rule.dependence != "additive", "dependence='multiplicative'"),
        (v["w_min"] != 0, "w_min != 0 (NEST's STDP synapses bound weights below at 0)"),
        (rule.normalize is not None, "normalize"),
        (rule.schedule is not None, "a learning-rate schedule"),
    ) if bad]
    if problems:
        return None, "PairSTDP with " + ", ".join(problems)
    scale = v["learning_rate"] / v["w_max"]   # PyNN's amplitudes are fractions of w_max
    return {"timing": {"tau_plus": v["tau_plus"], "tau_minus": v["tau_minus"],
                       "A_plus": v["a_plus"] * scale, "A_minus": v["a_minus"] * scale},
            "weight_dependence": ("AdditiveWeightDependence" if rule.bounds == "hard"
                                  else "MultiplicativeWeightDependence"),
            "w_min": 0.0, "w_max": w_max_pynn}, None


def _network_problems(net) -> list[str]:
    problems = []
    if net.batch_size != 1:
        problems.append(f"batch_size = {net.batch_size} (PyNN simulates one copy)")
    if net.trial_steps:
        problems.append("trials (set_trials: per-trial resets and rates)")
    for name in net.modulators:
        problems.append(f"modulator '{name}' (neuromodulation has no PyNN standard form)")
    for current in net.currents:
        problems.append(f"injected current '{current.name}'")
    if any(bool(buf.detach().abs().sum() > 0) for buf in net.buffers):
        problems.append("synaptic input in flight in the delay buffers (export before running, or after it settles)")
    return problems


def _describe_groups(net, out: PyNNDescription, problems: list[str]) -> None:
    from synaptica.engine.population import PoissonInput, Population, SpikeGeneratorInput

    targeted = {p.post.name for p in net.projections}
    for index, group in enumerate(net.groups):
        key = f"group{index}"   # array names in the .npz: group names may hold any character
        g = {"name": group.name, "n": group.n, "parameters": {}, "initial": {}, "record": False}
        if isinstance(group, Population):
            cell, params, state_map, reason = _cell(group.model)
            model = type(group.model).__name__
            if reason:
                problems.append(f"population '{group.name}': {model}: {reason}")
                continue
            if cell == "Izhikevich" and group.name in targeted:
                problems.append(f"population '{group.name}': Izhikevich receives projections, but PyNN's "
                                f"Izhikevich has delta synapses and synaptica's exponential current synapses")
            if group.intrinsic is not None:
                problems.append(f"population '{group.name}': intrinsic plasticity")
            if bool(group.i_ext.detach().abs().sum() > 0):
                problems.append(f"population '{group.name}': a constant i_ext (export it as i_offset is not done)")
            if "refractory" in group.state and bool(group.state["refractory"].detach().abs().sum() > 0):
                problems.append(f"population '{group.name}': neurons in their refractory period")
            g["cell_type"], g["record"] = cell, True
            g["parameters"] = {k: out.value(f"{key}.{k}", x) for k, x in params.items()}
            for var, (pynn_name, factor) in state_map.items():
                values = group.state[var].detach().cpu().numpy()[0].astype(float) * factor
                g["initial"][pynn_name] = out.value(f"{key}.initial.{pynn_name}", values)
        elif isinstance(group, PoissonInput):
            rates = group.rates_hz
            if rates.shape[0] != 1:
                problems.append(f"Poisson input '{group.name}': a table of per-trial rates")
                continue
            g["cell_type"] = "SpikeSourcePoisson"
            g["parameters"] = {"rate": out.value(f"{key}.rate", rates[0, 0])}
        elif isinstance(group, SpikeGeneratorInput):
            g["cell_type"] = "SpikeSourceArray"
            # the engine emits at whole steps: export the times it actually uses
            out.arrays[f"{key}.times"] = group.event_steps(net.dt) * net.dt
            out.arrays[f"{key}.ids"] = np.asarray(group.ids, dtype=np.int64)
            g["spikes"] = {"times": f"{key}.times", "ids": f"{key}.ids"}
        else:
            problems.append(f"group '{group.name}': {type(group).__name__} has no PyNN counterpart")
            continue
        out.spec["groups"].append(g)


def _describe_projections(net, out: PyNNDescription, problems: list[str]) -> None:
    for index, proj in enumerate(net.projections):
        where = f"projection '{proj.name}'"
        w = proj.synapse_weights().detach().cpu().numpy().reshape(-1).astype(float)
        pre, post = proj.synapse_index()
        receptors = list(proj.post.model.receptors)
        receptor = "excitatory" if proj.target == receptors[0] else "inhibitory"
        if not proj.conductance:
            if receptor == "excitatory" and np.any(w < 0):
                problems.append(f"{where}: negative weights onto the excitatory receptor '{proj.target}'")
            if receptor == "inhibitory" and np.any(w > 0):
                problems.append(f"{where}: positive weights onto the inhibitory receptor '{proj.target}' "
                                f"(PyNN's current-based inhibitory synapses take negative weights)")
        p = {"name": proj.name, "pre": proj.pre.name, "post": proj.post.name, "receptor_type": receptor,
             "synapse": "static", "parameters": {}}
        if proj.plasticity is not None and proj.stp is not None:
            problems.append(f"{where}: STDP and short-term plasticity together (one PyNN synapse type each)")
        elif proj.plasticity is not None:
            w_max = float(proj.plasticity.values["w_max"]) * WEIGHT_TO_PYNN
            arguments, reason = _stdp(proj.plasticity, w_max)
            if reason:
                problems.append(f"{where}: {reason}")
            elif np.any(w < 0):
                problems.append(f"{where}: STDP on negative weights (NEST bounds them to [0, w_max])")
            p["synapse"], p["parameters"] = "stdp", arguments or {}
        elif proj.stp is not None:
            U, tau_d, tau_f = proj.stp.constants()
            p["synapse"], p["parameters"] = "tsodyks_markram", {"U": U, "tau_rec": tau_d, "tau_facil": tau_f}
        key = f"projection{index}"
        out.arrays.update({f"{key}.pre": np.asarray(pre, dtype=np.int64), f"{key}.post": np.asarray(post, dtype=np.int64),
                           f"{key}.weight": w * WEIGHT_TO_PYNN,
                           f"{key}.delay": np.broadcast_to(proj.delay_steps, w.shape) * net.dt})
        p["synapses"] = key
        out.spec["projections"].append(p)


def describe(net) -> PyNNDescription:
    """The PyNN description of ``net``; raises :class:`PyNNExportError` naming everything
    that does not map (models, rules, projection kinds, modulators, ...) at once."""
    out = PyNNDescription({"dt": net.dt, "seed": net.seed, "groups": [], "projections": []})
    problems = _network_problems(net)
    _describe_groups(net, out, problems)
    _describe_projections(net, out, problems)
    if problems:
        raise PyNNExportError("cannot export to PyNN:\n  - " + "\n  - ".join(problems))
    return out


def build_network(sim, spec, arrays):
    """Create the populations and projections of ``spec`` in the PyNN module ``sim``
    (after ``sim.setup``); ``arrays`` maps names to arrays (a dict or a loaded .npz).
    Returns (populations, projections), dicts by name. Self-contained: written verbatim
    into exported scripts."""
    def value(x):
        return np.asarray(arrays[x["array"]]) if isinstance(x, dict) else x

    populations, projections = {}, {}
    for g in spec["groups"]:
        parameters = {k: value(v) for k, v in g["parameters"].items()}
        if g["cell_type"] == "SpikeSourceArray":
            times, ids = np.asarray(arrays[g["spikes"]["times"]]), np.asarray(arrays[g["spikes"]["ids"]])
            order = np.argsort(ids, kind="stable")
            bounds = np.searchsorted(ids[order], np.arange(g["n"] + 1))
            parameters["spike_times"] = [sim.Sequence(np.sort(times[order[a:b]])) for a, b in zip(bounds[:-1], bounds[1:])]
        pop = sim.Population(g["n"], getattr(sim, g["cell_type"])(**parameters), label=g["name"])
        if g["initial"]:
            pop.initialize(**{k: value(v) for k, v in g["initial"].items()})
        if g["record"]:
            pop.record("spikes")
        populations[g["name"]] = pop
    for p in spec["projections"]:
        key, q = p["synapses"], p["parameters"]
        synapses = np.column_stack([np.asarray(arrays[f"{key}.{c}"], dtype=float) for c in ("pre", "post", "weight", "delay")])
        if p["synapse"] == "stdp":
            dependence = getattr(sim, q["weight_dependence"])(w_min=q["w_min"], w_max=q["w_max"])
            synapse_type = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(**q["timing"]),
                                             weight_dependence=dependence)
        elif p["synapse"] == "tsodyks_markram":
            synapse_type = sim.TsodyksMarkramSynapse(U=q["U"], tau_rec=q["tau_rec"], tau_facil=q["tau_facil"])
        else:
            synapse_type = sim.StaticSynapse()
        projections[p["name"]] = sim.Projection(
            populations[p["pre"]], populations[p["post"]], sim.FromListConnector(synapses, column_names=["weight", "delay"]),
            synapse_type=synapse_type, receptor_type=p["receptor_type"], label=p["name"])
    return populations, projections


def to_pynn(net, sim, setup: bool = True) -> tuple[dict, dict]:
    """Build ``net`` in the PyNN simulator module ``sim`` (e.g. ``pyNN.nest``); with
    ``setup`` first call ``sim.setup(timestep=net.dt)``. Returns (populations, projections)."""
    description = describe(net)   # refuses before any call into sim
    if setup:
        sim.setup(timestep=net.dt)
    return build_network(sim, description.spec, description.arrays)


SCRIPT_MAIN = '''

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="nest", help="PyNN backend module: pyNN.<simulator>")
    parser.add_argument("--duration", type=float, default=DURATION_MS, help="simulated time (ms)")
    parser.add_argument("--seed", type=int, default=None, help="simulator random seed (Poisson sources)")
    parser.add_argument("--spikes", default=None, help="write the spikes of every population here (.npz)")
    args = parser.parse_args(argv)
    sim = importlib.import_module("pyNN." + args.simulator)
    extra = {} if args.seed is None else {"rng_seed": args.seed}
    sim.setup(timestep=SPEC["dt"], **extra)
    with np.load(Path(__file__).with_suffix(".npz"), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    populations, _ = build_network(sim, SPEC, arrays)
    sim.run(args.duration)
    out = {}
    for name, pop in populations.items():
        if SPEC["groups"][[g["name"] for g in SPEC["groups"]].index(name)]["record"]:
            trains = pop.get_data("spikes").segments[0].spiketrains
            ids = np.concatenate([np.full(len(t), i) for i, t in enumerate(trains)] or [np.zeros(0)])
            times = np.concatenate([np.asarray(t.magnitude, dtype=float) for t in trains] or [np.zeros(0)])
            out[name + ".times_ms"], out[name + ".ids"] = times, ids.astype(np.int64)
            print(f"{name}: {len(times)} spikes, mean rate {len(times) / pop.size / args.duration * 1000:.3f} Hz")
    if args.spikes:
        np.savez(args.spikes, **out)
    sim.end()


if __name__ == "__main__":
    main()
'''


def write_script(net, out: str | Path, duration_ms: float = 1000.0, source: str = "") -> tuple[Path, Path]:
    """Write a self-contained PyNN script ``out`` (.py) and its arrays ``out`` with suffix
    .npz (no pickle). ``source`` is a line saying where the network came from. Returns
    both paths. Refuses (before writing anything) what :func:`describe` refuses."""
    import inspect

    if not (np.isfinite(duration_ms) and duration_ms > 0):
        raise ValueError(f"write_script: duration_ms must be a positive number of ms, got {duration_ms!r}")
    out = Path(out)
    if out.suffix != ".py":
        raise ValueError(f"write_script: the script name must end in .py, got '{out.name}'")
    description = describe(net)
    arrays_path = out.with_suffix(".npz")
    header = textwrap.dedent(f'''\
        """PyNN model exported by synaptica{": " + source if source else ""}.

        Run: python {out.name} [--simulator nest] [--duration MS] [--spikes spikes.npz]
        Needs PyNN (>= 0.13) and a backend; the weights (nA or uS), delays (ms), synapse
        indices and per-neuron values are in {arrays_path.name} beside this file.
        """
        import argparse
        import importlib
        from pathlib import Path

        import numpy as np

        DURATION_MS = {float(duration_ms)!r}
        ''')
    spec = "SPEC = " + pprint.pformat(description.spec, width=110, sort_dicts=False) + "\n\n\n"
    text = header + spec + inspect.getsource(build_network) + SCRIPT_MAIN
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(arrays_path, **description.arrays)
    out.write_text(text)
    return out, arrays_path
