"""Source generation for plasticity (step 5) and trial starts on the compiled CPU path.

Kept apart from :mod:`synaptica.engine.cpu` so the main loop reads as the step order.
Synapses are addressed by a flat index ``s``: ``i * n_post + j`` for dense projections,
the CSR position for sparse ones (``p{p}_cptr``/``p{p}_csyn`` list each postsynaptic
neuron's incoming synapses, ``p{p}_spre`` each synapse's presynaptic neuron).
"""
from __future__ import annotations

from synaptica.plasticity.base import weight_change_description


def rule_functions(net) -> list:
    """Checked functions to emit into the generated module (with their helpers)."""
    out = [weight_change_description()]
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


def _call(net, p: int, proj, event: str, i: str, j: str, s: str) -> list[str]:
    """Lines calling ``event`` of the rule on synapse s (pre i, post j) of batch entry b."""
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
            args.append(f"g{g_post}_{a}[b, {j}]")
        elif a in cls.modulators:
            args.append(f"mod{mods.index(rule.modulator_names[a])}[b]")
        else:
            args.append(f"p{p}_c_{a}")
    outs = ["pot", "dep", *(f"ss{k}" for k in range(len(cls.synapse_state)))]
    lines = [f"{', '.join(outs)} = {cls.description(event).mangled}({', '.join(args)})",
             # the option flags are arguments: changing them needs no new kernel
             f"p{p}_wf[{s}] = {weight_change_description().mangled}(p{p}_wf[{s}], pot, dep, lr{p}, "
             f"p{p}_c_w_min, p{p}_c_w_max, p{p}_c_soft, p{p}_c_multiplicative)"]
    lines += [f"p{p}_ss[{k}, b, {s}] = ss{k}" for k in range(len(cls.synapse_state))]
    return lines


def emit_plasticity(net, emit, args: list[str]) -> None:
    """Step 5: modulators, then each rule's traces and events (see plasticity.base)."""
    for m, mod in enumerate(net.modulators.values()):
        args.extend([f"mod{m}", f"mod{m}_k", f"mod{m}_psteps", f"mod{m}_pamounts", f"mod{m}_ptr"])
        emit(f"    pulse = 0.0")
        emit(f"    while mod{m}_ptr[0] < mod{m}_psteps.shape[0] and mod{m}_psteps[mod{m}_ptr[0]] <= step:")
        emit(f"        if mod{m}_psteps[mod{m}_ptr[0]] == step:")
        emit(f"            pulse += mod{m}_pamounts[mod{m}_ptr[0]]")
        emit(f"        mod{m}_ptr[0] += 1")
        emit(f"    for b in range(batch):")
        drive = ""
        if mod.source is not None:
            drive = f" + mod{m}_k[1] * g{net.groups.index(mod.source)}_nfired[b]"
        emit(f"        mod{m}[b] = mod{m}[b] * mod{m}_k[0] + pulse{drive}")
    for p, proj in enumerate(net.projections):
        rule = proj.plasticity
        if rule is None:
            continue
        cls = type(rule)
        g_pre, g_post = net.groups.index(proj.pre), net.groups.index(proj.post)
        dense = proj.kind == "dense"
        args.extend([f"p{p}_wf", f"p{p}_tpre", f"p{p}_tpost", f"p{p}_dpre", f"p{p}_dpost", f"p{p}_ss",
                     f"p{p}_lr", f"p{p}_k", "first_trial"])
        if not dense:
            args.extend([f"p{p}_indptr", f"p{p}_indices", f"p{p}_cptr", f"p{p}_csyn", f"p{p}_spre"])
        for q, key in enumerate(net.rule_coefficients(rule)):
            emit(f"    p{p}_c_{key} = p{p}_k[{q}]")
        # p{p}_lr holds the learning rates of this call's trials, from first_trial on
        emit(f"    lr{p} = p{p}_lr[min((step // trial_steps if trial_steps > 0 else 0) - first_trial, "
             f"p{p}_lr.shape[0] - 1)] / batch")
        emit(f"    for b in range(batch):")
        for t in range(len(rule.pre_traces)):
            emit(f"        decay_slice(p{p}_tpre[{t}, b], p{p}_dpre[{t}])")
        for t in range(len(rule.post_traces)):
            emit(f"        decay_slice(p{p}_tpost[{t}, b], p{p}_dpost[{t}])")
        _emit_events(net, emit, p, proj, "pre", g_pre)
        _emit_events(net, emit, p, proj, "post", g_post)
        # continuous terms
        if cls.on_step is not None:
            emit(f"        if step % p{p}_interval == 0:")
            args.append(f"p{p}_interval")
            if dense:
                emit(f"            for i in range(p{p}_tpre.shape[2]):")
                emit(f"                for j in range(p{p}_tpost.shape[2]):")
                emit(f"                    s = i * p{p}_tpost.shape[2] + j")
                indent = "                    "
            else:
                emit(f"            for i in range(p{p}_tpre.shape[2]):")
                emit(f"                for s in range(p{p}_indptr[i], p{p}_indptr[i + 1]):")
                emit(f"                    j = p{p}_indices[s]")
                indent = "                    "
            for line in _call(net, p, proj, "on_step", "i", "j", "s"):
                emit(f"{indent}{line}")
        if rule.normalize is not None and rule.normalize_every is not None:
            args.extend([f"p{p}_norm_steps", f"p{p}_norm"])
            emit(f"    if (step + 1) % p{p}_norm_steps == 0:")
            emit_normalize(p, proj, emit, "        ")


