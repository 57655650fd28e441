"""Atomic file writing: write to a temporary file beside the target, then rename it into place."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class OutputConflict(ValueError):
    """An output folder that another run holds, or whose checkpoint belongs to another run."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in the target's folder; on success it replaces ``path`` with the
    usual permissions (0666 less the umask); on error it is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: str | Path, overwrite: bool = False) -> Path:
    """Check before any work that ``path`` can be written: not a directory, its folder writable
    (or creatable), and not an existing file unless ``overwrite``. A one-line ValueError."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"the output {path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; diffvox does not overwrite files: choose another name "
                         "or pass --overwrite")
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        _probe_write(folder)
    except OSError:
        raise ValueError(f"cannot write {path}: the folder {folder} is not writable") from None
    return path


def _probe_write(folder: Path) -> None:
    """Create and delete a file in ``folder`` (os.access says yes to root even on a read-only
    file system); raises OSError when that fails."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".diffvox-write-test.")
    os.close(fd)
    os.unlink(probe)


def prepare_output_dir(path: str | Path) -> Path:
    """Create the output folder ``path`` (and its parents) and check that files can be written
    in it, before any work. A one-line ValueError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"the output folder {path} is an existing file; give a folder name")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _probe_write(path)
    except OSError as err:
        raise ValueError(f"cannot write in the output folder {path}: {err.strerror or err}") from None
    return path


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str):
    """Hold ``folder/.lock`` while a run writes there; a second run (another live process)
    is refused, naming the first. A lock left by a process that no longer runs is taken over."""
    import json
    import socket
    import time

    Path(folder).mkdir(parents=True, exist_ok=True)
    lock = Path(folder) / ".lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
          "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
            except (OSError, ValueError):
                holder = {}
            if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
                lock.unlink(missing_ok=True)  # its process is gone
                continue
            raise OutputConflict(f"{folder} is in use by a live run ({holder.get('what', 'diffvox')}, "
                                 f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
                                 f"{holder.get('started', '?')}): wait for it to end, or choose another "
                                 f"folder (delete {lock} if that run is gone)") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
