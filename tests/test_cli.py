"""The command line: rendering, bad input, preset display and export."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from diffvox.cli import main
from diffvox.presets import load_dataset


@pytest.fixture()
def dry(tmp_path):
    x = (np.random.default_rng(0).standard_normal(22050) * 0.1).astype(np.float32)
    path = tmp_path / "dry.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    return path, x


def test_render_writes_the_chain_output(tmp_path, dry, capsys):
    path, x = dry
    out = tmp_path / "wet.wav"
    assert main(["render", "medleydb:2", str(path), str(out)]) == 0
    wet, sr = sf.read(out, dtype="float32", always_2d=True)
    info = sf.info(out)
    assert sr == 44100 and info.subtype == "FLOAT" and wet.shape == (22050, 2)
    with torch.no_grad():
        ref = load_dataset("medleydb").preset(2).to_chain().eval()(torch.from_numpy(x).view(1, 1, -1))
    np.testing.assert_allclose(wet.T, ref[0].numpy(), atol=1e-6)


def test_stereo_input_is_downmixed_with_a_notice(tmp_path, dry, capsys):
    path, x = dry
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, 0.5 * x], 1), 44100, subtype="FLOAT")
    assert main(["render", "internal:5", str(stereo), str(tmp_path / "o.wav")]) == 0
    assert "not mono" in capsys.readouterr().err


def _bad_files(tmp_path):
    x = np.zeros(1000, np.float32)
    sf.write(tmp_path / "48k.wav", x, 48000)
    nan = x.copy()
    nan[10] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 44100, subtype="FLOAT")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 44100)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    return {"48k.wav": "48000 Hz", "nan.wav": "NaN", "empty.wav": "no samples",
            "junk.wav": "cannot read", "missing.wav": "does not exist"}


def test_bad_input_gets_one_line_and_no_output(tmp_path, dry, capsys):
    for name, message in _bad_files(tmp_path).items():
        out = tmp_path / f"out_{name}"
        assert main(["render", "medleydb:0", str(tmp_path / name), str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("diffvox: error:") and message in err and "\n" not in err
        assert not out.exists()
    for preset, message in (("medleydb:70", "0..69"), ("internal:-400", "0..384"),
                            ("nope", "unknown preset")):
        assert main(["render", preset, str(dry[0]), str(tmp_path / "o.wav")]) == 2
        assert message in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.wav"))  # no temporary files left


def test_show_and_export(tmp_path, capsys):
    assert main(["presets", "show", "medleydb:1", "--json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert len(decoded["eq"]) == 6 and len(decoded["reverb"]["decay_gamma"]) == 49
    assert main(["presets", "show", "internal:0"]) == 0
    text = capsys.readouterr().out
    assert "compressor" in text and "Hz" in text and "ms" in text
    assert main(["presets", "export", "medleydb", str(tmp_path / "out")]) == 0
    files = sorted((tmp_path / "out").glob("*.json"))
    assert len(files) == 70
    assert "wrote 70 presets" in capsys.readouterr().out
    # an exported file renders through the CLI like the dataset row
    assert main(["presets", "show", str(files[3]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["eq"] == load_dataset("medleydb").preset(3).decode()["eq"]


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "diffvox.cli", "presets", "show", "medleydb:0"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "reverb" in result.stdout


def test_written_files_have_ordinary_permissions(tmp_path, dry):
    import os
    import stat

    out = tmp_path / "wet.wav"
    assert main(["render", "medleydb:0", str(dry[0]), str(out)]) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


def test_cli_output_and_preset_mistakes(tmp_path, capsys):
    """Output = input, an unknown output suffix, a negative index and audio given as the preset
    each give one line on stderr and write nothing; .flac is written as FLAC."""
    import soundfile as sf

    from diffvox.audio import demo_vocal, write_audio

    dry = tmp_path / "dry.wav"
    write_audio(dry, demo_vocal(0.5)[None])
    before = dry.read_bytes()
    cases = (["render", "medleydb:0", str(dry), str(dry)], "is the input"), \
            (["render", "medleydb:0", str(dry), str(tmp_path / "o.mp3")], ".wav"), \
            (["render", "medleydb:-1", str(dry), str(tmp_path / "o.wav")], "0..69"), \
            (["render", str(dry), "medleydb:0", str(tmp_path / "o.wav")], "is it audio")
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
    assert dry.read_bytes() == before
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "o.mp3").exists()
    assert main(["render", "medleydb:0", str(dry), str(tmp_path / "o.flac")]) == 0
    assert sf.info(str(tmp_path / "o.flac")).format == "FLAC"


def test_silence_renders_with_a_warning_and_a_silent_target_is_refused(tmp_path, dry, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050, np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "o.wav"
    with pytest.warns(UserWarning, match="is silent: its render is silent too"):
        assert main(["render", "medleydb:0", str(silent), str(out)]) == 0
    assert not sf.read(out)[0].any()
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.stack([dry[1], 0.5 * dry[1]], 1), 44100, subtype="FLOAT")  # stereo: M/S defined
    assert main(["evaluate", str(noise), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "target is silent" in err and "\n" not in err
    assert main(["evaluate", str(out), str(noise), "--json"]) == 0  # a silent prediction is scored
    assert all(np.isfinite(list(json.loads(capsys.readouterr().out).values())))


def test_user_mistakes_give_one_line_no_output_and_no_traceback(tmp_path, dry, capsys):
    """A table of mistakes: each exits non-zero with one line on stderr, writes no file and
    prints no traceback."""
    import os

    d = str(dry[0])
    existing = tmp_path / "existing.wav"
    existing.write_bytes(b"made by the user")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    os.chmod(readonly, 0o555)
    if os.geteuid() == 0:  # root writes into read-only folders; /proc takes no new files
        readonly = Path("/proc")
    (tmp_path / "a_file").write_text("x")
    preset = tmp_path / "p.json"
    data = load_dataset("medleydb").preset(0).to_json()
    data["layout"]["keys"] = data["layout"]["keys"][:-1]
    preset.write_text(json.dumps(data))
    match = ["match", d, d, "--quiet", "--steps", "1"]
    cases = [
        (["render", "medleydb:0", d, str(existing)], "exists; diffvox does not overwrite"),
        (["render", "medleydb:0", d, str(tmp_path)], "is a directory"),
        (["render", "medleydb:0", d, str(readonly / "o.wav")], "not writable"),
        (["render", "medleydb:0", d, str(tmp_path / "a_file" / "o.wav")], "is a file, not a folder"),
        (["render", str(preset), d, str(tmp_path / "o.wav")], "layout"),
        (["render", d, "medleydb:0", str(tmp_path / "o.wav")], "is it audio"),
        (["render", "medleydb:-1", d, str(tmp_path / "o.wav")], "0..69"),
        (["render", str(tmp_path), d, str(tmp_path / "o.wav")], "is a directory, not a preset"),
        ([*match, "--out", str(tmp_path / "a_file")], "is an existing file"),
        ([*match, "--out", str(readonly / "run")], "cannot write in the output folder"),
        ([*match, "--out", str(tmp_path / "r1"), "--chunk-seconds", "inf"], "chunk length"),
        ([*match, "--out", str(tmp_path / "r2"), "--overlap-seconds", "20"], "overlap"),
        ([*match, "--out", str(tmp_path / "r3"), "--lr", "nan"], "learning rate"),
        (["presets", "export", "medleydb", str(tmp_path / "a_file")], "is an existing file"),
        (["presets", "sample", "--n", "2", "--out", str(readonly)], "cannot write in the output folder"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("diffvox: error:") and message in err[0], (argv, err)
        assert "Traceback" not in err[0]
    assert existing.read_bytes() == b"made by the user"
    assert not (tmp_path / "o.wav").exists()
    assert not any((tmp_path / r).exists() and any((tmp_path / r).iterdir()) for r in ("r1", "r2", "r3"))
    # --overwrite replaces the file on purpose
    assert main(["render", "medleydb:0", d, str(existing), "--overwrite"]) == 0
    assert sf.info(str(existing)).frames == len(dry[1])


def test_export_and_sample_do_not_overwrite(tmp_path, capsys):
    assert main(["presets", "sample", "--n", "2", "--out", str(tmp_path / "s")]) == 0
    first = (tmp_path / "s" / "gaussian_0000.json").read_text()
    capsys.readouterr()
    assert main(["presets", "sample", "--n", "2", "--out", str(tmp_path / "s"), "--seed", "1"]) == 2
    assert "already holds 2 of the files" in capsys.readouterr().err
    assert (tmp_path / "s" / "gaussian_0000.json").read_text() == first
    assert main(["presets", "sample", "--n", "2", "--out", str(tmp_path / "s"), "--seed", "1",
                 "--overwrite"]) == 0
    assert (tmp_path / "s" / "gaussian_0000.json").read_text() != first


def test_interrupt_and_broken_pipe_print_no_traceback(tmp_path):
    """Ctrl-C during `match` (SIGINT to the process): one line naming the checkpoint, exit 130;
    `presets show | head -1`: no BrokenPipeError."""
    import signal
    import time

    from diffvox.audio import demo_vocal, write_audio

    dry = tmp_path / "dry.wav"
    write_audio(dry, demo_vocal(3.0)[None])
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "diffvox.cli", "match", str(dry), str(dry), "--out", str(out),
                             "--steps", "100000", "--checkpoint-every", "1", "--batch", "1",
                             "--chunk-seconds", "1", "--overlap-seconds", "0.25", "--quiet"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = [line for line in err.strip().splitlines() if line]
    assert lines[-1].startswith("diffvox: interrupted; the last checkpoint is in") and "--resume" in lines[-1]
    assert "Traceback" not in err
    assert not (out / ".lock").exists()
    shell = subprocess.run(f"{sys.executable} -m diffvox.cli presets show medleydb:0 --json | head -1",
                           shell=True, capture_output=True, text=True, check=False)
    assert shell.stdout == "{\n" and "Error" not in shell.stderr and "Traceback" not in shell.stderr


# --- a hostile user (issue 25): every case exits non-zero with one line, or warns, and leaves
# every file as it was and no new file behind ---------------------------------------------------

def _snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with its bytes (None for folders)."""
    return {p: (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _refused(argv, message, capsys):
    capsys.readouterr()
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("diffvox: error:") and message in err[0], (argv, err)
    return err[0]


@pytest.fixture()
def pair_files(tmp_path):
    """dry.wav (2 s of the demo vocal) and wet.wav (its render by medleydb:2)."""
    from diffvox.audio import demo_vocal, write_audio

    dry = demo_vocal(2.0)
    with torch.no_grad():
        wet = load_dataset("medleydb").preset(2).to_chain().eval()(torch.from_numpy(dry).view(1, 1, -1))[0]
    write_audio(tmp_path / "dry.wav", dry[None])
    write_audio(tmp_path / "wet.wav", wet.numpy())
    return str(tmp_path / "dry.wav"), str(tmp_path / "wet.wav")


TINY_MATCH = ["--steps", "1", "--batch", "1", "--chunk-seconds", "1", "--overlap-seconds", "0.25", "--quiet"]


def test_hostile_run_folders_are_refused_before_any_work(tmp_path, pair_files, capsys):
    """match refuses a folder of someone else's files (with or without --resume), an input
    that the run would overwrite, --resume with no checkpoint, a live run's folder (named, with
    what to do) and a damaged checkpoint (no torch advice); every file stays as it was."""
    from diffvox.fileio import folder_lock

    d, w = pair_files
    user = tmp_path / "user"
    user.mkdir()
    for name in ("render.wav", "metrics.json", "preset.json", "history.csv"):
        (user / name).write_text(f"the user's {name}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "render.wav").write_bytes(Path(w).read_bytes())  # the wet target, inside --out
    before = _snapshot(tmp_path)
    match = ["match", d, w, *TINY_MATCH]
    _refused([*match, "--out", str(user)], "not a diffvox match run (history.csv, metrics.json, preset.json", capsys)
    _refused([*match, "--out", str(user), "--resume"], "not a diffvox match run", capsys)
    _refused([*match, "--out", str(user), "--overwrite"], "not a diffvox match run", capsys)
    _refused(["match", d, str(run / "render.wav"), "--out", str(run), *TINY_MATCH],
             "lies in the output folder", capsys)
    _refused([*match, "--out", str(tmp_path / "nothing"), "--resume"], "holds no run to continue", capsys)
    with folder_lock(tmp_path / "live", "diffvox match into live"):
        err = _refused([*match, "--out", str(tmp_path / "live")], "in use by a live run", capsys)
        assert "diffvox match into live" in err and "wait for it" in err
    (tmp_path / "live").rmdir()
    # a run of ours whose checkpoint is damaged: refused without torch's weights_only advice
    from diffvox.audio import read_audio

    fit_module = sys.modules["diffvox.matching.fit"]  # the package's "fit" is the function
    from diffvox.cli import build_parser, _match_config

    config = _match_config(build_parser().parse_args([*match, "--out", "x"]))
    folder = fit_module.match_folder(tmp_path / "damaged", config,
                                     fit_module.audio_digest(read_audio(d), read_audio(w)))
    with folder.claim("new"):
        (folder.path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    before = _snapshot(tmp_path)
    err = _refused([*match, "--out", str(tmp_path / "damaged"), "--resume"], "damaged or not a diffvox checkpoint", capsys)
    assert "weights_only" not in err and "arbitrary code" not in err
    _refused([*match, "--out", str(tmp_path / "damaged")], "--resume", capsys)  # it has a checkpoint
    _refused([*match, "--out", str(tmp_path / "damaged"), "--lr", "0.5", "--resume"], "other settings (lr=0.01, now 0.5)", capsys)
    assert _snapshot(tmp_path) == before


def test_match_refusals_name_the_track_and_the_option(tmp_path, pair_files, capsys):
    d, w = pair_files
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((44100, 2), np.float32), 44100, subtype="FLOAT")
    (tmp_path / "folder").mkdir()
    before = _snapshot(tmp_path)
    out = ["--out", str(tmp_path / "o"), *TINY_MATCH]
    _refused(["match", d, str(silent), *out], "the wet signal is silent", capsys)
    _refused(["match", str(silent), w, *out], "the dry signal is silent", capsys)
    _refused(["match", d, str(tmp_path / "nope.wav"), *out], f"the wet file {tmp_path / 'nope.wav'} does not exist", capsys)
    _refused(["match", str(tmp_path / "folder"), w, *out], "the dry file", capsys)
    _refused(["match", "", w, *out], "dry was given as an empty name", capsys)
    _refused(["match", d, w, *out, "--seed", "-1"], "--seed must be a non-negative integer", capsys)
    _refused(["presets", "sample", "--n", "1", "--seed", "-1", "--out", str(tmp_path / "s")], "--seed", capsys)
    _refused(["presets", "sample", "--n", "100000000", "--out", str(tmp_path / "s")], "--n must be between 1 and 100000", capsys)
    _refused(["presets", "show", ""], "preset was given as an empty name", capsys)
    _refused(["presets", "export", "medleydb", ""], "outdir was given as an empty name", capsys)
    _refused(["presets", "sample", "--n", "1", "--out", ""], "--out was given as an empty name", capsys)
    _refused(["match", d, w, "--out", "", *TINY_MATCH], "--out was given as an empty name", capsys)
    _refused(["presets", "show", str(tmp_path / "missing.json")], "no preset file", capsys)
    _refused(["render", "medleydb:0", str(tmp_path / "folder"), str(tmp_path / "x.wav")], "is a folder, not an audio file", capsys)
    _refused(["render", "medleydb:0", "", str(tmp_path / "x.wav")], "empty name", capsys)
    assert _snapshot(tmp_path) == before


def _preset_file(tmp_path, edit, name="p.json"):
    data = load_dataset("medleydb").preset(6).to_json()
    edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_preset_file_round_trip_and_strict_loading(tmp_path, dry, capsys):
    """`presets show --json` writes the file `render` reads; a typo (top level or inside), an
    extra or missing band, a null, a value outside its domain and a t60_s of the wrong length or
    with one edited element are refused naming the field."""
    from diffvox.presets import Preset

    capsys.readouterr()
    assert main(["presets", "show", "medleydb:6", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    shown["direct_pan"].update(pan=0.25, pan_percent=-50.0)
    (tmp_path / "x.json").write_text(json.dumps(shown))
    assert main(["render", str(tmp_path / "x.json"), str(dry[0]), str(tmp_path / "x.wav")]) == 0
    assert Preset.load(tmp_path / "x.json").decode()["direct_pan"]["pan"] == pytest.approx(0.25)

    def drop_logits(data):
        del data["logits"], data["layout"]
    cases = [
        (lambda d: d.update(direct_pann=d.pop("direct_pan")), "unknown preset field 'direct_pann' (did you mean \"direct_pan\"?)"),
        (lambda d: d.update(colour="red"), "unknown preset field 'colour'"),
        (lambda d: d["eq"][0].update(frq_hz=100.0), 'unknown field eq[0].frq_hz (did you mean "freq_hz"?)'),
        (lambda d: d["eq"].append(dict(d["eq"][0])), "eq has 7 elements; it must have exactly 6 (eq[6] is extra)"),
        (lambda d: d["eq"].pop(), "eq has 5 elements; it must have exactly 6 (eq[5] is missing)"),
        (lambda d: d["eq"][0].update(freq_hz=None), "eq[0].freq_hz is null"),
        (lambda d: d["compressor"].update(make_up_db=True), "compressor.make_up_db must be a number"),
        (lambda d: d["logits"].update(foo=[1.0]), "unknown key logits.foo"),
        (lambda d: d.update(eq={}), "preset field eq must be a list of 6 objects"),
        (lambda d: d.update(delay=None), "delay is null"),
        (lambda d: d["eq"][0].update(gain_db=100.0), "eq[0].gain_db = 100 dB is outside its range [-60, 60] dB"),
        (lambda d: d["compressor"].update(cmp_th_db=40.0), "cmp_th_db = 40 dB is outside its range [-120, 20]"),
        (lambda d: d["reverb"].update(t60_s=d["reverb"]["t60_s"][:10]), "reverb.t60_s has 10 elements; it must have 49"),
        (lambda d: d["reverb"]["t60_s"].__setitem__(3, 9.0), "reverb.t60_s[3] = 9 disagrees with reverb.decay_gamma[3]"),
        (lambda d: (drop_logits(d), d["reverb"].update(decay_gamma=d["reverb"]["decay_gamma"][:10])),
         "reverb.decay_gamma must have shape [49], got [10]"),
    ]
    for i, (edit, message) in enumerate(cases):
        path = _preset_file(tmp_path, edit, f"case{i}.json")
        _refused(["render", path, str(dry[0]), str(tmp_path / "o.wav")], message, capsys)
    assert not (tmp_path / "o.wav").exists()
    # a preset whose render exceeds full scale: written, with a warning naming the peak
    loud = _preset_file(tmp_path, lambda d: d["eq"][1].update(gain_db=50.0), "loud.json")
    with pytest.warns(UserWarning, match=r"peaks at \+\d+\.\d dBFS"):
        assert main(["render", loud, str(dry[0]), str(tmp_path / "loud.wav")]) == 0


def test_published_presets_and_committed_fits_lie_inside_their_domains():
    """Every value of all 455 published presets and of every committed fit lies inside its
    field's domain (so the +-60 dB gains, thresholds in [-120, 20] dBFS, ... hold them all),
    and the loader accepts the file of a few of them and of every committed fit."""
    from diffvox.contract import walk
    from diffvox.preset_values import value_at
    from diffvox.presets import Preset

    count = 0
    entries = walk(load_dataset("medleydb").preset(0).to_chain())[0]
    for name in ("internal", "medleydb"):
        dataset = load_dataset(name)
        for i in range(len(dataset)):
            decoded = dataset.preset(i).decode()
            for e in entries:
                assert e.field.range.holds(value_at(decoded, e.path)), (name, i, e.where())
            count += 1
    assert count == 455
    for spec in ((0, "internal"), (44, "medleydb")):
        preset = load_dataset(spec[1]).preset(spec[0])
        Preset.from_json(json.loads(json.dumps(preset.to_json())))
    fits = sorted(Path(__file__).resolve().parents[1].glob("book/results/**/preset.json"))
    assert fits, "no committed fit found"
    for path in fits:
        Preset.load(path)


def test_evaluate_reports_no_mid_side_for_a_mono_target(tmp_path, dry, capsys):
    x = dry[1]
    sf.write(tmp_path / "mono.wav", x, 44100, subtype="FLOAT")
    sf.write(tmp_path / "pred.wav", np.stack([x, 0.5 * x], 1), 44100, subtype="FLOAT")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="mono"):
        assert main(["evaluate", str(tmp_path / "pred.wav"), str(tmp_path / "mono.wav"), "--json"]) == 0
    out = capsys.readouterr()
    metrics = json.loads(out.out)
    assert metrics["mss_ms"] is None and metrics["mldr_ms"] is None
    assert np.isfinite(metrics["mss_lr"]) and "M/S metrics are not defined" in out.err


def test_version_help_and_argument_errors_do_not_import_torch():
    code = ("import sys\nfrom diffvox.cli import main\n"
            "for argv in (['--version'], ['--help'], ['match', '--help'], ['render'], ['match', 'a']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
    assert "diffvox 0.1.0" in result.stdout
    from diffvox.cli import VARIANT_NAMES
    from diffvox.matching import VARIANTS

    assert tuple(VARIANTS) == VARIANT_NAMES


def test_progress_is_plain_lines_off_a_terminal(capsys):
    from diffvox.progress import progress_bar

    bar = progress_bar(total=200, desc="match", unit="step")
    for _ in range(200):
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 11 and lines[0].startswith("match: 0 % (0/200 step)") and "100 %" in lines[-1]


def test_the_api_is_as_strict_as_the_cli(tmp_path):
    from diffvox.audio import demo_vocal
    from diffvox.matching import MatchConfig, fit
    from diffvox.presets import Preset
    from diffvox.realtime import Stream

    preset = load_dataset("medleydb").preset(0)
    for bad in (None, "medleydb:0"):
        with pytest.raises(TypeError, match="expected a Preset"):
            Stream(bad)
    stream = Stream(preset, clip_q=0.707)
    with pytest.raises(TypeError, match="int16"):
        stream.process(np.ones(64, np.int16))
    chain = preset.to_chain().eval()
    with pytest.raises(TypeError, match="float tensor"):
        chain(np.zeros((1, 1, 64), np.float32))
    with pytest.raises(TypeError, match="int16"):
        chain(torch.ones(1, 1, 64, dtype=torch.int16))
    with pytest.raises(IndexError, match="0..69"):
        load_dataset("medleydb").preset(-1)
    for seconds in (-1, 0):
        with pytest.raises(ValueError, match="positive number of seconds"):
            demo_vocal(seconds)
    dry = demo_vocal(1.0)
    with pytest.raises(ValueError, match=r"\(samples, channels\).*pass wet.T"):
        fit(dry, np.stack([dry, dry]).T, tmp_path / "run", MatchConfig(steps=1), progress=False)
    with pytest.raises(TypeError, match="int16"):
        fit((dry * 32767).astype(np.int16), np.stack([dry, dry]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    path = preset.save(tmp_path / "p.json")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        preset.save(path)
    preset.save(path, overwrite=True)
    assert Preset.load(path).name == preset.name


def test_a_mono_target_is_fitted_on_left_right_only(tmp_path, pair_files, capsys):
    """A wet target with a silent side channel: the fit says it optimises L/R only, its M/S
    metrics are null in metrics.json and "n/a" in the table, with the note."""
    d, w = pair_files
    wet, _ = sf.read(w, dtype="float32", always_2d=True)
    sf.write(tmp_path / "mono.wav", wet.mean(axis=1), 44100, subtype="FLOAT")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="mono"):
        assert main(["match", d, str(tmp_path / "mono.wav"), "--out", str(tmp_path / "run"), *TINY_MATCH]) == 0
    out = capsys.readouterr()
    assert "optimises L/R only" in out.err and "n/a" in out.out and "M/S metrics are not defined" in out.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("no_processing", "fitted"):
        assert metrics[key]["mss_ms"] is None and metrics[key]["mldr_ms"] is None
        assert np.isfinite(metrics[key]["mss_lr"])
    manifest = json.loads((tmp_path / "run" / "diffvox-run.json").read_text())
    assert manifest["kind"] == "match" and manifest["state"] == "finished"
    assert manifest["settings"]["steps"] == 1 and set(manifest["audio"]) == {"dry", "wet"}