def _emit_events(net, emit, p: int, proj, side: str, g: int) -> None:
    """For each neuron of ``side`` ("pre" or "post") that spiked: its event function on each
    of its synapses (outgoing CSR rows, or incoming CSC columns), then its traces."""
    rule, dense = proj.plasticity, proj.kind == "dense"
    me, other = ("i", "j") if side == "pre" else ("j", "i")
    emit(f"        for f in range(g{g}_nfired[b]):")
    emit(f"            {me} = g{g}_fired[b, f]")
    if getattr(type(rule), f"on_{side}") is not None:
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
        for line in _call(net, p, proj, f"on_{side}", "i", "j", "s"):
            emit(f"                {line}")
    traces = rule.pre_traces if side == "pre" else rule.post_traces
    for t, trace in enumerate(traces.values()):
        op = "= 1.0" if trace.mode == "set" else "+= 1.0"
        emit(f"            p{p}_t{side}[{t}, b, {me}] {op}")
    if not traces and getattr(type(rule), f"on_{side}") is None:
        emit(f"            pass")


def emit_normalize(p: int, proj, emit, indent: str) -> None:
    """Scale each postsynaptic neuron's incoming weights to sum to the rule's target."""
    if proj.kind == "dense":
        emit(f"{indent}normalize_columns(p{p}_w, p{p}_norm)")
        return
    emit(f"{indent}for j in range(p{p}_cptr.shape[0] - 1):")
    emit(f"{indent}    total = 0.0")
    emit(f"{indent}    for c in range(p{p}_cptr[j], p{p}_cptr[j + 1]):")
    emit(f"{indent}        total += p{p}_wf[p{p}_csyn[c]]")
    emit(f"{indent}    if total > 0.0 and p{p}_norm > 0.0:")
    emit(f"{indent}        for c in range(p{p}_cptr[j], p{p}_cptr[j + 1]):")
    emit(f"{indent}            p{p}_wf[p{p}_csyn[c]] *= p{p}_norm / total")


def emit_trial_start(net, emit, args: list[str]) -> None:
    """At the first step of every trial: reset state (keeping ``net.trial_keep``), clear
    pending synaptic input, traces and rule state, and normalise weights."""
    emit("    if trial_steps > 0 and step % trial_steps == 0:")
    emit("        pass")
    for g, group in enumerate(net.groups):
        if group.kind != "population":
            continue
        for var in group.model.state:
            if var in net.trial_keep:
                continue
            args.append(f"g{g}_init_{var}")
            emit(f"        for b in range(batch):")
            emit(f"            for k in range(g{g}_spk.shape[1]):")
            emit(f"                g{g}_{var}[b, k] = g{g}_init_{var}[k]")
    for r in range(len(net.receptor_buffers)):
        emit(f"        rb{r}[:, :, :] = 0.0")
    for p, proj in enumerate(net.projections):
        if proj.plasticity is not None:
            emit(f"        p{p}_tpre[:, :, :] = 0.0")
            emit(f"        p{p}_tpost[:, :, :] = 0.0")
            emit(f"        p{p}_ss[:, :, :] = 0.0")
            if proj.plasticity.normalize is not None and proj.plasticity.normalize_every is None:
                args.append(f"p{p}_norm")
                emit_normalize(p, proj, emit, "        ")
        if proj.stp is not None:
            emit(f"        p{p}_stp[0, :, :] = 0.0")
            emit(f"        p{p}_stp[1, :, :] = 1.0")
            emit(f"        p{p}_stp[2, :, :] = -1.0")
