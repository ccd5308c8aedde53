# ruff: noqa  -- Python 2 / Brian 1 script: Brian 1 reads the local names (v_reset_e, tc_theta, ...) by frame inspection
"""Brian 1 (the simulator of Diehl & Cook's code, github.com/peter-u-diehl/stdp-mnist): does
their ``timer`` block a second spike for 50 ms?

Their excitatory neuron (equations ``dtimer/dt = 100.0 : ms``, threshold
``(v > theta - offset + v_thresh_e) * (timer > refrac_e)``, reset ``timer = 0*ms``,
refractory 5 ms) under strong Poisson drive, with and without the timer term, same seed.
Brian 1 integrates in SI units: the timer grows 100 s per s (50 ms per 0.5 ms step), so it
passes 5 ms one step after a spike and the two spike trains are identical. Python 2.7 with
brian 1.4.4 (PyPI sdist, unpacked on PYTHONPATH), numpy 1.16, scipy 1.2, sympy 1.5:

    PYTHONPATH=<site>:<brian-1.4.4> MPLBACKEND=Agg python2.7 bench/peers/dc_brian1_timer.py

Measured output: timer 0.05, 0.1, 0.15 s after 1-3 steps; 101 spikes with the timer term,
shortest interval 5.5 ms; 101 without it, identical trains: True.
"""
import sys
import numpy as np
import brian as b
from brian import ms, mV, nS, amp, volt  # names their reset/equation strings use

def run(with_timer):
    b.reinit_default_clock(); b.clear(True); np.random.seed(3)
    b.defaultclock.dt = 0.5 * ms
    v_rest_e = -65. * mV; v_reset_e = -65. * mV; refrac_e = 5. * ms
    tc_theta = 1e7 * ms; theta_plus_e = 0.05 * mV; offset = 20.0 * mV
    scr_e = 'v = v_reset_e; theta += theta_plus_e; timer = 0*ms'
    thresh = '(v>(theta - offset + ' + repr(float(-52. * mV)) + '))' + (' * (timer>refrac_e)' if with_timer else '')
    eqs = '''
        dv/dt = ((v_rest_e - v) + (I_synE+I_synI) / nS) / (100*ms)  : volt
        I_synE = ge * nS *         -v                           : amp
        I_synI = gi * nS * (-100.*mV-v)                          : amp
        dge/dt = -ge/(1.0*ms)                                   : 1
        dgi/dt = -gi/(2.0*ms)                                  : 1
        dtheta/dt = -theta / (tc_theta)  : volt
        dtimer/dt = 100.0  : ms
        '''
    G = b.NeuronGroup(1, eqs, threshold=thresh, refractory=refrac_e, reset=scr_e, compile=True, freeze=True)
    G.v = v_rest_e; G.theta = 20 * mV
    drive = b.PoissonGroup(1, 1000 * b.Hz)
    C = b.Connection(drive, G, 'ge', weight=3.0)
    sm = b.SpikeMonitor(G); tm = b.StateMonitor(G, 'timer', record=True)
    b.run(1 * b.second)
    t = np.array(sm[0]) * 1e3
    return t, tm[0][:3]

with_t, timer = run(True)
without_t, _ = run(False)
print('timer after 1, 2, 3 steps (s):', timer)
print('with timer term: %d spikes, shortest interval %.1f ms' % (len(with_t), np.diff(with_t).min()))
print('without it:      %d spikes, identical trains: %s' % (len(without_t), np.array_equal(with_t, without_t)))
