"""The command line: rendering, bad input, preset display and export."""
from __future__ import annotations

import json
import subprocess
import sys

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
