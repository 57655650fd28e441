"""The IIR benchmark: a 6-biquad EQ (the chain's bands) on (rows, T) float32, every method side
by side in one run, forward and forward+backward."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..filters import sosfilt
from .common import random_chain_eq
from . import iir_baselines
from ..memory import keep_freed_memory
from .common import median_time, sync

METHODS = ("ours", "ours_scan", "torchlpc_modal", "scipy", "torch_associative_scan", "python_loop")


def copy_bandwidth(device: torch.device, n_bytes: int = 1 << 29) -> float:
    """Measured copy bandwidth in bytes/s (bytes read plus bytes written)."""
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    t = median_time(lambda: dst.copy_(src), device, repeat=5)
    return 2 * n_bytes / t


def _prepare(n_rows, n_time, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sos = random_chain_eq(n_rows, gen)
    sos = (sos / sos[..., 3:4]).to(torch.float32)
    x = torch.randn(n_rows, n_time, generator=gen, dtype=torch.float32)
    return sos.to(device), x.to(device)


def _runner(method: str, sos: torch.Tensor, x: torch.Tensor, backward: bool):
    b, a = sos[..., :3], sos[..., 4:]
    if method == "scipy":
        import scipy.signal

        # scipy takes one set of sections; run row by row with each row's own sections
        sos_all, x_np = sos.cpu().numpy(), x.cpu().numpy()
        return lambda: [scipy.signal.sosfilt(sos_all[i], x_np[i]) for i in range(x_np.shape[0])]
    fn = {
        "ours": lambda s, xx: sosfilt(s, xx),
        "ours_scan": lambda s, xx: sosfilt(s, xx, backend="scan"),
        "torchlpc_modal": lambda s, xx: iir_baselines.torchlpc_modal(s[..., :3], s[..., 4:], xx),
        "torch_associative_scan": lambda s, xx: iir_baselines.torch_associative_scan(
            s[..., :3], s[..., 4:], xx),
        "python_loop": lambda s, xx: iir_baselines.python_loop(s[..., :3], s[..., 4:], xx),
    }[method]
    if not backward:
        def run():
            with torch.no_grad():
                return fn(sos, x)
        return run
    grad_out = torch.randn_like(x)

    def run_bwd():
        s = sos.detach().requires_grad_(True)
        xx = x.detach().requires_grad_(True)
        y = fn(s, xx)
        y.backward(grad_out)
        return s.grad, xx.grad
    return run_bwd


def benchmark(n_rows: int = 70, n_time: int = 529200, device: str | torch.device = "cpu",
              methods=METHODS, reduced: dict | None = None, repeat: int = 3,
              progress: bool = True) -> list[dict]:
    """Time every method; slow ones run at ``reduced[method]`` samples and are scaled linearly.

    Returns rows ``{method, pass, seconds, measured_T, scaled, rel_to_ours}``.
    """
    device = torch.device(device)
    if device.type == "cpu":  # as a fit does (and the chain and matching benchmarks): every
        keep_freed_memory()   # method's 148 MB outputs are otherwise page-faulted in at each call
    reduced = dict(reduced or {})
    rows = []
    for method in methods:
        if method == "scipy" and device.type != "cpu":
            continue
        for backward in (False, True):
            if method == "scipy" and backward:
                continue
            t_meas = min(n_time, reduced.get(method, n_time))
            sos, x = _prepare(n_rows, t_meas, device)
            run = _runner(method, sos, x, backward)
            try:
                reps = repeat if t_meas == n_time else 1
                seconds = median_time(run, device, repeat=reps)
            except Exception as err:  # a baseline unavailable on this torch/device
                rows.append({"method": method, "pass": "fwd+bwd" if backward else "fwd",
                             "seconds": None, "error": f"{type(err).__name__}: {err}"[:200]})
                continue
            seconds *= n_time / t_meas
            row = {"method": method, "pass": "fwd+bwd" if backward else "fwd",
                   "seconds": seconds, "measured_T": t_meas, "scaled": t_meas != n_time}
            rows.append(row)
            if progress:
                print(f"  {method:24s} {row['pass']:8s} {seconds:10.4f} s"
                      + (f"  (scaled from T={t_meas})" if row["scaled"] else ""), flush=True)
            del sos, x, run
            sync(device)
    for r in rows:
        ours = next((o for o in rows if o["method"] == "ours" and o["pass"] == r["pass"]), None)
        if r.get("seconds") and ours and ours.get("seconds"):
            r["ours_speedup"] = r["seconds"] / ours["seconds"]
    return rows


def minimal_bytes(n_rows: int, n_time: int, backward: bool) -> int:
    """Fewest bytes a float32 cascade must move: read x, write y (+ read grad_y, x; write grad_x)."""
    per_sample = 4 * (2 + (3 if backward else 0))
    return n_rows * n_time * per_sample


def bandwidth_fraction(rows: list[dict], n_rows: int, n_time: int, bandwidth: float) -> None:
    """Add ``bandwidth_floor_s`` and ``bandwidth_fraction`` to each timed row, in place."""
    for r in rows:
        if r.get("seconds"):
            floor = minimal_bytes(n_rows, n_time, r["pass"] == "fwd+bwd") / bandwidth
            r["bandwidth_floor_s"] = floor
            r["bandwidth_fraction"] = floor / r["seconds"]


def sweep(lengths, batches, device: str | torch.device = "cpu", methods=METHODS,
          loop_max_t: int = 2048, repeat: int = 3, fixed_rows: int = 8, fixed_t: int = 16384) -> list[dict]:
    """Times against sequence length (``fixed_rows`` rows) and against batch (``fixed_t``
    samples): rows ``{sweep, rows, T, method, pass, seconds, bandwidth_floor_s}``. The Python
    loop only runs up to ``loop_max_t`` samples (it is O(T) with a large constant)."""
    device = torch.device(device)
    bandwidth = copy_bandwidth(device, 1 << 26)
    out = []
    for name, sizes in (("length", [(fixed_rows, t) for t in lengths]),
                        ("batch", [(b, fixed_t) for b in batches])):
        for n_rows, n_time in sizes:
            chosen = [m for m in methods if m != "python_loop" or n_time <= loop_max_t]
            rows = benchmark(n_rows, n_time, device, chosen, repeat=repeat, progress=False)
            bandwidth_fraction(rows, n_rows, n_time, bandwidth)
            out += [{"sweep": name, "rows": n_rows, "T": n_time, **r} for r in rows if r.get("seconds")]
    return out
