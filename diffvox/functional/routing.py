"""Everything after the compressor as one linear, time-invariant response.

Direct pan, ping-pong delay and FDN reverb (fed by the compressed signal on both channels plus the
send times the delay's output) are all convolutions of the mono signal ``u``. Their sum is one
mono-to-stereo impulse response, so the chain's output needs one FFT of ``u`` and one inverse FFT
per output channel instead of one convolution per stage. Values are those of the stage-by-stage
computation (linear convolutions throughout; no circular wrap).
"""
from __future__ import annotations

import torch

from .convolution import causal_fft_conv
from .fft import fft_size, rfft


def tail_kernel(direct: torch.Tensor, delay: torch.Tensor | None = None,
                reverb: torch.Tensor | None = None, send: torch.Tensor | None = None,
                max_length: int | None = None) -> torch.Tensor:
    """The mono-to-stereo impulse response ``direct delta + delay + reverb * (1 + send delay)``
    of each preset of a batch.

    direct: (..., 2) pan gains; delay: (..., 2, Nd) the delay's response per output channel
    (pans included) or None; reverb: (..., 2 out, 2 in, Nr) or None; send: (...) gain from the
    delay into the reverb (used when both are present). Returns (..., 2, L) with L the full
    response length, or ``max_length`` when that is shorter (taps beyond a signal's length
    cannot reach its output).
    """
    length = 1 if delay is None else delay.shape[-1]
    if reverb is not None:
        length = max(length, reverb.shape[-1] + (length - 1 if send is not None and delay is not None else 0))
    if max_length is not None and max_length < length:
        # the first max_length taps need only the first max_length of each part (the reverb's
        # convolution with the delay included): a shorter transform, the same values
        length = max_length
        delay = None if delay is None else delay[..., :length]
        reverb = None if reverb is None else reverb[..., :length]
    both = delay is not None and reverb is not None and send is not None
    n_fft = fft_size(2 * length - 1 if both else length)
    spec = direct.to(torch.complex64 if direct.dtype != torch.float64 else torch.complex128)
    spec = spec.unsqueeze(-1).expand(*direct.shape, n_fft // 2 + 1)
    reverb_in = torch.ones_like(spec)
    if delay is not None:
        delay_spec = rfft(delay, n_fft)
        spec = spec + delay_spec
        if send is not None:
            reverb_in = reverb_in + send.unsqueeze(-1).unsqueeze(-1) * delay_spec
    if reverb is not None:
        spec = spec + (rfft(reverb, n_fft) * reverb_in.unsqueeze(-3)).sum(-2)
    kernel = torch.fft.irfft(spec, n_fft)
    return kernel[..., :length]


def mono_to_stereo(u: torch.Tensor, kernel: torch.Tensor, start: int = 0) -> torch.Tensor:
    """Causal convolution of mono u (..., T) with a (..., 2, L) kernel: (..., 2, T - start), the
    output from sample ``start`` on (one forward FFT of u; see :func:`.causal_fft_conv`)."""
    return causal_fft_conv(u.unsqueeze(-2), kernel, start)
