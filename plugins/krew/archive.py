"""Build the krew archive of `kubectl dbindex` reproducibly: the same bytes (and so the same
sha256 as dbindex.yaml says) on every machine. Usage: python plugins/krew/archive.py [OUT]
(default dist/kubectl-dbindex.tar.gz); then, without a release server:
kubectl krew install --manifest=plugins/krew/dbindex.yaml --archive=dist/kubectl-dbindex.tar.gz
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FILES = {"kubectl-dbindex": HERE / "kubectl-dbindex"}


def build() -> bytes:
    """The .tar.gz: fixed order, owners, modes and times; gzip without a name or time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path in sorted(FILES.items()):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.gid = len(data), 0, 0, 0
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def sha256() -> str:
    return hashlib.sha256(build()).hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "dist" / "kubectl-dbindex.tar.gz")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(build())
    print(f"{out}  sha256 {sha256()}")
