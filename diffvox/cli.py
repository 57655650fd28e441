"""The ``diffvox`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _render(args) -> None:
    import torch

    from .audio import read_audio, to_mono, write_audio
    from .presets import load_preset

    preset = load_preset(args.preset)
    mono, downmixed = to_mono(read_audio(args.input))
    if downmixed:
        print(f"diffvox: note: {args.input} is not mono; rendering the mean of its channels",
              file=sys.stderr)
    model = preset.to_chain().eval()
    with torch.no_grad():
        wet = model(torch.from_numpy(mono).view(1, 1, -1))[0].numpy()
    write_audio(args.output, wet)
    print(f"wrote {args.output} ({wet.shape[1] / 44100:.2f} s, stereo, 44.1 kHz, {preset.name})")


def _format_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _show(args) -> None:
    from .presets import load_preset

    preset = load_preset(args.preset)
    decoded = preset.decode()
    if args.json:
        json.dump(decoded, sys.stdout, indent=1)
        print()
        return
    print(f"preset {preset.name}")
    for i, band in enumerate(decoded["eq"], 1):
        gain = f"  {band['gain_db']:+.2f} dB" if "gain_db" in band else ""
        print(f"  EQ {i} {band['type']:9s} {band['freq_hz']:9.1f} Hz  Q {band['Q']:.3g}{gain}")
    c = decoded["compressor"]
    print(f"  compressor  threshold {c['cmp_th_db']:.1f} dB  ratio {c['cmp_ratio']:.2f}:1  "
          f"attack {c['attack_ms']:.3g} ms  release {c['release_ms']:.3g} ms  "
          f"lookahead {c['lookahead_ms']:.2f} ms  make-up {c['make_up_db']:+.2f} dB")
    print(f"  expander    threshold {c['exp_th_db']:.1f} dB  ratio {c['exp_ratio']:.3f}:1  "
          f"RMS average {c['rms_average_ms']:.3g} ms")
    print(f"  direct pan  {decoded['direct_pan']['pan_percent']:+.1f} %")
    if "delay" in decoded:
        d = decoded["delay"]
        print(f"  delay       {d['delay_ms']:.1f} ms  feedback {d['feedback']:.3f}  gain "
              f"{d['gain']:.4f}  loop low-pass {d['lowpass']['freq_hz']:.0f} Hz Q "
              f"{d['lowpass']['Q']:.2f}  pans {d['odd_pan']['pan_percent']:+.1f} % / "
              f"{d['even_pan']['pan_percent']:+.1f} %")
    if "send_delay_to_reverb" in decoded:
        print(f"  send        delay -> reverb {decoded['send_delay_to_reverb']:.4f}")
    if "reverb" in decoded:
        r = decoded["reverb"]
        t60 = np.array(r["t60_s"])
        print(f"  reverb      T60 {t60.min():.2f}..{t60.max():.2f} s (median {np.median(t60):.2f} s)")
        for band in r["eq"]:
            print(f"    tone {band['type']:9s} {band['freq_hz']:8.1f} Hz  Q {band['Q']:.3g}  "
                  f"{band.get('gain_db', 0.0):+.2f} dB")


def _export(args) -> None:
    from tqdm import tqdm

    from .presets import load_dataset

    dataset = load_dataset(args.dataset)
    out = Path(args.outdir)
    for i in tqdm(range(len(dataset)), desc=f"export {args.dataset}", unit="preset"):
        dataset.preset(i).save(out / f"{args.dataset}_{i:03d}.json")
    print(f"wrote {len(dataset)} presets to {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffvox", description="Differentiable vocal effects.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="process a dry vocal with a preset")
    p.add_argument("preset", help="medleydb:N, internal:N or a preset JSON file")
    p.add_argument("input", help="dry vocal, WAV/FLAC at 44.1 kHz (stereo is downmixed)")
    p.add_argument("output", help="stereo 32-bit float WAV to write")
    p.set_defaults(func=_render)

    presets = sub.add_parser("presets", help="inspect and export presets")
    psub = presets.add_subparsers(dest="presets_command", required=True)
    p = psub.add_parser("show", help="decoded physical values with units")
    p.add_argument("preset")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_show)
    p = psub.add_parser("export", help="one JSON file per preset of a dataset")
    p.add_argument("dataset", choices=["internal", "medleydb"])
    p.add_argument("outdir")
    p.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, IndexError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        print(f"diffvox: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
