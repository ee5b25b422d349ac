"""Progress of long waits: one live line on a terminal, a log line every ~10 s elsewhere (issue 14, 15).

A run spends most of its time waiting: for the lock, for DNS to propagate, for the CA to validate,
for targets to take a certificate. Silence for three minutes looks like a hang. So each step is
announced (progress("waiting for the CA to validate 2 name(s)", limit=300)), and while a step lasts
a heartbeat repeats it with the time spent and the limit: "... (12s / 300s)".

On a terminal the line is rewritten in place (carriage return, erase to end of line) about once a
second, and end() clears it before anything else is printed. Elsewhere (journald, FC logs) every
step is a log line, and a step that lasts gets one more line every LOG_EVERY seconds. The heartbeat
is one daemon thread; it only formats and writes, so it never holds up the work.
"""

import logging
import threading
import time
from typing import Any, Optional, TextIO

log = logging.getLogger("acme_aliyun.progress")

TTY_EVERY = 1.0        # seconds between redraws of the live line
LOG_EVERY = 10.0       # seconds between heartbeat log lines of a step that lasts


class Progress:
    """Callable: progress(message, limit=None). end() finishes the live line."""

    def __init__(self, stream: TextIO, quiet: bool = False, tty: Optional[bool] = None) -> None:
        self.stream, self.quiet = stream, quiet
        self.tty = (hasattr(stream, "isatty") and stream.isatty()) if tty is None else tty
        self._lock = threading.Lock()
        self._message: Optional[str] = None
        self._since = 0.0
        self._limit: Optional[float] = None
        self._ticker: Optional[threading.Thread] = None
        self._last_beat = 0.0
        if self.tty:        # a log line printed while the live line shows first clears it
            for h in logging.getLogger().handlers:
                if getattr(h, "stream", None) is stream:
                    h.addFilter(self._clear_for_log)

    def _clear_for_log(self, record: Any) -> bool:
        if self._message is not None:
            self.stream.write("\r\x1b[K")
        return True

    def __call__(self, message: str, limit: Optional[float] = None) -> None:
        if self.quiet:
            return
        with self._lock:
            self._message, self._since, self._limit = message, time.monotonic(), limit
            self._last_beat = self._since
            self._emit(first=True)
            if self._ticker is None:
                ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
                ticker.start()
                self._ticker = ticker

    def _line(self) -> str:
        spent = time.monotonic() - self._since
        if self._limit:
            return "%s (%ds / %ds)" % (self._message, spent, self._limit)
        return "%s (%ds)" % (self._message, spent) if spent >= 1 else (self._message or "")

    def _emit(self, first: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K%s" % self._line())
            self.stream.flush()
        elif first:
            log.info("%s", self._message)
        else:
            log.info("%s", self._line())

    def _tick(self):
        every = TTY_EVERY if self.tty else LOG_EVERY
        while True:
            time.sleep(every / 4)
            with self._lock:
                if self._message is None:
                    self._ticker = None
                    return
                due = time.monotonic() - self._since
                if due >= every and time.monotonic() - self._last_beat >= every:
                    self._last_beat = time.monotonic()
                    self._emit()

    def end(self) -> None:
        """The step is over: the live line is cleared (a terminal) and the heartbeat stops."""
        with self._lock:
            if self._message is not None and self.tty:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._message = None
