"""Fill a preset directory (default data/presets) with the published DiffVox presets.

Sources, in order: the directory in $DIFFVOX_PRESETS (when it is not the target itself), then
../shared/presets beside the checkout, then the public release (the ``presets/`` folder of the
SonyResearch/diffvox repository). Every data file is checked against data/presets.sha256; the
target is replaced atomically only when all files are present and verified.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "data" / "presets.sha256"
EXTRA_FILES = ("README.md", "CHAIN.md", "LICENSE")  # copied when the source has them; not verified
DEFAULT_URL = "https://raw.githubusercontent.com/SonyResearch/diffvox/main/presets"


def manifest() -> dict[str, str]:
    entries = {}
    for line in MANIFEST.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest
    return entries


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(directory: Path) -> list[str]:
    """Names of manifest files missing from ``directory`` or with the wrong checksum."""
    return [name for name, digest in manifest().items()
            if not (directory / name).is_file() or sha256(directory / name) != digest]


def _copy_from(source: Path, staging: Path) -> None:
    for name in list(manifest()) + list(EXTRA_FILES):
        src = source / name
        if src.is_file():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, staging / name)


def _download(url: str, staging: Path) -> None:
    names = list(manifest())
    for i, name in enumerate(names, 1):
        print(f"  [{i}/{len(names)}] {url}/{name}", flush=True)
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(f"{url}/{name}", timeout=60) as r, open(staging / name, "wb") as f:
            shutil.copyfileobj(r, f)
    for name in EXTRA_FILES:
        try:
            with urllib.request.urlopen(f"{url}/{name}", timeout=60) as r:
                (staging / name).write_bytes(r.read())
        except OSError:
            pass


def fill(out: Path, url: str) -> str:
    out = out.resolve()
    if out.is_dir() and not verify(out):
        return f"{out} already holds the verified presets"
    candidates = []
    env = os.environ.get("DIFFVOX_PRESETS")
    if env and Path(env).resolve() != out:
        candidates.append(Path(env))
    candidates.append(ROOT.parent / "shared" / "presets")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".presets-", dir=out.parent))
    try:
        source = next((c for c in candidates if c.is_dir() and (c / "medleydb").is_dir()), None)
        if source is not None:
            _copy_from(source, staging)
            origin = str(source)
        else:
            print(f"no local preset directory; downloading {url}", flush=True)
            _download(url, staging)
            origin = url
        bad = verify(staging)
        if bad:
            raise SystemExit(f"error: presets from {origin} failed verification (missing or wrong "
                             f"sha256): {', '.join(bad)}")
        os.chmod(staging, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
        return f"filled {out} from {origin} ({len(manifest())} files verified)"
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "presets")
    ap.add_argument("--url", default=DEFAULT_URL)
    args = ap.parse_args(argv)
    try:
        print(fill(args.out, args.url))
    except OSError as err:
        sys.exit(f"error: could not fetch the presets: {err}")


if __name__ == "__main__":
    main()
