"""Progress of long waits: a live line on a terminal, plain log lines elsewhere (journald, FC logs)."""

import logging
import time
from typing import TextIO

log = logging.getLogger("acme_aliyun.progress")


class Progress:
    """Callable with one message. On a TTY each step shows the seconds since the run started."""

    def __init__(self, stream: TextIO, quiet: bool = False) -> None:
        self.stream, self.quiet = stream, quiet
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r\x1b[K[%5.1fs] %s\n" % (time.monotonic() - self.start, message))
            self.stream.flush()
        else:
            log.info("%s", message)
