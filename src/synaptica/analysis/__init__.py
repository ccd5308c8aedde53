"""Analysis of recorded spike trains (pure NumPy)."""
from .stats import firing_rates, isi_cv, population_rate

__all__ = ["firing_rates", "isi_cv", "population_rate"]
