"""Baseline for the exact chain's benchmark: the same recursions written as one plain per-sample
loop (circular buffers, every FIR a dot product per sample), as a straightforward Numba port
of the original real-time chain would be. Also an independent check of the block-wise engine."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..realtime.parameters import ExactParameters


@njit(cache=True)
def _per_sample(x, eq_sos, avg_coef, cmp_th, cmp_slope, exp_th, exp_slope, attack, release,
                la_taps, la_pre, make_up, direct, has_delay, d, loop_sos, feedback, d_gain, odd_g,
                even_g, send, has_reverb, b, c, U, taps, delays, tone_sos):
    n = x.shape[0]
    n_la = la_taps.shape[0]
    latency = n_la - 1 - la_pre
    out = np.zeros((2, n + latency))
    eq_state = np.zeros((eq_sos.shape[0], 2))
    tone_state = np.zeros((2, tone_sos.shape[0], 2))
    avg, g = 0.0, 1.0
    g_hist = np.zeros(n_la)  # circular: the last n_la gains
    x_hist = np.zeros(latency + 1)
    dbuf = np.zeros((3, max(d, 1)))
    dstate = np.zeros((2, 2))
    dpos = 0
    n_lines, n_taps = taps.shape
    size = 1
    while size < delays.max() + 2:
        size *= 2
    w_buf = np.zeros((n_lines, size))
    o_hist = np.zeros((n_lines, n_taps))  # circular per line
    o = np.zeros(n_lines)
    s = np.zeros(n_lines)
    db_per_ln = 10.0 / math.log(10.0)
    for t in range(n + latency):
        # EQ and compressor gain (after the input ends, the gain is held)
        if t < n:
            v = x[t]
            for k in range(eq_sos.shape[0]):
                y = eq_sos[k, 0] * v + eq_state[k, 0]
                eq_state[k, 0] = eq_sos[k, 1] * v - eq_sos[k, 3] * y + eq_state[k, 1]
                eq_state[k, 1] = eq_sos[k, 2] * v - eq_sos[k, 4] * y
                v = y
            avg = avg_coef * max(v * v, 1e-8) + (1.0 - avg_coef) * avg
            level = db_per_ln * math.log(avg)
            gain_db = min(cmp_slope * (cmp_th - level), exp_slope * (exp_th - level), 0.0)
            f = math.exp(gain_db * math.log(10.0) / 20.0)
            coef = attack if f < g else release
            g = (1.0 - coef) * g + coef * f
            x_hist[t % (latency + 1)] = v
            if t == 0:
                for i in range(n_la):
                    g_hist[i] = g
        g_hist[t % n_la] = g
        k_out = t - latency  # the compressor sample whose lookahead window is complete
        if k_out < 0:
            continue
        acc = 0.0
        for i in range(n_la):  # window g[k - pre .. k + latency], oldest first
            acc += la_taps[i] * g_hist[(t - (n_la - 1) + i) % n_la]
        u = x_hist[k_out % (latency + 1)] * acc * make_up
        left, right = direct[0] * u, direct[1] * u
        rin0, rin1 = u, u
        if has_delay:
            od = dbuf[0, dpos] + dbuf[2, dpos]
            ev = dbuf[1, dpos]
            y1 = loop_sos[0] * od + dstate[0, 0]
            dstate[0, 0] = loop_sos[1] * od - loop_sos[3] * y1 + dstate[0, 1]
            dstate[0, 1] = loop_sos[2] * od - loop_sos[4] * y1
            y2 = loop_sos[0] * ev + dstate[1, 0]
            dstate[1, 0] = loop_sos[1] * ev - loop_sos[3] * y2 + dstate[1, 1]
            dstate[1, 1] = loop_sos[2] * ev - loop_sos[4] * y2
            dbuf[0, dpos] = u
            dbuf[1, dpos] = feedback * y1
            dbuf[2, dpos] = feedback * y2
            dpos = (dpos + 1) % d
            dl = d_gain * (odd_g[0] * od + even_g[0] * ev)
            dr = d_gain * (odd_g[1] * od + even_g[1] * ev)
            left += dl
            right += dr
            rin0 += send * dl
            rin1 += send * dr
        if has_reverb:
            for i in range(n_lines):
                o[i] = w_buf[i, (k_out - delays[i]) % size]
                o_hist[i, k_out % n_taps] = o[i]
            for i in range(n_lines):
                acc = 0.0
                for j in range(n_taps):
                    acc += taps[i, j] * o_hist[i, (k_out - j) % n_taps]
                s[i] = acc
            for i in range(n_lines):
                acc = b[i, 0] * rin0 + b[i, 1] * rin1
                for k in range(n_lines):
                    acc += U[i, k] * s[k]
                w_buf[i, k_out % size] = acc
            for ch in range(2):
                v = 0.0
                for i in range(n_lines):
                    v += c[ch, i] * o[i]
                for k in range(tone_sos.shape[0]):
                    y = tone_sos[k, 0] * v + tone_state[ch, k, 0]
                    tone_state[ch, k, 0] = tone_sos[k, 1] * v - tone_sos[k, 3] * y + tone_state[ch, k, 1]
                    tone_state[ch, k, 1] = tone_sos[k, 2] * v - tone_sos[k, 4] * y
                    v = y
                if ch == 0:
                    left += v
                else:
                    right += v
        out[0, k_out] = left
        out[1, k_out] = right
    return out[:, :n]


def render_per_sample(params: ExactParameters, x: np.ndarray) -> np.ndarray:
    """The exact chain as one per-sample loop: (T,) -> (2, T), float64."""
    p, d, r = params, params.delay, params.reverb
    empty2 = np.zeros((1, 2))
    return _per_sample(
        np.ascontiguousarray(x, np.float64), p.eq_sos, p.avg_coef, p.cmp_th, p.cmp_slope, p.exp_th,
        p.exp_slope, p.attack, p.release, p.lookahead_taps, p.lookahead_pre, p.make_up,
        p.direct_gains, d is not None, d["d"] if d else 1, d["loop_sos"] if d else np.zeros(5),
        d["feedback"] if d else 0.0, d["gain"] if d else 0.0, d["odd_gains"] if d else np.zeros(2),
        d["even_gains"] if d else np.zeros(2), p.send, r is not None,
        r["b"] if r else empty2.T.copy(), r["c"] if r else empty2.copy(), r["U"] if r else np.zeros((1, 1)),
        r["taps"] if r else np.zeros((1, 1)), r["delays"] if r else np.ones(1, np.int64),
        r["tone_sos"] if r else np.zeros((1, 5)))


def time_exact(preset, seconds: float = 60.0, blocks=(64, 128, 256, 512, 1024, 4096),
               clip_q: float | None = 0.707, repeat: int = 3, baseline: bool = True) -> dict:
    """Real-time factors (audio seconds per wall-clock second, one thread) of the exact chain:
    offline, streamed in each block size, and the per-sample baseline, on ``seconds`` of the demo
    vocal (repeated)."""
    import time

    import torch

    from ..audio import demo_vocal
    from ..realtime import Stream, exact_parameters, render_exact
    from .common import median_time

    vocal = demo_vocal()
    x = np.tile(vocal, int(np.ceil(seconds * 44100 / len(vocal))))[: int(seconds * 44100)].astype(np.float64)
    params = exact_parameters(preset.to_chain(), clip_q)
    cpu = torch.device("cpu")
    offline = median_time(lambda: render_exact(params, x), cpu, repeat)
    result = {"seconds_of_audio": seconds, "preset": preset.name, "clip_q": clip_q,
              "offline_s": offline, "offline_rtf": seconds / offline, "stream": []}
    for block in blocks:
        stream = Stream(params)

        def run():
            stream.reset()
            for i in range(0, len(x), block):
                stream.process(x[i:i + block])
        t = median_time(run, cpu, repeat)
        result["stream"].append({"block": block, "seconds": t, "rtf": seconds / t,
                                 "per_block_ms": 1000 * t / -(-len(x) // block)})
    if baseline:
        render_per_sample(params, x[:4410])  # compile
        start = time.perf_counter()
        render_per_sample(params, x)
        result["per_sample_s"] = time.perf_counter() - start
        result["per_sample_rtf"] = seconds / result["per_sample_s"]
        result["speedup_over_per_sample"] = result["per_sample_s"] / offline
    return result
