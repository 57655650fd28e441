"""A run folder is the tool's: who may write into an output folder, and when.

A run (``diffvox match``, one pair of ``diffvox medleydb``, or a ``medleydb`` run's top
folder) writes only into

- a folder that does not exist yet or is empty, or
- a folder holding a run of its own kind: a manifest (:data:`MANIFEST`) naming its kind, its
  settings and the sha256 of its audio, and no file the run does not write.

Anything else is refused before any work, naming what is there. A live run (its ``.lock``)
is named with what to do. ``--resume`` needs a checkpoint of the same run. An input that lies
inside the folder under a name the run writes is refused (the run would overwrite it).

The API (used by :func:`diffvox.matching.fit` and :func:`diffvox.matching.medleydb.run_medleydb`,
and meant for any other runner):

``folder = RunFolder(path, kind, settings, audio, writes)``
    describe the run (``writes``: the file names it writes; ``subfolders``: names of sub-runs).
``folder.refuse_inputs([paths])``
    refuse an input file the run would overwrite.
``status = folder.check(resume=False, overwrite=False)``
    read-only: ``"new"`` (empty or absent), ``"restart"`` (a run of ours that never wrote a
    checkpoint), ``"resume"`` (a checkpoint of this run, with ``resume``), ``"finished"`` (a
    finished run with these settings and audio; the caller reuses or refuses it) or
    ``"overwrite"`` (a run of ours with other settings and ``overwrite``). Raises
    :class:`~diffvox.fileio.OutputConflict` (a ``ValueError``) otherwise.
``with folder.claim(status): ...``
    create the folder, hold its lock, write the manifest; a folder this call created is removed
    again when the body raises before a checkpoint was written (nothing is left behind).
``folder.finish(**extra)``
    mark the manifest finished.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterable

from ..fileio import OutputConflict, folder_lock, prepare_output_dir, write_text_atomic

MANIFEST = "diffvox-run.json"
LOCK = ".lock"
CHECKPOINT = "checkpoint.pt"
#: the files one ``diffvox match`` run writes in its folder
MATCH_FILES = ("preset.json", "history.csv", "metrics.json", "render.wav", "render_exact.wav",
               CHECKPOINT, "skipped.json")
#: the files a ``diffvox medleydb`` run writes in its top folder (besides one folder per pair)
MEDLEYDB_FILES = ("summary.csv", "table.csv")


def _version() -> str:
    from .. import __version__

    return __version__


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of ``folder``, None when there is none; a one-line error when damaged."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise OutputConflict(f"{path} is damaged (not JSON): this folder's run cannot be checked; "
                             "choose another folder") from None
    if not isinstance(data, dict) or data.get("tool") != "diffvox":
        raise OutputConflict(f"{path} is not a diffvox run manifest; choose another folder")
    return data


def _is_temporary(name: str) -> bool:
    """An atomic write's temporary file (``.<name>.<random>.tmp<suffix>``) left by a killed run."""
    return name.startswith(".") and ".tmp" in name


