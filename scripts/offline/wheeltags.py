"""Whether wheel files install on a given CPython on manylinux x86_64 (the GPU node's platform).

    python scripts/offline/wheeltags.py wheelhouse/ --python-version 3.12

Uses ``packaging`` (pip's own copy where it is not installed). The node's floor is
manylinux_2_28: its torch 2.11 CUDA wheel is tagged manylinux_2_28_x86_64.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from packaging import tags
    from packaging.utils import parse_wheel_filename
except ImportError:  # pragma: no cover - a bare Python with pip only
    from pip._vendor.packaging import tags
    from pip._vendor.packaging.utils import parse_wheel_filename

GLIBC_FLOOR = (2, 28)


def supported(python_version: str, glibc: tuple[int, int] = GLIBC_FLOOR) -> set:
    """The tags CPython ``python_version`` on manylinux x86_64 with glibc ``glibc`` accepts."""
    major, minor = (int(x) for x in python_version.split("."))
    platforms = [f"manylinux_{glibc[0]}_{m}_x86_64" for m in range(glibc[1], 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]  # not linux_x86_64
    found = set(tags.cpython_tags((major, minor), platforms=platforms))
    found |= set(tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms=platforms))
    return found


def incompatible(filenames, python_version: str) -> list[str]:
    """The wheel file names none of whose tags the target accepts (or that are not wheel names)."""
    ok = supported(python_version)
    bad = []
    for name in filenames:
        try:
            _, _, _, wheel_tags = parse_wheel_filename(name)
        except Exception:
            bad.append(name)
            continue
        if not set(wheel_tags) & ok:
            bad.append(name)
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--python-version", default="3.12")
    args = ap.parse_args()
    names = sorted(p.name for p in args.folder.glob("*.whl"))
    if not names:
        print(f"wheeltags: no wheel in {args.folder}", file=sys.stderr)
        return 1
    bad = incompatible(names, args.python_version)
    for name in bad:
        print(f"wheeltags: {name} does not install on CPython {args.python_version} manylinux x86_64", file=sys.stderr)
    print(f"{len(names) - len(bad)} of {len(names)} wheels in {args.folder} install on CPython "
          f"{args.python_version}, manylinux_{GLIBC_FLOOR[0]}_{GLIBC_FLOOR[1]} x86_64")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
