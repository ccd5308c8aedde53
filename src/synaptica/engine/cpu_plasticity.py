"""Lowerings of trial starts, modulators and plasticity to the compiled CPU loop.

Each ``lower_<Operation>(loop, op)`` writes the loop source of one operation of the step
order (:mod:`synaptica.engine.step_order`) through ``loop.emit`` and lists the arrays it
needs in ``loop.arguments``. Kept apart from :mod:`synaptica.engine.cpu` so that file
reads as the neuron and synapse part of the step. Synapses are addressed by a flat index
``s``: ``i * n_post + j`` for dense projections, the CSR position for sparse ones
(``p{p}_cptr``/``p{p}_csyn`` list each postsynaptic neuron's incoming synapses,
``p{p}_spre`` each synapse's presynaptic neuron).
"""
from __future__ import annotations

from synaptica.plasticity.base import weight_change_description


#: Kernel argument of each state block (``Projection.plastic_state`` key).
KERNEL_NAMES = {"traces_pre": "tpre", "traces_post": "tpost", "synapse_state": "ss", "stp": "stp"}


def rule_functions(net) -> list:
    """Checked functions to emit into the generated module (with their helpers)."""
    out = [weight_change_description()]
    out.extend(type(mod).description() for mod in net.modulators.values() if hasattr(mod, "sources"))
    for pop in net.populations:
        if pop.intrinsic is not None:
            out.append(type(pop.intrinsic).description())
    for proj in net.projections:
        if proj.plasticity is not None:
            rule = type(proj.plasticity)
            out.extend(rule.description(event) for event in rule.event_functions())
        if proj.stp is not None:
            out.append(type(proj.stp).description())
    return out


def _plastic(net):
    return [(p, proj) for p, proj in enumerate(net.projections) if proj.plasticity is not None]


def unpack_coefficients(loop) -> None:
    """Each rule's numbers (``p{p}_k``) as named scalars, once before the step loop."""
    for p, proj in _plastic(loop.network):
        loop.arguments.append(f"p{p}_k")
        for q, key in enumerate(loop.network.rule_coefficients(proj.plasticity)):
            loop.emit(f"p{p}_c_{key} = p{p}_k[{q}]")


def _call(loop, p: int, event: str, i: str, j: str, s: str) -> list[str]:
    """Lines calling ``event`` of the rule on synapse s (pre i, post j) of batch entry b."""
    net = loop.network
    proj = net.projections[p]
    rule = proj.plasticity
    cls = type(rule)
    g_post = net.groups.index(proj.post)
    mods = list(net.modulators)
    pre_names, post_names = list(cls.pre_traces), list(cls.post_traces)
    args = []
    for a in cls.arguments(event):
        if a == "w":
            args.append(f"p{p}_wf[{s}]")
        elif a in cls.synapse_state:
            args.append(f"p{p}_ss[{cls.synapse_state.index(a)}, b, {s}]")
        elif a in cls.pre_traces:
            args.append(f"p{p}_tpre[{pre_names.index(a)}, b, {i}]")
        elif a in cls.post_traces:
            args.append(f"p{p}_tpost[{post_names.index(a)}, b, {j}]")
        elif a in cls.post_variables:
            loop.arguments.append(f"g{g_post}_{a}")
            args.append(f"g{g_post}_{a}[b, {j}]")
        elif a in cls.modulators:
            m = mods.index(rule.modulator_names[a])
            loop.arguments.append(f"mod{m}")
            args.append(f"mod{m}[b]")
        else:
            args.append(f"p{p}_c_{a}")
    outs = ["pot", "dep", *(f"ss{k}" for k in range(len(cls.synapse_state)))]
    lines = [f"{', '.join(outs)} = {cls.description(event).mangled}({', '.join(args)})",
             # the option flags are arguments: changing them needs no new kernel
             f"p{p}_wf[{s}] = {weight_change_description().mangled}(p{p}_wf[{s}], pot, dep, lr{p}, "
             f"p{p}_c_w_min, p{p}_c_w_max, p{p}_c_soft, p{p}_c_multiplicative)"]
    lines += [f"p{p}_ss[{k}, b, {s}] = ss{k}" for k in range(len(cls.synapse_state))]
    return lines


def _rule_arguments(loop, p: int) -> None:
    proj = loop.network.projections[p]
    loop.arguments.extend([f"p{p}_w", f"p{p}_wf", f"p{p}_tpre", f"p{p}_tpost", f"p{p}_ss"])
    if proj.kind != "dense":
        loop.arguments.extend([f"p{p}_indptr", f"p{p}_indices", f"p{p}_cptr", f"p{p}_csyn", f"p{p}_spre"])


