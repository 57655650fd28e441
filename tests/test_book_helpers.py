"""Helpers the book uses: parameter-error baselines, the Henze-Zirkler null mean, typeset
names, the paper's tables."""
import numpy as np

from diffvox import paper
from diffvox.analysis.normality import henze_zirkler, henze_zirkler_null_mean_excess
from diffvox.figures import html_name
from diffvox.inspect import parameter_error, parameter_error_baselines, parameter_error_scale
from diffvox.presets import load_dataset


def test_parameter_error_baselines_against_direct_formulas():
    internal, medleydb = load_dataset("internal"), load_dataset("medleydb")
    scale, mask = parameter_error_scale()
    assert np.allclose(scale, internal.train[:, mask].std(axis=0) + 1e-6)
    targets = [internal.preset(3), medleydb.preset(5)]
    base = parameter_error_baselines(targets)
    rows = np.array([p.logits for ds in (internal, medleydb) for p in map(ds.preset, range(len(ds)))])[:, mask]
    mean = internal.train[:, mask].mean(axis=0)
    for j, t in enumerate(targets):
        true = t.logits[mask]
        rms = lambda a: np.sqrt(np.mean(((a - true) / scale) ** 2))  # noqa: E731
        assert np.isclose(base["mean"][j], rms(mean))
        others = [rms(r) for r in rows if not np.array_equal(r, true)]
        assert len(others) == len(rows) - 1 and np.isclose(base["random"][j], np.mean(others))
    assert parameter_error(targets[0], targets[0], scale, mask) == 0
    # in std units, two independent rows differ by about sqrt(2), the mean by about 1
    assert 1.1 < base["random"].mean() < 1.8 and base["mean"].mean() < base["random"].mean()


def test_henze_zirkler_null_mean_matches_simulation():
    rng = np.random.default_rng(0)
    n, p = 40, 4
    excess = [henze_zirkler(rng.standard_normal((n, p))).statistic - 1 for _ in range(400)]
    expected = henze_zirkler_null_mean_excess(n, p)
    assert expected < 0
    assert abs(np.mean(excess) - expected) < 4 * np.std(excess) / np.sqrt(len(excess))


def test_html_names_and_paper_pairs():
    assert html_name("f_LP") == "<i>f</i><sub>LP</sub>"
    assert html_name("γ(e^{iπ44/48})") == "<i>γ</i>(<i>e</i><sup><i>iπ</i>·44/48</sup>)"
    assert html_name("make-up") == "make-up" and html_name("d") == "<i>d</i>"
    assert paper.scc("γ_DLY", "d") == (-0.58, -0.20) and paper.scc("d", "CT") is None
    assert paper.matching_table("MedleyDB").loc["w/o DLY&FDN", "mss_lr"] == 0.61
