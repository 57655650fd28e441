"""RBJ coefficients against the original implementation's values and the cookbook's own
design properties; single-biquad outputs against the reference renders."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal
import torch

from diffvox.filters import KINDS, biquad_coefficients, sosfilt


@pytest.fixture(scope="module")
def biquad_ref(reference_dir):
    meta = json.loads((reference_dir / "biquad" / "biquad_params.json").read_text())
    x = np.load(reference_dir / "biquad" / "biquad_input.npy")
    outputs = np.load(reference_dir / "biquad" / "biquad_outputs.npy")
    return meta["settings"], x, outputs


def _coefs(setting, dtype=torch.float64):
    gain = setting.get("gain_db")
    gain = 0.0 if gain is None or (isinstance(gain, float) and math.isnan(gain)) else gain
    f, q, g = (torch.tensor(v, dtype=dtype) for v in (setting["freq_hz"], setting["Q"], gain))
    return biquad_coefficients(setting["type"], f, q, g, 44100)


def test_coefficients_match_original(biquad_ref):
    settings, _, _ = biquad_ref
    assert {s["type"] for s in settings} == set(KINDS)
    for s in settings:
        # float32 parameters: the original's float32 coefficients, bit for bit
        ours32 = _coefs(s, torch.float32).numpy()
        theirs = np.array(s["coefs_b0_b1_b2_a0_a1_a2"], dtype=np.float32)
        np.testing.assert_array_equal(ours32, theirs, err_msg=f"setting {s['index']}")
        # float64 parameters: the exact values, which the float32 ones round
        np.testing.assert_allclose(_coefs(s).numpy(), theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["numba", "scan"])
def test_filtering_matches_original(biquad_ref, backend):
    """The 25 checks: our coefficients and filter reproduce the original's outputs."""
    settings, x, outputs = biquad_ref
    sos = torch.stack([_coefs(s, torch.float32) for s in settings]).unsqueeze(1)
    # float64 filtering of the (float32) coefficients: 1e-4 max abs on top of the error the
    # original's own float32 run carries (recorded per setting against scipy's float64 lfilter)
    own_error = np.array([s["max_abs_diff_vs_scipy_lfilter_float64"] for s in settings])
    y = sosfilt(sos.double(), torch.from_numpy(x).double(), backend=backend).numpy()
    err = np.abs(y - outputs).max(axis=1)
    worst = int(np.argmax(err - own_error))
    assert (err <= 1e-4 + own_error).all(), (
        f"setting {worst}: max abs error {err[worst]:.3g}, reference's own {own_error[worst]:.3g}")
    # float32 filtering. Both runs carry float32 rounding, amplified by up to 1/|A(1)| ~ 1e5 for
    # low, resonant sections: the reference itself is up to ~1e-3 (relative RMS) from the exact
    # result for the 36 Hz low-pass. Ours must be within 1e-3 of exact, and of the reference up
    # to the reference's own error.
    rel = lambda a, b: np.sqrt(((a - b) ** 2).mean(1) / (b**2).mean(1))  # noqa: E731
    y32 = sosfilt(sos, torch.from_numpy(x), backend=backend).numpy()
    assert rel(y32, y).max() <= 1e-3
    assert (rel(y32, outputs) <= 1e-3 + rel(outputs, y)).all()


def _gain_at(sos, freq, sr=44100.0):
    sos = (sos / sos[..., 3:4]).numpy()[None]
    _, h = scipy.signal.sosfreqz(sos, worN=[freq], fs=sr)
    return abs(h[0])


@pytest.mark.parametrize("freq", [40.0, 1000.0, 12000.0])
@pytest.mark.parametrize("gain_db", [-9.0, 4.5])
def test_cookbook_design_properties(freq, gain_db):
    amp = 10 ** (gain_db / 20)
    freq, gain_db = torch.tensor(freq, dtype=torch.float64), torch.tensor(gain_db, dtype=torch.float64)
    peak = biquad_coefficients("peak", freq, 2.0, gain_db)
    assert _gain_at(peak, freq) == pytest.approx(amp, rel=1e-9)
    low = biquad_coefficients("lowshelf", freq, 0.707, gain_db)
    assert _gain_at(low, 1e-3) == pytest.approx(amp, rel=1e-6)
    assert _gain_at(low, 22049.999) == pytest.approx(1.0, rel=1e-6)
    high = biquad_coefficients("highshelf", freq, 0.707, gain_db)
    assert _gain_at(high, 22049.999) == pytest.approx(amp, rel=1e-6)
    assert _gain_at(high, 1e-3) == pytest.approx(1.0, rel=1e-6)
    for kind in ("lowpass", "highpass"):
        sos = biquad_coefficients(kind, freq, 3.0)
        assert _gain_at(sos, freq) == pytest.approx(3.0, rel=1e-9)  # |H(f0)| = Q


def test_coefficients_are_batched_and_differentiable():
    freq = torch.tensor([100.0, 1000.0, 5000.0], dtype=torch.float64, requires_grad=True)
    gain = torch.tensor([[-3.0], [6.0]], dtype=torch.float64, requires_grad=True)
    sos = biquad_coefficients("peak", freq, 1.5, gain)
    assert sos.shape == (2, 3, 6)
    assert torch.autograd.gradcheck(lambda f, g: biquad_coefficients("peak", f, 1.5, g), (freq, gain))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown biquad kind"):
        biquad_coefficients("bandpass", 100.0, 1.0)
    with pytest.raises(ValueError, match="frequency"):
        biquad_coefficients("peak", 30000.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="Q must be positive"):
        biquad_coefficients("lowpass", 100.0, 0.0)