def lower_UpdateModulator(loop, op) -> None:
    """Decay, this step's scheduled pulses, and ``gain`` per spike of the source group."""
    m, emit = op.modulator, loop.emit
    _emit_pulses(loop, m)
    emit("    for b in range(batch):")
    drive = "" if op.source is None else f" + mod{m}_k[1] * g{op.source}_nfired[b]"
    emit(f"        mod{m}[b] = mod{m}[b] * mod{m}_k[0] + pulse{drive}")


def _emit_pulses(loop, m: int) -> None:
    """``pulse``: the sum of modulator m's pulses scheduled for this step."""
    emit = loop.emit
    loop.arguments.extend([f"mod{m}", f"mod{m}_k", f"mod{m}_psteps", f"mod{m}_pamounts", f"mod{m}_ptr"])
    emit("    pulse = 0.0")
    emit(f"    while mod{m}_ptr[0] < mod{m}_psteps.shape[0] and mod{m}_psteps[mod{m}_ptr[0]] <= step:")
    emit(f"        if mod{m}_psteps[mod{m}_ptr[0]] == step:")
    emit(f"            pulse += mod{m}_pamounts[mod{m}_ptr[0]]")
    emit(f"        mod{m}_ptr[0] += 1")


def lower_UpdateAstrocyte(loop, op) -> None:
    """The astrocyte's checked update with the drive sum_g w_g N_g / dt of its covered groups.
    ``mod{m}_k`` holds (decay, gain, dt, tau, bias, w_g...) (``Astrocyte.kernel_constants``)."""
    m, emit = op.modulator, loop.emit
    _emit_pulses(loop, m)
    loop.arguments.extend(f"g{g}_nfired" for g in op.sources)
    drive = " + ".join(f"mod{m}_k[{5 + k}] * g{g}_nfired[b]" for k, g in enumerate(op.sources))
    update = [mod for mod in loop.network.modulators.values()][m].description().mangled
    emit("    for b in range(batch):")
    emit(f"        mod{m}[b] = {update}(mod{m}[b], ({drive}) / mod{m}_k[2], pulse, mod{m}_k[2], mod{m}_k[3], "
         f"mod{m}_k[4])")


def lower_DecayTraces(loop, op) -> None:
    """Every trace decays by exp(-dt / tau); also this step's learning rate ``lr{p}``."""
    p, emit = op.projection, loop.emit
    rule = loop.network.projections[p].plasticity
    _rule_arguments(loop, p)
    loop.arguments.extend([f"p{p}_dpre", f"p{p}_dpost", f"p{p}_lr", "first_trial"])
    # p{p}_lr holds the learning rates of this call's trials, from first_trial on
    emit(f"    lr{p} = F(p{p}_lr[min((step // trial_steps if trial_steps > 0 else 0) - first_trial, "
         f"p{p}_lr.shape[0] - 1)] / batch)")
    if not rule.pre_traces and not rule.post_traces:
        return
    emit("    for b in range(batch):")
    for t in range(len(rule.pre_traces)):
        emit(f"        decay_slice(p{p}_tpre[{t}, b], p{p}_dpre[{t}])")
    for t in range(len(rule.post_traces)):
        emit(f"        decay_slice(p{p}_tpost[{t}, b], p{p}_dpost[{t}])")


def _lower_spike_events(loop, op, side: str) -> None:
    """For each neuron of ``side`` ("pre" or "post") that spiked: its event function on each
    of its synapses (outgoing CSR rows, or incoming CSC columns), then its traces."""
    p, g, emit = op.projection, op.group, loop.emit
    proj = loop.network.projections[p]
    rule, dense = proj.plasticity, proj.kind == "dense"
    event = getattr(type(rule), f"on_{side}")
    traces = rule.pre_traces if side == "pre" else rule.post_traces
    if event is None and not traces:
        return
    me, other = ("i", "j") if side == "pre" else ("j", "i")
    loop.arguments.extend([f"g{g}_fired", f"g{g}_nfired"])
    emit("    for b in range(batch):")
    emit(f"        for f in range(g{g}_nfired[b]):")
    emit(f"            {me} = g{g}_fired[b, f]")
    if event is not None:
        if dense:
            emit(f"            for {other} in range(p{p}_t{'post' if side == 'pre' else 'pre'}.shape[2]):")
            emit(f"                s = i * p{p}_tpost.shape[2] + j")
        elif side == "pre":
            emit(f"            for s in range(p{p}_indptr[i], p{p}_indptr[i + 1]):")
            emit(f"                j = p{p}_indices[s]")
        else:
            emit(f"            for c in range(p{p}_cptr[j], p{p}_cptr[j + 1]):")
            emit(f"                s = p{p}_csyn[c]")
            emit(f"                i = p{p}_spre[s]")
        for line in _call(loop, p, f"on_{side}", "i", "j", "s"):
            emit(f"                {line}")
    for t, trace in enumerate(traces.values()):
        emit(f"            p{p}_t{side}[{t}, b, {me}] {'= 1.0' if trace.mode == 'set' else '+= 1.0'}")


