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
            "junk.wav": "cannot read", "missing.wav": "cannot read"}


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
    sf.write(noise, np.stack([dry[1], dry[1]], 1), 44100, subtype="FLOAT")
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
