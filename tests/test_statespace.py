"""The state-space derivation helpers against scipy.signal."""
from __future__ import annotations

import numpy as np
import scipy.signal

from diffvox.filters import biquad_coefficients
from diffvox.filters.statespace import (biquad_state_space, diagonalise, modal_filter, modal_form,
                                        schur, simulate)


def _section(kind="peak", freq=1000.0, q=2.0, gain=6.0):
    import torch

    return biquad_coefficients(kind, torch.tensor(freq, dtype=torch.float64), q, gain).numpy()


def test_state_space_is_the_biquad():
    sos = _section()
    x = np.random.default_rng(0).standard_normal(500)
    y = simulate(*biquad_state_space(sos), x)
    np.testing.assert_allclose(y, scipy.signal.sosfilt(sos[None] / sos[3], x), atol=1e-12)


def test_diagonal_form_is_the_biquad_for_distinct_poles():
    sos = _section("lowpass", 500.0, 2.0, 0.0)
    A, B, C, D = biquad_state_space(sos)
    poles, Bt, Ct, cond = diagonalise(A, B, C)
    x = np.random.default_rng(1).standard_normal(400)
    y = simulate(np.diag(poles), Bt, Ct, D, x).real
    np.testing.assert_allclose(y, scipy.signal.sosfilt(sos[None] / sos[3], x), atol=1e-10)
    k, r, p = modal_form(sos)
    np.testing.assert_allclose(np.sort_complex(p), np.sort_complex(poles))
    np.testing.assert_allclose(modal_filter(sos, x), y, atol=1e-10)


def test_diagonalisation_breaks_down_at_repeated_poles():
    conds = [diagonalise(*biquad_state_space(_section("lowpass", 500.0, 0.5 + d, 0.0))[:3])[3]
             for d in (1e-2, 1e-4, 1e-6)]
    assert conds[0] < conds[1] < conds[2] and conds[2] > 1e3


def test_schur_form_is_unitary_and_triangular():
    for q in (0.5, 0.5 + 1e-9, 3.0):
        A = biquad_state_space(_section("highpass", 200.0, q, 0.0))[0]
        T, Q = schur(A)
        assert abs(T[1, 0]) == 0.0
        np.testing.assert_allclose(Q @ Q.conj().T, np.eye(2), atol=1e-14)
        np.testing.assert_allclose(Q @ T @ Q.conj().T, A, atol=1e-14)
