"""Fill a wheelhouse for the offline GPU run (where PyPI is reachable, e.g. a cluster's login node).

    python scripts/offline/wheelhouse.py --python-version 3.12 --out wheelhouse

Downloads, for CPython X.Y on manylinux x86_64, binary wheels only and without their
dependencies, every package pinned in scripts/offline/requirements-node.txt (what the node
lacks); builds torchlpc's wheel from its sdist (sha256-checked) with its Python files only
(scripts/offline/pure_wheel.py: torchlpc then runs its numba path); copies the verified presets
into OUT/presets; writes OUT/MANIFEST.json; refuses a total over --max-mb (40 MB). Nothing in it
needs building on the node. Standard library only (pip does the downloads).

Getting torchlpc's sdist runs its setup.py for metadata, which imports torch and setuptools:
--sdist-python names a Python that has both (default: this one).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REQUIREMENTS = HERE / "requirements-node.txt"
# manylinux_2_28 is the node's floor: its torch 2.11 CUDA wheel is tagged manylinux_2_28
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]
SDISTS = {"torchlpc": {"version": "0.7.2", "package": "torchlpc",
                       "sha256": "260a765645cdf0112d3fcfcebc41d11855ac52264b3185f24068ad873b1b0be3",
                       "requires": ["torch>=2.0", "numpy", "numba"]}}


def pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            if not version:
                raise SystemExit(f"{path}: {line!r} is not pinned (name==version)")
            out[name.strip().lower()] = version.strip()
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd: list[str], **kw) -> None:
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def download_wheels(requirements: dict[str, str], python_version: str, dest: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{n}=={v}\n" for n, v in requirements.items()))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", "--dest", str(dest), "-r", f.name]
        for p in PLATFORMS:
            cmd[cmd.index("--dest"):cmd.index("--dest")] = ["--platform", p]
        run(cmd)
    finally:
        os.unlink(f.name)


def build_from_sdist(name: str, spec: dict, dest: Path, sdist_python: str) -> Path:
    sys.path.insert(0, str(HERE))
    from pure_wheel import build

    probe = subprocess.run([sdist_python, "-c", "import torch, setuptools"], capture_output=True)
    if probe.returncode != 0:
        raise SystemExit(f"wheelhouse: {sdist_python} lacks torch or setuptools, which {name}'s setup.py imports "
                         f"to give its metadata; name a Python that has both with --sdist-python")
    with tempfile.TemporaryDirectory() as tmp:
        run([sdist_python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", "--dest", tmp, f"{name}=={spec['version']}"])
        sdist = next(Path(tmp).glob(f"{name}-{spec['version']}.tar.gz"))
        if sha256(sdist) != spec["sha256"]:
            raise SystemExit(f"{sdist.name}: sha256 {sha256(sdist)} is not the pinned {spec['sha256']}")
        return build(sdist, spec["package"], dest, spec["requires"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python-version", default="3.12", help="the node's Python, X.Y (default 3.12)")
    ap.add_argument("--out", type=Path, default=ROOT / "wheelhouse")
    ap.add_argument("--presets", type=Path, default=None,
                    help="verified presets to copy (default: data/presets, else scripts/fetch_presets.py's sources)")
    ap.add_argument("--sdist-python", default=sys.executable,
                    help="a Python with torch and setuptools, to read torchlpc's sdist metadata")
    ap.add_argument("--max-mb", type=float, default=40.0)
    args = ap.parse_args()
    if not re.fullmatch(r"3\.\d+", args.python_version):
        print(f"wheelhouse: --python-version {args.python_version!r}: give X.Y, e.g. 3.12", file=sys.stderr)
        return 2
    out = args.out
    if out.exists() and any(p.suffix == ".whl" for p in out.iterdir()):
        old = json.loads((out / "MANIFEST.json").read_text()) if (out / "MANIFEST.json").exists() else {}
        if old.get("python_version") != args.python_version:
            print(f"wheelhouse: {out} holds wheels for Python {old.get('python_version', '?')}; "
                  f"remove it or give another --out", file=sys.stderr)
            return 2
    staging = Path(tempfile.mkdtemp(prefix=".wheelhouse-", dir=out.parent if out.parent.exists() else None))
    try:
        requirements = pins()
        from_sdist = {n: s for n, s in SDISTS.items() if n in requirements}
        download_wheels({n: v for n, v in requirements.items() if n not in from_sdist}, args.python_version, staging)
        for name, spec in from_sdist.items():
            if requirements[name] != spec["version"]:
                raise SystemExit(f"{REQUIREMENTS.name} pins {name}=={requirements[name]}, the sdist recipe {spec['version']}")
            print(f"built {build_from_sdist(name, spec, staging, args.sdist_python).name} (no compiled extension)")
        env = dict(os.environ)
        presets = args.presets or (ROOT / "data" / "presets")
        if presets.is_dir():
            env["DIFFVOX_PRESETS"] = str(presets)
        run([sys.executable, str(ROOT / "scripts" / "fetch_presets.py"), "--out", str(staging / "presets")], env=env)
        wheels = sorted(staging.glob("*.whl"))
        names = {re.split(r"-", w.name)[0].lower().replace("_", "-") for w in wheels}
        missing = sorted(n for n in requirements if n.replace("_", "-") not in names)
        if missing:
            raise SystemExit(f"wheelhouse: no wheel for {', '.join(missing)}")
        sys.path.insert(0, str(HERE))
        from wheeltags import incompatible

        bad = incompatible([w.name for w in wheels], args.python_version)
        if bad:
            raise SystemExit(f"wheelhouse: not for CPython {args.python_version} manylinux x86_64: {', '.join(bad)}")
        total = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        if total > args.max_mb * 1e6:
            raise SystemExit(f"wheelhouse: {total / 1e6:.1f} MB is over the limit of {args.max_mb:g} MB")
        manifest = {"python_version": args.python_version, "platforms": PLATFORMS,
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "total_bytes": total, "wheels": {w.name: sha256(w) for w in wheels}}
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{out}: {len(wheels)} wheels and the presets for CPython {args.python_version}, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
