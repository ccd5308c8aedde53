"""Networks from papers, built on the engine: one module per model (Diehl & Cook 2015,
Hao et al. 2020, the CA3 memory of Casanueva-Morato et al. 2024 with its Hopfield
baseline, and circuit motifs). Import the module you need; nothing loads here."""
