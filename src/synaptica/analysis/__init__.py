"""Analysis of spiking activity, simulated or recorded, on one data model (:class:`SpikeRecord`).

One module per analysis: ``stats`` (rates, ISI measures, Fano), ``correlation``
(correlograms, STTC, synchrony), ``distances``, ``avalanches`` + ``powerlaw`` + ``branching``
(criticality), ``complexity`` (Lempel-Ziv), ``glm`` (functional connectivity), ``hmm`` and
``hmm_glm`` (switching states), ``energy`` (NeuroBench operation counts), ``synthetic``
(networks with known ground truth) and ``report`` (everything at once, as ``synaptica
analyze``). Times are in seconds throughout.
"""
from .avalanches import AvalancheAnalysis, Avalanches, find_avalanches
from .basis import history_features, raised_cosine_basis
from .branching import MultistepRegression, branching_ratio_naive, mr_estimate, simulate_branching_network
from .complexity import LempelZiv, lempel_ziv_complexity, population_complexity, spike_train_complexity
from .correlation import correlogram_lags, cross_correlograms, golomb_chi, spike_count_correlation, sttc
from .distances import van_rossum_distance, victor_purpura_distance
from .energy import (HOROWITZ_45NM, OperationCounts, count_model_operations, count_network_operations,
                     energy_estimate)
from .glm import CoupledPoissonGLM
from .hmm import PoissonHMM, forward_backward, viterbi
from .hmm_glm import HMMGLM
from .powerlaw import PowerLawFit, compare_power_law, fit_power_law
from .record import SpikeRecord, SpikeRecordError
from .stats import (cv, cv2, fano_factor, firing_rates, isi, isi_cv, lv, population_rate, psth, rates)
from .synthetic import markov_states, random_coupling, simulate_coupled_glm

__all__ = [
    "AvalancheAnalysis", "Avalanches", "CoupledPoissonGLM", "HMMGLM", "HOROWITZ_45NM", "LempelZiv",
    "MultistepRegression", "OperationCounts", "PoissonHMM", "PowerLawFit", "SpikeRecord", "SpikeRecordError",
    "branching_ratio_naive", "compare_power_law", "correlogram_lags", "count_model_operations",
    "count_network_operations", "cross_correlograms", "cv", "cv2", "energy_estimate", "fano_factor",
    "find_avalanches", "firing_rates", "fit_power_law", "forward_backward", "golomb_chi", "history_features",
    "isi", "isi_cv", "lempel_ziv_complexity", "lv", "markov_states", "mr_estimate", "population_complexity",
    "population_rate", "psth", "raised_cosine_basis", "random_coupling", "rates", "simulate_branching_network",
    "simulate_coupled_glm", "spike_count_correlation", "spike_train_complexity", "sttc", "van_rossum_distance",
    "victor_purpura_distance", "viterbi",
]