def lower_PreSpikeEvents(loop, op) -> None:
    _lower_spike_events(loop, op, "pre")


def lower_PostSpikeEvents(loop, op) -> None:
    _lower_spike_events(loop, op, "post")


def lower_StepEvents(loop, op) -> None:
    """``on_step`` on every synapse, every ``interval``."""
    p, emit = op.projection, loop.emit
    loop.arguments.append(f"p{p}_interval")
    emit(f"    if step % p{p}_interval == 0:")
    emit("        for b in range(batch):")
    emit(f"            for i in range(p{p}_tpre.shape[2]):")
    if loop.network.projections[p].kind == "dense":
        emit(f"                for j in range(p{p}_tpost.shape[2]):")
        emit(f"                    s = i * p{p}_tpost.shape[2] + j")
    else:
        emit(f"                for s in range(p{p}_indptr[i], p{p}_indptr[i + 1]):")
        emit(f"                    j = p{p}_indices[s]")
    for line in _call(loop, p, "on_step", "i", "j", "s"):
        emit(f"                    {line}")


def lower_Normalize(loop, op) -> None:
    p = op.projection
    loop.arguments.extend([f"p{p}_norm_steps", f"p{p}_norm"])
    loop.emit(f"    if (step + 1) % p{p}_norm_steps == 0:")
    _emit_normalize(loop, p, "        ")


def _emit_normalize(loop, p: int, indent: str) -> None:
    """Scale each postsynaptic neuron's incoming weights to sum to the rule's target."""
    emit = loop.emit
    if loop.network.projections[p].kind == "dense":
        emit(f"{indent}normalize_columns(p{p}_w, p{p}_norm)")
        return
    emit(f"{indent}for j in range(p{p}_cptr.shape[0] - 1):")
    emit(f"{indent}    total = 0.0")
    emit(f"{indent}    for c in range(p{p}_cptr[j], p{p}_cptr[j + 1]):")
    emit(f"{indent}        total += p{p}_wf[p{p}_csyn[c]]")
    emit(f"{indent}    if total > 0.0 and p{p}_norm > 0.0:")
    emit(f"{indent}        for c in range(p{p}_cptr[j], p{p}_cptr[j + 1]):")
    emit(f"{indent}            p{p}_wf[p{p}_csyn[c]] *= p{p}_norm / total")


def lower_TrialStart(loop, op) -> None:
    """At the first step of every trial: state back to its initial value (keeping
    ``net.trial_keep``), pending synaptic input and every plastic mechanism's state to its
    initial value, and weights normalised."""
    net, emit = loop.network, loop.emit
    emit("    if trial_steps > 0 and step % trial_steps == 0:")
    emit("        pass")
    for g, group in enumerate(net.groups):
        if group.kind != "population":
            continue
        for var in group.model.state:
            if var in net.trial_keep:
                continue
            loop.arguments.extend([f"g{g}_init_{var}", f"g{g}_{var}"])
            emit("        for b in range(batch):")
            emit(f"            for k in range(g{g}_{var}.shape[1]):")
            emit(f"                g{g}_{var}[b, k] = g{g}_init_{var}[k]")
    for r in range(len(net.receptor_buffers)):
        loop.arguments.append(f"rb{r}")
        emit(f"        rb{r}[:, :, :] = 0.0")
    for m, mod in enumerate(net.modulators.values()):
        for block in getattr(mod, "state_blocks", tuple)():   # network-wide mechanisms (astrocytes)
            loop.arguments.append(f"mod{m}")
            emit(f"        mod{m}[:] = {float(block.initial[0])!r}")
    for p, proj in enumerate(net.projections):
        for block in proj.state_blocks():   # each mechanism's declared initial values
            name = f"p{p}_{KERNEL_NAMES[block.key]}"
            loop.arguments.append(name)
            for row, value in enumerate(block.initial):
                emit(f"        {name}[{row}, :, :] = {float(value)!r}")
        rule = proj.plasticity
        if rule is not None and rule.normalize is not None and rule.normalize_every is None:
            _rule_arguments(loop, p)
            loop.arguments.append(f"p{p}_norm")
            _emit_normalize(loop, p, "        ")
