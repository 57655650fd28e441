"""Put MathJax 3 beside the book, so that its math renders without a network: downloads the npm
tarball (registry.npmjs.org, checked against its sha256) and keeps what the book's pages load:
``tex-chtml.js``, its fonts and the components it may load. Writes ``_build/mathjax/mathjax``.

    python scripts/fetch_mathjax.py
"""
from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "3.2.2"
URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
KEEP = ("tex-chtml.js", "output/chtml/", "input/tex/", "ui/", "a11y/", "adaptors/")
OUT = Path(__file__).resolve().parents[1] / "_build" / "mathjax" / "mathjax"


def main() -> int:
    if (OUT / "es5" / "tex-chtml.js").is_file():
        return 0
    try:
        data = urllib.request.urlopen(URL, timeout=120).read()
    except OSError as err:
        print(f"fetch_mathjax: cannot download {URL}: {err}", file=sys.stderr)
        return 1
    if hashlib.sha256(data).hexdigest() != SHA256:
        print(f"fetch_mathjax: {URL} does not match its sha256", file=sys.stderr)
        return 1
    tmp = OUT.with_name("mathjax.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if member.isfile() and name.startswith("es5/") and name[4:].startswith(KEEP):
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    shutil.copy(Path(__file__).resolve().parents[1] / "scripts" / "MATHJAX_LICENSE.txt", tmp / "LICENSE")
    shutil.rmtree(OUT, ignore_errors=True)
    tmp.rename(OUT)
    print(f"MathJax {VERSION} in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
