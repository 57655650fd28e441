"""The ``diffvox`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path


def _render(args) -> None:
    import numpy as np
    import torch

    from .audio import output_format, read_audio, to_mono, write_audio
    from .fileio import check_output_file
    from .presets import load_preset

    if not args.exact and (args.clip_q is not None or args.block is not None):
        raise ValueError("--clip-q and --block apply to the exact renderer: add --exact")
    if args.clip_q is not None and not args.clip_q > 0:
        raise ValueError(f"--clip-q must be a positive Q, got {args.clip_q}")
    if args.block is not None and args.block < 1:
        raise ValueError(f"--block must be at least 1 sample, got {args.block}")
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise ValueError(f"the output {args.output} is the input: choose another file name")
    check_output_file(args.output, args.overwrite)
    output_format(args.output)
    preset = load_preset(args.preset)
    mono, downmixed = to_mono(read_audio(args.input))
    if not mono.any():
        warnings.warn(f"{args.input} is silent: its render is silent too", stacklevel=1)
    if downmixed:
        print(f"diffvox: note: {args.input} is not mono; rendering the mean of its channels",
              file=sys.stderr)
    if args.exact:
        from .realtime import render_exact, render_stream

        if args.block is not None:
            wet = render_stream(preset, mono, args.block, clip_q=args.clip_q)
        else:
            wet = render_exact(preset, mono, clip_q=args.clip_q)
        how = "exact time-domain chain" + (f", Q clip {args.clip_q:g}" if args.clip_q else "")
    else:
        model = preset.to_chain().eval()
        with torch.no_grad():
            wet = model(torch.from_numpy(mono).view(1, 1, -1))[0].numpy()
        how = "frequency-sampled chain"
    peak = float(np.abs(wet).max(initial=0.0))
    if peak > 1.0:
        warnings.warn(f"the render of {preset.name} peaks at {20 * np.log10(peak):+.1f} dBFS (above full "
                      "scale); it is written unclipped" + (" to WAV" if args.output.lower().endswith(".wav")
                                                          else ""), stacklevel=1)
    write_audio(args.output, wet)
    print(f"wrote {args.output} ({wet.shape[1] / 44100:.2f} s, stereo, 44.1 kHz, {preset.name}, {how})")


def _show(args) -> None:
    from .chain import DiffVox
    from .preset_values import describe
    from .presets import load_preset

    preset = load_preset(args.preset)
    if args.json:  # the preset file itself: `render`, `match` and Preset.load read it back
        json.dump(preset.to_json(), sys.stdout, indent=1, allow_nan=False)
        print()
        return
    decoded = preset.decode()
    print(f"preset {preset.name}")
    print("\n".join(describe(DiffVox(**preset.chain), decoded)))


def _fresh_files(folder: str, names: list[str], overwrite: bool) -> Path:
    """The output folder, created and checked, holding none of ``names`` unless ``overwrite``."""
    from .fileio import prepare_output_dir

    out = prepare_output_dir(folder)
    taken = [name for name in names if (out / name).exists()]
    if taken and not overwrite:
        raise ValueError(f"{out} already holds {len(taken)} of the files to write (e.g. {taken[0]}); "
                         "diffvox does not overwrite files: choose another folder or pass --overwrite")
    return out


def _export(args) -> None:
    from .presets import load_dataset
    from .progress import progress_bar

    dataset = load_dataset(args.dataset)
    out = _fresh_files(args.outdir, [f"{args.dataset}_{i:03d}.json" for i in range(len(dataset))],
                       args.overwrite)
    for i in progress_bar(range(len(dataset)), desc=f"export {args.dataset}", unit="preset"):
        dataset.preset(i).save(out / f"{args.dataset}_{i:03d}.json", overwrite=True)
    print(f"wrote {len(dataset)} presets to {out}")


def _correlations(args) -> None:
    from .analysis import correlation_table

    table = correlation_table(args.dataset, args.top)
    if args.csv:
        print(table.to_csv(index=False, float_format="%.6f"), end="")
        return
    other = "medleydb" if args.dataset == "internal" else "internal"
    print(f"{'rank':>4s}  {'param_a':16s} {'param_b':16s} {'SCC ' + args.dataset:>14s} {'SCC ' + other:>14s}")
    for r in table.itertuples():
        print(f"{r.rank:4d}  {r.param_a:16s} {r.param_b:16s} {r.scc:14.3f} {r.scc_other:14.3f}")


def _pca(args) -> None:
    from .analysis import pca_summary

    if args.project_onto == args.dataset:
        raise ValueError("--project-onto names the other dataset (its mean and components)")
    result = pca_summary(args.dataset, projected_on=args.project_onto)
    if args.json:
        print(json.dumps({k: result[k] for k in ("explained_variance_ratio", "cumulative",
                                                  "share_for_99")}))
        return
    print(f"{'PC':>4s} {'explained':>10s} {'cumulative':>11s}")
    for i, (e, c) in enumerate(zip(result["explained_variance_ratio"], result["cumulative"]), 1):
        print(f"{i:4d} {e:10.4f} {c:11.4f}")
    print(f"99 % of the variance: {result['components_for_99']} of {len(result['cumulative'])} "
          f"components ({100 * result['share_for_99']:.1f} %)")


#: the most presets one `presets sample` call writes (about 20 kB each: 2 GB of JSON)
MAX_SAMPLES = 100_000
SAMPLE_BATCH = 1000  # presets drawn at a time: memory stays constant whatever --n


def _sample(args) -> None:
    import numpy as np
    import torch

    from .analysis import analysed_rows
    from .analysis.generative import build
    from .presets import Preset, load_dataset
    from .progress import progress_bar

    if not 1 <= args.n <= MAX_SAMPLES:
        raise ValueError(f"--n must be between 1 and {MAX_SAMPLES}, got {args.n}")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    names = [f"{args.model}_{i:04d}.json" for i in range(args.n)]
    from .fileio import prepare_output_dir

    if Path(args.out).exists() and not Path(args.out).is_dir():
        prepare_output_dir(args.out)  # the one-line error for a file given as the folder
    if Path(args.out).is_dir() and not args.overwrite:
        _fresh_files(args.out, names, args.overwrite)  # refused before the model is built
    print(f"diffvox: fitting the {args.model} model to Internal's presets ...", file=sys.stderr)
    ds = load_dataset("internal")
    model = build(args.model, analysed_rows("internal"), seed=args.seed)
    out = _fresh_files(args.out, names, args.overwrite)
    probe = torch.zeros(1, 1, 4410)
    probe[..., 0] = 1.0
    bar = progress_bar(total=args.n, desc=f"sample {args.model}", unit="preset")
    for first in range(0, args.n, SAMPLE_BATCH):
        batch = first // SAMPLE_BATCH  # batch 0 draws with --seed itself, as one draw of --n did
        seed = args.seed if batch == 0 else int(np.random.SeedSequence([args.seed, batch]).generate_state(1)[0])
        for j, vector in enumerate(model.sample(min(SAMPLE_BATCH, args.n - first), seed=seed)):
            i = first + j
            preset = Preset.from_masked(vector, ds.feature_mask, ds.layout, f"{args.model}_sample_{i:04d}")
            preset.source = {"model": args.model, "seed": args.seed, "index": i, "fitted_on": "internal"}
            with torch.no_grad():
                if not torch.isfinite(preset.to_chain().eval()(probe)).all():
                    raise ValueError(f"sample {i} does not render to finite audio")
            preset.save(out / names[i], overwrite=True)
            bar.update(1)
    bar.close()
    print(f"wrote {args.n} presets sampled from the {args.model} model to {out}")


def _match_config(args):
    from .devices import resolve_device
    from .matching import MatchConfig

    try:
        resolve_device(args.device)
    except ValueError as err:
        raise ValueError(f"--device: {err}") from None
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    return MatchConfig(steps=args.steps, lr=args.lr, batch=args.batch,
                       chunk_seconds=args.chunk_seconds, overlap_seconds=args.overlap_seconds,
                       variant=args.variant, device=args.device, seed=args.seed,
                       checkpoint_every=args.checkpoint_every, keep=args.keep)


def _metric_text(value, width: int) -> str:
    return f"{'n/a':>{width}s}" if value is None else f"{value:{width}.4f}"


def _print_metrics(metrics: dict) -> None:
    from .matching import METRICS

    print(f"{'':16s}" + "".join(f"{k:>10s}" for k in METRICS))
    for label, key in (("no processing", "no_processing"), ("fitted", "fitted"),
                       ("fitted, exact", "fitted_exact")):
        if metrics.get(key) is not None:
            print(f"{label:16s}" + "".join(_metric_text(metrics[key][k], 10) for k in METRICS))
    if metrics.get("note"):
        print(f"note: {metrics['note']}")
    if metrics.get("fitted_exact_error"):
        print(f"fitted, exact: not rendered ({metrics['fitted_exact_error']})")


def _match(args) -> None:
    from .audio import read_audio
    from .matching import fit
    from .matching.runfolder import MATCH_FILES, RunFolder

    if args.pairs_file is not None:
        return _match_many(args)
    if args.dry is None or args.wet is None:
        raise ValueError("match needs DRY and WET files, or --pairs-file")
    if args.variants is not None:
        raise ValueError("--variants needs --pairs-file; a single fit takes --variant")
    config = _match_config(args)
    RunFolder(args.out, "match", {}, writes=MATCH_FILES).refuse_inputs([args.dry, args.wet])
    dry, wet = read_audio(args.dry, what="dry"), read_audio(args.wet, what="wet")
    metrics = fit(dry, wet, args.out, config, resume=args.resume, progress=not args.quiet,
                  overwrite=args.overwrite)
    _print_metrics(metrics)
    print(f"wrote preset.json, history.csv, metrics.json, render.wav and render_exact.wav to {args.out}")


def _match_many(args) -> None:
    from .audio import read_audio
    from .matching import VARIANTS
    from .matching.batch import Job, fit_many, read_pairs_file

    if args.dry is not None:
        raise ValueError("give DRY and WET files or --pairs-file, not both")
    variants = [None] if args.variants is None else [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v is not None and v not in VARIANTS]
    if unknown or len(set(variants)) != len(variants):
        raise ValueError(f"--variants: {'unknown variant ' + repr(unknown[0]) if unknown else 'a variant twice'}; "
                         f"choose from {', '.join(VARIANTS)}")
    config = _match_config(args)
    jobs = []
    for dry_file, wet_file, name in read_pairs_file(args.pairs_file):
        dry, wet = read_audio(dry_file), read_audio(wet_file)
        for variant in variants:
            jobs.append(Job(dry, wet, name, variant or config.variant,
                            f"{name}/{variant}" if variant else name))
    results = fit_many(jobs, args.out, config, resume=args.resume, progress=not args.quiet)
    for folder, metrics in results.items():
        print(f"== {folder}")
        if "error" in metrics:
            print(f"not fitted: {metrics['error']}")
        else:
            _print_metrics(metrics)
    print(f"wrote {len(results)} fits to {args.out} (one folder each; the run's checkpoint and "
          "batch.json in the folder itself)")


def _evaluate(args) -> None:
    from .audio import read_audio
    from .matching import evaluate
    from .matching.evaluate import as_stereo

    signals = []
    for path, what in ((args.pred, "prediction"), (args.target, "target")):
        audio = read_audio(path, what=what)
        if audio.shape[0] > 2:
            raise ValueError(f"{path} has {audio.shape[0]} channels; evaluate takes mono or stereo")
        stereo, duplicated = as_stereo(audio)
        if duplicated:
            warnings.warn(f"{path} is mono: duplicating it to stereo", stacklevel=1)
        signals.append(stereo)
    if signals[0].shape != signals[1].shape:
        raise ValueError(f"{args.pred} and {args.target} differ in length: "
                         f"{signals[0].shape[1]} and {signals[1].shape[1]} samples")
    metrics = evaluate(*signals)
    from .matching.evaluate import MONO_NOTE

    if any(v is None for v in metrics.values()):
        print(f"diffvox: note: {args.target}: {MONO_NOTE}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:8s} " + ("not defined" if value is None else f"{value:.6f}"))


def _medleydb(args) -> None:
    from .matching.medleydb import mean_table, parse_shard, relative_to_root, run_medleydb, select_pairs

    if args.list:
        missing = []
        for pair in select_pairs(args.roots, args.pairs):
            print(f"{relative_to_root(pair.raw_path, args.roots)}\t{relative_to_root(pair.stem_path, args.roots)}")
            missing += [p for p in (pair.raw_path, pair.stem_path) if not p.is_file()]
        for path in missing:
            print(f"diffvox: note: {path} is missing (its pair cannot run)", file=sys.stderr)
        return
    if args.out is None:
        raise ValueError("medleydb needs --out (or --list to print the pairs)")
    config, shard = _match_config(args), parse_shard(args.shard)
    summary = run_medleydb(args.roots, args.out, config, shard, progress=not args.quiet,
                           pairs=args.pairs, overwrite=args.overwrite)
    print(f"{len(summary)} finished pairs in {args.out} (summary.csv, table.csv)")
    if len(summary):
        print(mean_table(summary).to_string(float_format=lambda v: f"{v:.4f}"))


#: the chain variants of :data:`diffvox.matching.fit.VARIANTS`, named here so that `--help` and
#: argument errors answer without importing torch (tests/test_cli.py checks they agree)
VARIANT_NAMES = ("full", "exact-delay-grad", "no-reverb", "no-delay", "no-spatial")


def _add_match_options(p: argparse.ArgumentParser, keep: str = "best") -> None:
    VARIANTS = VARIANT_NAMES
    g = p.add_argument_group("matching (defaults: the paper's settings)")
    g.add_argument("--steps", type=int, default=2000, help="Adam steps (default 2000)")
    g.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    g.add_argument("--batch", type=int, default=35, help="chunks per step (default 35)")
    g.add_argument("--chunk-seconds", type=float, default=12.0, help="chunk length (default 12)")
    g.add_argument("--overlap-seconds", type=float, default=5.0,
                   help="warm-up part of each chunk, left out of the loss (default 5)")
    g.add_argument("--variant", choices=list(VARIANTS), default="full", help="chain variant")
    g.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--checkpoint-every", type=int, default=50,
                   help="steps between checkpoints (default 50)")
    g.add_argument("--keep", choices=["best", "final"], default=keep,
                   help=f"the preset written: lowest loss or after the last step (default {keep})")
    g.add_argument("--quiet", action="store_true", help="no progress (on a terminal a bar, "
                   "otherwise a line every 10 %%)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace a run of diffvox in --out made with other settings or audio")


def _version() -> str:
    """The installed package's version (no torch import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("diffvox")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffvox", description="Differentiable vocal effects.")
    parser.add_argument("--version", action="version", version=f"diffvox {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("render", help="process a dry vocal with a preset")
    p.add_argument("preset", help="medleydb:N, internal:N or a preset JSON file")
    p.add_argument("input", help="dry vocal, WAV/FLAC at 44.1 kHz (stereo is downmixed)")
    p.add_argument("output", help="stereo 32-bit float WAV to write")
    p.add_argument("--exact", action="store_true",
                   help="the exact time-domain chain (recursive delay, time-domain FDN): the "
                        "paper's 'w/o Approx.' renderer")
    p.add_argument("--clip-q", type=float, default=None, metavar="Q",
                   help="with --exact: clip the delay loop's low-pass Q to at most Q (the paper: 0.707)")
    p.add_argument("--block", type=int, default=None, metavar="N",
                   help="with --exact: render through the streaming renderer in blocks of N samples")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
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
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same names")
    p.set_defaults(func=_export)
    p = psub.add_parser("sample", help="new presets from a generative model of Internal's presets")
    p.add_argument("--n", type=int, required=True, help="number of presets")
    p.add_argument("--model", choices=["gaussian", "copula", "gmm"], default="gaussian")
    p.add_argument("--out", required=True, help="directory for the preset JSON files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same names")
    p.set_defaults(func=_sample)

    analyse = sub.add_parser("analyse", help="statistics of the published presets")
    asub = analyse.add_subparsers(dest="analyse_command", required=True)
    p = asub.add_parser("correlations", help="the most correlated parameter pairs (Spearman)")
    p.add_argument("--dataset", choices=["internal", "medleydb"], default="internal")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--csv", action="store_true", help="rank,param_a,param_b,scc,scc_other")
    p.set_defaults(func=_correlations)
    p = asub.add_parser("pca", help="explained variance of the principal components")
    p.add_argument("--dataset", choices=["internal", "medleydb"], default="internal")
    p.add_argument("--project-onto", choices=["internal", "medleydb"], default=None,
                   help="the dataset centred on that dataset's mean and projected on its components")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_pca)

    p = sub.add_parser("match", help="fit a preset to a (dry, wet) pair, or many pairs in one run")
    p.add_argument("dry", nargs="?", help="dry vocal (mono; stereo is downmixed), 44.1 kHz")
    p.add_argument("wet", nargs="?", help="processed vocal (stereo; mono is duplicated), 44.1 kHz")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--pairs-file", metavar="TSV", help="fit every DRY<TAB>WET<TAB>NAME line in one "
                   "batched run, each into OUT/NAME")
    p.add_argument("--variants", metavar="V1,V2", help="with --pairs-file: fit each pair once per "
                   "variant, into OUT/NAME/VARIANT (e.g. full,no-reverb,no-delay,no-spatial)")
    _add_match_options(p)
    p.set_defaults(func=_match)

    p = sub.add_parser("evaluate", help="MSS and MLDR (L/R and M/S) of a render against a target")
    p.add_argument("pred")
    p.add_argument("target")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("medleydb", help="match every vocal pair of MedleyDB")
    p.add_argument("roots", nargs="+", metavar="ROOT", help="MedleyDB folders: the dataset's root or its Audio folder")
    p.add_argument("--out", help="output directory (one folder per pair)")
    p.add_argument("--pairs", choices=["published", "rule"], default="published",
                   help="published: the paper's 70 pairs with their alignment shifts (default); "
                        "rule: the original's selection rule on the tracks' metadata")
    p.add_argument("--list", action="store_true",
                   help="print the pairs it would run, DRY<TAB>WET relative to their root, and exit")
    p.add_argument("--shard", default="1/1", help="run the i-th of n shards, e.g. 2/4")
    _add_match_options(p, keep="final")  # the original evaluates the preset after the last step
    p.set_defaults(func=_medleydb)

    from .transfer.command import add_parser as add_transfer  # style transfer (its own module)
    add_transfer(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"diffvox: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        for option in ("out", "outdir", "output", "dry", "wet", "input", "pred", "target", "preset"):
            if isinstance(getattr(args, option, None), str) and not getattr(args, option).strip():
                name = f"--{option}" if option == "out" else option  # "" would be the current folder
                raise ValueError(f"{name} was given as an empty name")
        args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `diffvox presets show ... | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, FileNotFoundError, IndexError, KeyError, RuntimeError) as err:
        message = err.args[0] if err.args else str(err)
        print(f"diffvox: error: {message}".splitlines()[0], file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a folder that became read-only, ...
        where = f": {err.filename}" if err.filename else ""
        print(f"diffvox: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = Path(args.out) if args.command == "match" and args.out else None
        hint = ""
        if where is not None and (where / "checkpoint.pt").exists():
            hint = (f"; the last checkpoint is in {where}: continue with the same command and "
                    "--resume")
        elif where is not None:
            hint = f"; no checkpoint was written yet in {where}"
        start = "\n" if sys.stderr.isatty() else ""  # not glued onto a progress bar's line
        print(f"{start}diffvox: interrupted{hint}", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
