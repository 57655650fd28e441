"""Numbers published in the DiffVox paper (Yu et al., DAFx 2025), copied from its tables so that
the book can print them beside its own. Nothing here is computed; cite the paper for them."""
from __future__ import annotations

METRIC_KEYS = ("mss_lr", "mss_ms", "mldr_lr", "mldr_ms")

# "Sound matching performance": MSS and MLDR (l/r, m/s), mean over each dataset's tracks
MATCHING = {
    ("Internal", "No processing"): (1.44, 2.39, 1.82, 2.08),
    ("Internal", "DiffVox"): (0.76, 0.94, 0.34, 0.41),
    ("Internal", "w/o Approx."): (0.78, 0.95, 0.38, 0.44),
    ("MedleyDB", "No processing"): (1.27, 2.16, 1.00, 1.35),
    ("MedleyDB", "DiffVox"): (0.75, 0.98, 0.39, 0.45),
    ("MedleyDB", "w/o Approx."): (0.77, 1.00, 0.42, 0.48),
    ("MedleyDB", "w/o FDN"): (0.79, 1.14, 0.48, 0.62),
    ("MedleyDB", "w/o DLY"): (0.76, 0.99, 0.40, 0.47),
    ("MedleyDB", "w/o DLY&FDN"): (0.61, 0.90, 0.82, 1.17),
}

# "Parameter correlation analysis": the ten strongest Internal pairs, SCC on Internal and MedleyDB
SCC = {
    ("f_LP", "γ(e^{iπ44/48})"): (0.60, 0.32),
    ("g_PK2", "Q_PK2"): (-0.60, -0.10),
    ("d", "γ_DLY"): (-0.58, -0.20),
    ("f_LP", "γ(e^{iπ43/48})"): (0.56, 0.35),
    ("CT", "make-up"): (-0.55, 0.06),
    ("f_LP", "γ(e^{iπ45/48})"): (0.53, 0.19),
    ("ET", "ER"): (-0.52, -0.30),
    ("d", "g_DLY"): (-0.51, -0.02),
    ("γ_DLY", "f_DLY.LP"): (0.49, 0.41),
    ("g_FDN.PK2", "f_FDN.PK2"): (-0.46, -0.47),
}


def matching_table(dataset: str):
    """The paper's sound-matching rows of one dataset as a DataFrame (index: configuration)."""
    import pandas as pd

    rows = {config: dict(zip(METRIC_KEYS, v)) for (d, config), v in MATCHING.items() if d == dataset}
    return pd.DataFrame.from_dict(rows, orient="index")


def scc(param_a: str, param_b: str) -> tuple[float, float] | None:
    """The paper's (Internal, MedleyDB) SCC of a pair, in either order, or None."""
    return SCC.get((param_a, param_b)) or SCC.get((param_b, param_a))
