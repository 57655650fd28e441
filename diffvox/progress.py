"""Progress for long work: a tqdm bar on a terminal; otherwise (a log file, a pipe) one plain
line every ``every`` percent, so redirected logs hold no bar frames."""
from __future__ import annotations

import sys
import time
from typing import Iterable


class LineProgress:
    """The part of tqdm's interface diffvox uses, writing ``desc: 30 % (60/200 step), ...``
    lines to stderr at the start, every ``every`` percent and at the end."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, every: int = 10, file=None):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.n, self.every = desc, unit, initial, every
        self.file = file
        self.postfix = ""
        self.start = time.monotonic()
        self._last = None
        self._emit(force=True)

    def _out(self):
        return self.file if self.file is not None else sys.stderr

    def _emit(self, force: bool = False) -> None:
        if self.total:
            percent = int(100 * self.n / self.total) // self.every * self.every
            if percent == self._last and not force:
                return
            self._last = percent
            head = f"{self.desc}: {percent} % ({self.n}/{self.total} {self.unit})"
        else:
            head = f"{self.desc}: {self.n} {self.unit}"
        tail = f", {self.postfix}" if self.postfix else ""
        print(f"{head}{tail}, {time.monotonic() - self.start:.0f} s", file=self._out(), flush=True)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._emit()

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, text: str, file=None) -> None:
        print(text, file=file if file is not None else self._out(), flush=True)

    def close(self) -> None:
        if self.total and self._last != 100 and self.n >= self.total:
            self._emit(force=True)


class _Silent(LineProgress):
    def __init__(self, iterable=None, **_):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, refresh: bool = True, **values) -> None:
        pass

    def write(self, text: str, file=None) -> None:
        print(text, file=file if file is not None else sys.stderr, flush=True)

    def close(self) -> None:
        pass


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, enabled: bool = True, every: int = 10):
    """A tqdm bar when stderr is a terminal, :class:`LineProgress` otherwise, nothing when not
    ``enabled`` (the ``write`` method still prints)."""
    if not enabled:
        return _Silent(iterable)
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True)
    return LineProgress(iterable, total, desc, unit, initial, every)
