"""What torchlpc's numba path costs against its compiled extension (the offline wheelhouse ships
torchlpc without the extension), measured on the CPU in two processes, one with each.

    python benchmarks/torchlpc_fallback.py [--batch 4] [--seconds 6] [--repeat 5] [--rounds 2] [--out FILE]

In a fit, torchlpc serves only the compressor's backward off the CPU kernels (torchcomp's
``CompressorFunction.backward`` -> ``torchlpc.sample_wise_lpc``), i.e. on a GPU, and the IIR
benchmark's torchlpc baseline. Timed, each with and without the extension, on the CPU:

* ``smoothing``: the compressor's gain smoothing, forward+backward through torchcomp's backward,
  on (batch, seconds * 44100);
* ``iir_baseline``: the IIR benchmark's torchlpc baseline (6 sections, one torchlpc call each),
  forward+backward on (batch * 2, seconds * 44100).

The extension is kept from loading by making ``import torchlpc._C`` fail, as it does when the
file is absent; the two processes must then give the same gradients. This needs a torchlpc with
the extension (``make venv`` builds one); the GPU's numba CUDA path is not measured here.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, warnings
if sys.argv[1] == "numba":
    sys.modules["torchlpc._C"] = None  # `from . import _C` raises ImportError, as with no file
warnings.simplefilter("ignore")
import torch, torchlpc
from diffvox.bench.common import machine, median_time
from diffvox.bench.iir import _prepare
from diffvox.bench.iir_baselines import torchlpc_modal
from diffvox.devices import tensor_paths
from diffvox.functional.compressor import smooth_gain
from diffvox.memory import keep_freed_memory

batch, seconds, repeat = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
keep_freed_memory()
sr, cpu = 44100, torch.device("cpu")
n = int(seconds * sr)
gen = torch.Generator().manual_seed(0)
result = {"extension_loaded": torchlpc.EXTENSION_LOADED, "machine": machine(cpu)}

gain = torch.rand(batch, n, generator=gen, dtype=torch.float32) * 0.9 + 0.05
attack = torch.full((batch,), 0.05); release = torch.full((batch,), 0.005)
def smoothing():
    g = gain.clone().requires_grad_(True); a = attack.clone().requires_grad_(True)
    r = release.clone().requires_grad_(True)
    with tensor_paths():  # torchcomp's backward, the one a GPU runs
        out = smooth_gain(g, a, r)
    out.sum().backward()
    return g.grad, a.grad, r.grad
grads = smoothing()
result["smoothing_grad_sums"] = [float(t.double().sum()) for t in grads]
result["smoothing_s"] = median_time(smoothing, cpu, repeat=repeat)

sos, x = _prepare(2 * batch, n, cpu)
def iir():
    s = sos.detach().requires_grad_(True); xx = x.detach().requires_grad_(True)
    torchlpc_modal(s[..., :3], s[..., 4:], xx).sum().backward()
    return s.grad
result["iir_baseline_grad_sum"] = float(iir().double().sum())
result["iir_baseline_s"] = median_time(iir, cpu, repeat=repeat)
print(json.dumps(result))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="processes per mode, alternating; the fastest counts")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "torchlpc_fallback_cpu.json")
    args = ap.parse_args()
    from diffvox.bench.common import write_json_atomic

    runs = {}
    for round_ in range(args.rounds):  # processes alternate, so that a drifting machine slows both alike
        for mode in ("extension", "numba"):
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.batch), str(args.seconds),
                                   str(args.repeat)], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"torchlpc_fallback: the {mode} run failed: {done.stderr.strip().splitlines()[-1:]}",
                      file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if mode in runs:  # the fastest of the rounds
                for key in ("smoothing_s", "iir_baseline_s"):
                    result[key] = min(result[key], runs[mode][key])
            runs[mode] = result
    if not runs["extension"]["extension_loaded"] or runs["numba"]["extension_loaded"]:
        print("torchlpc_fallback: needs a torchlpc with its compiled extension (make venv builds one)", file=sys.stderr)
        return 1
    ext, nb = runs["extension"], runs["numba"]
    for key in ("smoothing_grad_sums", "iir_baseline_grad_sum"):
        a, b = ext[key] if isinstance(ext[key], list) else [ext[key]], nb[key] if isinstance(nb[key], list) else [nb[key]]
        for u, v in zip(a, b):
            if abs(u - v) > 1e-4 * max(1.0, abs(u)):
                print(f"torchlpc_fallback: {key} differ: {u} with the extension, {v} without", file=sys.stderr)
                return 1
    ratios = {k: nb[f"{k}_s"] / ext[f"{k}_s"] for k in ("smoothing", "iir_baseline")}
    print(f"batch {args.batch} x {args.seconds:g} s on the CPU; seconds with the extension -> numba path:")
    for k, r in ratios.items():
        print(f"  {k:13s} {ext[f'{k}_s']:8.3f} -> {nb[f'{k}_s']:8.3f}  ({r:.2f}x)")
    machine = ext.pop("machine")
    nb.pop("machine")
    write_json_atomic(args.out, {"machine": machine, "batch": args.batch, "seconds_audio": args.seconds,
                                 "repeat": args.repeat, "rounds": args.rounds, "extension": ext, "numba": nb,
                                 "numba_over_extension": ratios})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
