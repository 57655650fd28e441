"""The chapter helpers against independent computations."""
from __future__ import annotations

import numpy as np
import torch

from diffvox import DiffVox
from diffvox.filters import biquad_coefficients
from diffvox.inspect import (compressor_static_curve, count_local_minima, delay_impulse_response,
                             delay_loss_landscape, magnitude_response_db)
from diffvox.presets import load_dataset


def test_magnitude_response_of_a_peak():
    sos = biquad_coefficients("peak", torch.tensor(1000.0, dtype=torch.float64), 2.0, 6.0).view(1, 6)
    assert abs(magnitude_response_db(sos, np.array([1000.0]))[0] - 6.0) < 1e-9


def test_static_curve_slopes():
    model = load_dataset("medleydb").preset(0).to_chain()
    p = {k: float(v[0].detach()) for k, v in model.decode()[model.compressor].items()}
    levels = np.array([p["cmp_th"] + 10, p["cmp_th"] + 20])
    out = compressor_static_curve(model, levels)
    assert abs((out[1] - out[0]) / 10 - 1 / p["cmp_ratio"]) < 1e-6  # above threshold: 1/ratio


def test_delay_impulse_response_has_echoes_at_multiples_of_the_delay():
    model = DiffVox(reverb=False)
    ir = delay_impulse_response(model)
    d = int(round(float(model.decode()[model.delay]["delay"][0].detach()) * 44.1))
    energy = np.abs(ir).sum(0)
    assert energy[d - 5 : d + 6].max() > 10 * np.median(energy[: d - 50])
    assert energy[2 * d - 8 : 2 * d + 9].max() > 10 * np.median(energy[: d - 50])


def test_surrogate_smooths_the_delay_landscape():
    delays = np.linspace(395.0, 405.0, 2001)  # 0.005 ms = 0.22 samples apart
    exact = delay_loss_landscape(delays, 400.0, None)
    damped = delay_loss_landscape(delays, 400.0, -1e-3)
    assert count_local_minima(exact) > 50
    assert count_local_minima(damped) == 1
    assert abs(delays[np.argmin(damped)] - 400.0) < 0.01
    assert abs(delays[np.argmin(exact)] - 400.0) < 0.01
