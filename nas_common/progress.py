"""Progress that reads well where it is written: a live bar on a terminal, plain lines in a log.

tqdm redraws its bar with carriage returns; written to a file (CI, `nohup`, `make demo > log`) a
six-minute demo left about 3,700 of those frames on one "line". `progress(...)` gives a tqdm bar
when standard error is a terminal, else a `LogProgress` with the same small interface (`update`,
`set_postfix`, `close`, `write`) that prints one plain line at most every `LOG_EVERY_S` seconds or
every tenth of the total, whichever comes first, and one at the end:

    search 35/96 (36%) in 33 s, 1.06 arch/s, best=59.90%
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

LOG_EVERY_S = 10.0


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class LogProgress:
    """tqdm's interface as plain, rate-limited lines (for logs and pipes)."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 disable: bool = False, file: TextIO | None = None, **_: Any) -> None:
        self.total, self.desc, self.unit, self.n, self.disable = total, desc, unit, initial, disable
        self.file = file
        self.start_t = time.time()
        self._initial = initial
        self._last_t = self.start_t
        self._last_n = initial
        self._postfix = ""
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable:
            return
        now = time.time()
        tenth = max(1, (self.total or 0) // 10)
        if now - self._last_t >= LOG_EVERY_S or (self.total and self.n - self._last_n >= tenth) \
                or (self.total and self.n >= self.total):
            self._print(now)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        values = {**(dict(ordered_dict) if ordered_dict else {}), **kwargs}
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, text: str) -> None:
        print(text, file=self.file or sys.stderr, flush=True)

    def close(self) -> None:
        if not self._closed and not self.disable and self.n != self._last_n:
            self._print(time.time())
        self._closed = True

    def _print(self, now: float) -> None:
        elapsed = max(now - self.start_t, 1e-9)
        done = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else f"{self.n}"
        rate = (self.n - self._initial) / elapsed
        speed = f"{rate:.2f} {self.unit}/s" if rate >= 1 or rate == 0 else f"{1 / rate:.2f} s/{self.unit}"
        line = f"{self.desc} {done} in {elapsed:.0f} s, {speed}" + (f", {self._postfix}" if self._postfix else "")
        print(line, file=self.file or sys.stderr, flush=True)
        self._last_t, self._last_n = now, self.n

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any) -> Any:
    """A tqdm bar on a terminal, `LogProgress` lines elsewhere (same keyword arguments)."""
    if is_terminal(kwargs.get("file")):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, **kwargs)
    return LogProgress(total=total, desc=desc, unit=unit, **kwargs)
