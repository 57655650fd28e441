"""Build a pure-Python wheel (py3-none-any) from a source distribution's Python files only.

    python scripts/offline/pure_wheel.py torchlpc-0.7.2.tar.gz --package torchlpc --out wheelhouse/

For torchlpc, whose sdist compiles a C++ extension against one torch and one Python: the wheel
holds torchlpc/*.py without ``_C``, so ``import torchlpc`` warns "Custom extension not loaded"
and runs its numba kernels (numba CUDA on a GPU). Metadata comes from the sdist's PKG-INFO; the
requirements are given with --requires (PKG-INFO of setup.py-based sdists does not list them).
Standard library only.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build(sdist: Path, package: str, out: Path, requires: list[str]) -> Path:
    with tarfile.open(sdist) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        root = min(members, key=len).split("/")[0]
        pkg_info = tar.extractfile(members[f"{root}/PKG-INFO"]).read().decode()
        files = {}
        for name, member in sorted(members.items()):
            rel = name[len(root) + 1:]
            if rel.startswith(f"{package}/") and rel.endswith(".py") and rel.count("/") == 1:
                files[rel] = tar.extractfile(member).read()
            if rel in ("LICENSE", "LICENSE.txt"):
                files["LICENSE"] = tar.extractfile(member).read()
    meta = Parser().parsestr(pkg_info)
    name, version = meta["Name"], meta["Version"]
    if not any(r.startswith(f"{package}/__init__.py") for r in files):
        raise SystemExit(f"{sdist}: no {package}/__init__.py in the source distribution")
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    metadata = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    for key in ("Summary", "Home-page", "Author", "Author-email", "License"):
        if meta.get(key):
            metadata.append(f"{key}: {meta[key]}")
    metadata += [f"Requires-Dist: {r}" for r in requires]
    metadata.append("")
    metadata.append(f"Built by diffvox's scripts/offline/pure_wheel.py from {sdist.name}: Python files "
                    f"only, no compiled extension.")
    wheel_meta = ["Wheel-Version: 1.0", "Generator: diffvox-pure-wheel", "Root-Is-Purelib: true",
                  "Tag: py3-none-any", ""]
    contents = {rel: data for rel, data in files.items() if rel != "LICENSE"}
    if "LICENSE" in files:
        contents[f"{info}/LICENSE"] = files["LICENSE"]
    contents[f"{info}/METADATA"] = "\n".join(metadata).encode() + b"\n"
    contents[f"{info}/WHEEL"] = "\n".join(wheel_meta).encode()
    record = [f"{rel},{_record_hash(data)},{len(data)}" for rel, data in contents.items()]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{dist}-py3-none-any.whl"
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in contents.items():
            zf.writestr(zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    tmp.replace(target)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sdist", type=Path)
    ap.add_argument("--package", required=True, help="the import package to take (its top-level .py files)")
    ap.add_argument("--requires", action="append", default=[], help="a Requires-Dist line (repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not args.sdist.is_file():
        print(f"pure_wheel: {args.sdist}: no such file", file=sys.stderr)
        return 2
    print(f"built {build(args.sdist, args.package, args.out, args.requires)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