def _differences(saved: dict, now: dict, keys: Iterable[str]) -> list[str]:
    return [f"{k}={saved.get(k)!r}, now {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]


def live_holder(folder: str | Path) -> dict | None:
    """The lock of a live run in ``folder`` (pid, host, what, started), None when none holds it."""
    import socket

    from ..fileio import _alive

    lock = Path(folder) / LOCK
    if not lock.exists():
        return None
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        holder = {}
    here = holder.get("host") == socket.gethostname()
    if here and (holder.get("pid") == os.getpid() or not _alive(holder.get("pid"))):
        return None  # this process's own lock, or one left by a process that is gone
    return holder


class RunFolder:
    """One run's output folder (see the module's docstring)."""

    def __init__(self, path: str | Path, kind: str, settings: dict, audio: dict | None = None,
                 writes: Iterable[str] = MATCH_FILES, subfolders: Iterable[str] = (),
                 defining: Iterable[str] | None = None, what: str | None = None):
        self.path = Path(path)
        self.kind = kind
        self.settings = dict(settings)
        self.audio = audio
        self.writes = tuple(writes)
        self.subfolders = tuple(subfolders)
        # the settings that must agree for a run to be the same (a resumed fit may raise steps)
        self.defining = tuple(defining) if defining is not None else tuple(self.settings)
        self.what = what or f"diffvox {kind} into {self.path}"
        self._created = False

    # --- checks (read-only) ----------------------------------------------------------------------
    def refuse_inputs(self, inputs: Iterable[str | Path]) -> None:
        """Refuse an input file that the run would overwrite (inside the folder, under a name it
        writes, or the manifest)."""
        mine = {(self.path / name).resolve() for name in (*self.writes, MANIFEST)}
        for item in inputs:
            if Path(item).resolve() in mine:
                raise OutputConflict(f"the input {item} lies in the output folder {self.path} under a "
                                     f"name the run writes ({Path(item).name}): it would be overwritten; "
                                     "move it or choose another --out")

    def foreign(self) -> list[str]:
        """Names in the folder that are not the run's (sorted)."""
        if not self.path.is_dir():
            return []
        allowed = {*self.writes, *self.subfolders, MANIFEST, LOCK}
        return sorted(n for n in os.listdir(self.path) if n not in allowed and not _is_temporary(n))

    def check(self, resume: bool = False, overwrite: bool = False) -> str:
        """What this run may do with its folder, or a one-line :class:`OutputConflict` (see the
        module's docstring). Writes nothing."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise OutputConflict(f"the output folder {path} is an existing file; give a folder name")
        holder = live_holder(path) if path.is_dir() else None
        if holder is not None:
            raise OutputConflict(
                f"{path} is in use by a live run ({holder.get('what', 'diffvox')}, pid "
                f"{holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}): "
                f"wait for it to end, or choose another folder (delete {path / LOCK} if that run is gone)")
        if not path.is_dir() or not any(n for n in os.listdir(path) if n != LOCK and not _is_temporary(n)):
            if resume:
                raise OutputConflict(f"--resume: {path} holds no run to continue (no {CHECKPOINT}); "
                                     "run without --resume to start one")
            return "new"
        manifest = read_manifest(path)
        if manifest is None:
            manifest = self._legacy_manifest()
        if manifest is None:
            names = self.foreign() or sorted(os.listdir(path))
            raise OutputConflict(
                f"{path} holds files that are not a diffvox {self.kind} run ({', '.join(names[:3])}"
                f"{f' and {len(names) - 3} more' if len(names) > 3 else ''}); diffvox writes only into "
                "an empty folder or one of its own runs: choose another --out")
        if manifest.get("kind") != self.kind:
            raise OutputConflict(f"{path} holds a diffvox {manifest.get('kind')} run, not a {self.kind} "
                                 "run: choose another --out")
        foreign = self.foreign()
        if foreign:
            raise OutputConflict(
                f"{path} holds a diffvox {self.kind} run and files that are not its own "
                f"({', '.join(foreign[:3])}{f' and {len(foreign) - 3} more' if len(foreign) > 3 else ''}); "
                "diffvox does not overwrite them: move them or choose another --out")
        return self._against(manifest, resume, overwrite)

    def _legacy_manifest(self) -> dict | None:
        """A run written before manifests: a readable checkpoint of a fit (its settings and audio),
        or a folder holding only what a run of another kind writes (e.g. medleydb's pair folders
        and tables, whose own folders are checked one by one)."""
        if self.kind != "match":
            if self.foreign():
                return None
            return {"tool": "diffvox", "kind": self.kind, "settings": self.settings, "state": "running"}
        ckpt = self.path / CHECKPOINT
        if self.kind != "match" or not ckpt.is_file() or self.foreign():
            return None
        try:
            import torch

            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - not a checkpoint of ours
            return None
        if not isinstance(state, dict) or "config" not in state:
            return None
        finished = (self.path / "metrics.json").is_file()
        return {"tool": "diffvox", "kind": "match", "settings": state["config"],
                "audio": state.get("audio"), "state": "finished" if finished else "running",
                "step": state.get("step")}

    def _describe(self, manifest: dict) -> str:
        settings = manifest.get("settings") or {}
        bits = [f"{k} {settings[k]}" for k in ("variant", "steps") if k in settings]
        if manifest.get("name"):
            bits.insert(0, str(manifest["name"]))
        if manifest.get("started"):
            bits.append(f"started {manifest['started']}")
        return f"{'a finished' if manifest.get('state') == 'finished' else 'an unfinished'} diffvox " \
               f"{self.kind} run ({', '.join(bits)})"

    def _against(self, manifest: dict, resume: bool, overwrite: bool) -> str:
        path, finished = self.path, manifest.get("state") == "finished"
        has_checkpoint = (path / CHECKPOINT).is_file()
        saved = manifest.get("settings") or {}
        differ = _differences(saved, self.settings, self.defining)
        changed = []
        if self.audio is not None and manifest.get("audio") is not None:
            changed = [k for k in self.audio if manifest["audio"].get(k) != self.audio[k]]
        if overwrite and (differ or changed):
            return "overwrite"
        if differ:
            raise OutputConflict(f"{path} holds {self._describe(manifest)} made with other settings "
                                 f"({'; '.join(differ)}): use the same settings, another --out, or "
                                 "--overwrite to replace it")
        if changed:
            raise OutputConflict(f"{path} holds {self._describe(manifest)} made with other audio (the "
                                 f"{' and '.join(changed)} signal{'s differ' if len(changed) > 1 else ' differs'}): "
                                 "use the same files, another --out, or --overwrite to replace it")
        if resume:
            if not has_checkpoint and self.kind == "match":
                raise OutputConflict(f"--resume: {path} holds no checkpoint of this run yet (it stopped "
                                     "before its first one): run again without --resume to start over")
            return "resume"
        if finished:
            return "overwrite" if overwrite else "finished"
        if has_checkpoint:
            if overwrite:
                return "overwrite"
            raise OutputConflict(f"{path} holds {self._describe(manifest)} with a checkpoint at step "
                                 f"{manifest.get('step', '?')}: continue it with the same command and "
                                 "--resume, or choose another --out")
        return "restart"

    # --- writing --------------------------------------------------------------------------------
    def _manifest(self, state: str, **extra) -> dict:
        old = read_manifest(self.path) or {}
        return {"tool": "diffvox", "version": _version(), "kind": self.kind,
                "started": old.get("started") or time.strftime("%Y-%m-%d %H:%M:%S"),
                **{k: v for k, v in old.items() if k not in ("tool", "version", "kind", "started")},
                "settings": self.settings, "audio": self.audio, "state": state, **extra}

    def clear(self) -> None:
        """Remove the run's own files (never a foreign one: :meth:`check` refused those)."""
        for name in (*self.writes, MANIFEST):
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    @contextlib.contextmanager
    def claim(self, status: str, **extra):
        """Create the folder, hold its lock and write the manifest for the body; ``status``:
        :meth:`check`'s answer. A folder this call created is removed when the body raises an
        error before a checkpoint exists."""
        existed = self.path.exists()
        prepare_output_dir(self.path)
        self._created = not existed
        try:
            with folder_lock(self.path, self.what):
                try:
                    # checked again under the lock: another process may have come between
                    again = self.check(resume=status == "resume", overwrite=status == "overwrite")
                    if again == "finished" and status != "finished":
                        raise OutputConflict(f"{self.path} was finished by another run meanwhile")
                    if status == "overwrite":
                        self.clear()
                    if status != "finished":
                        write_text_atomic(self.path / MANIFEST,
                                          json.dumps(self._manifest("running", **extra), indent=1) + "\n")
                    yield self
                except Exception:
                    if self._created and not (self.path / CHECKPOINT).exists():
                        self.clear()
                    raise
        finally:
            if self._created and self.path.is_dir() and not os.listdir(self.path):
                self.path.rmdir()

    def update(self, **extra) -> None:
        write_text_atomic(self.path / MANIFEST, json.dumps(
            self._manifest((read_manifest(self.path) or {}).get("state", "running"), **extra),
            indent=1) + "\n")

    def finish(self, state: str = "finished", **extra) -> None:
        write_text_atomic(self.path / MANIFEST,
                          json.dumps(self._manifest(state, **extra), indent=1) + "\n")

