"""Figures of :mod:`synaptica.experiments.distal_reward` (Izhikevich 2007, Fig. 1): the
rewarded synapse's weight and eligibility, the reward times, the weight distribution at
the end, each next to the no-reward control."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=120)
    FigureCanvasAgg(fig)
    return fig


def plot_weights(run: dict, control: dict | None, p: dict, path: Path) -> None:
    """2 x 2: rewarded weight (and the control's) with the reward times; its eligibility at
    the end of every second; cumulative rewards; histogram of the other weights at the end."""
    w_max, total = p["w_max"], p["duration_s"]
    seconds = np.arange(1, total + 1)
    rewards = run["reward_times_s"]
    fig = _figure((10, 6.4))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.09, top=0.94, wspace=0.25, hspace=0.38)
    ax_w, ax_c, ax_r, ax_h = (fig.add_subplot(2, 2, k) for k in (1, 2, 3, 4))
    ax_w.plot(seconds, run["history"], color="tab:red", label="rewarded")
    if control is not None:
        ax_w.plot(seconds, control["history"], color="0.5", label="control (no reward)")
    ax_w.plot(rewards, np.zeros_like(rewards), "x", color="tab:red", ms=3, alpha=0.5)
    ax_w.axhline(w_max, color="0.5", lw=0.8, ls="--")
    ax_w.set(xlabel="time (s)", ylabel="weight", title="rewarded synapse (x: rewards)", ylim=(-0.05 * w_max, 1.05 * w_max))
    ax_w.legend(loc="center right", fontsize=8)
    ax_c.plot(seconds, run["eligibility"], color="tab:green", lw=0.6)
    ax_c.axhline(0.0, color="0.5", lw=0.8)
    ax_c.set(xlabel="time (s)", ylabel="eligibility c", title="its eligibility trace (end of each second)")
    ax_r.step(np.sort(rewards), np.arange(1, rewards.size + 1), where="post", color="tab:red")
    ax_r.set(xlabel="time (s)", ylabel="rewards so far", title=f"reward times ({rewards.size} rewards)")
    high = ax_r.twinx()
    high.plot(seconds, 100 * run["others_high"], color="0.3", lw=0.8, label="rewarded run")
    if control is not None:
        high.plot(seconds, 100 * control["others_high"], color="tab:blue", lw=0.8, label="control")
    high.set_ylabel("others >= 90 % of bound (%)")
    high.legend(loc="upper left", fontsize=7)
    bins = np.linspace(0, w_max, 41)
    others = np.delete(run["exc"].weights.detach().numpy(), run["synapse"])
    ax_h.hist(others, bins=bins, color="0.35", label="rewarded run")
    if control is not None:
        rest = np.delete(control["exc"].weights.detach().numpy(), control["synapse"])
        ax_h.hist(rest, bins=bins, histtype="step", color="tab:blue", label="control")
    ax_h.axvline(run["history"][-1], color="tab:red", label="rewarded synapse")
    ax_h.axvline(0.9 * w_max, color="0.5", ls=":", lw=0.8, label="90 % of the bound")
    ax_h.set(xlabel="weight", ylabel="synapses", title="other excitatory synapses at the end", yscale="log")
    ax_h.legend(fontsize=7)
    fig.savefig(path, format="png")


def plot_detail(run: dict, p: dict, per_s: int, path: Path) -> None:
    """The detail window: rewarded weight and eligibility every 1 / per_s s, reward times."""
    start = p["detail_start_s"]
    length = min(p["detail_s"], p["duration_s"] - start)
    detail = run["detail"][:, : length * 100]
    t = start + (np.arange(detail.shape[1]) + 1) / per_s
    rewards = run["reward_times_s"]
    rewards = rewards[(rewards >= start) & (rewards < start + length)]
    fig = _figure((9, 4.2))
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.92, hspace=0.1)
    ax_w, ax_c = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    ax_w.plot(t, detail[0], color="tab:red")
    ax_w.set(ylabel="weight", title=f"rewarded synapse, {start}-{start + length} s (|: rewards)", xticklabels=[])
    ax_c.plot(t, detail[1], color="tab:green")
    ax_c.axhline(0.0, color="0.5", lw=0.8)
    ax_c.set(xlabel="time (s)", ylabel="eligibility c")
    for ax in (ax_w, ax_c):
        for r in rewards:
            ax.axvline(r, color="tab:red", lw=0.6, alpha=0.6)
        ax.set_xlim(start, start + length)
    fig.savefig(path, format="png")
