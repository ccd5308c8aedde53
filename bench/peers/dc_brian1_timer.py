# Brian 1.4.4 (the simulator of Diehl & Cook's code): does their `timer` block a second spike?
# Runs their excitatory neuron (equations, threshold string, reset, refractory verbatim in meaning)
# under strong Poisson drive, with and without the `timer > refrac_e` term, same random seed.
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
