"""Progress on long waits (issue 14, point 15): a live line on a terminal (driven through a real pty),
a log line every LOG_EVERY seconds elsewhere; the lock holder, the CA's validation with its limit,
and `deploying n/N` as targets finish."""

import fcntl
import io
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time

from acme_aliyun import progress as progress_mod
from acme_aliyun.progress import Progress
from tests import demo


def _read_pty(fd, proc, until, timeout=120.0):
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:         # the child closed the terminal
                break
            out += chunk
        if until(out) or (proc.poll() is not None and not r):
            break
    return out.decode("utf-8", "replace")


def test_live_line_on_a_terminal(tmp_path, pebble, emu):  # noqa: F811
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    os.makedirs(tmp_path / "state", mode=0o700)
    lock = os.open(str(tmp_path / "state" / ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)                  # another run holds the lock: this process
    os.pwrite(lock, b"%d\n%d\n" % (os.getpid(), int(time.time())), 0)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "acme_aliyun", "-c", ini, "run"], env=demo.tool_env(),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    try:
        waited = _read_pty(master, proc, lambda b: b.count(b"waiting for the lock") >= 3, timeout=30)
        fcntl.flock(lock, fcntl.LOCK_UN)
        rest = _read_pty(master, proc, lambda b: b"NEXT RENEWAL" in b and b.rstrip().endswith(b"-")
                         and proc.poll() is not None)
        assert proc.wait(timeout=60) == 0, waited + rest
    finally:
        os.close(lock)
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    # one live line: each redraw returns to column 0 and erases, no new line between redraws
    beats = re.findall(r"\r\x1b\[Kwaiting for the lock held by pid %d, started \d\d:\d\d( \((\d+)s\))?"
                       % os.getpid(), waited)
    assert len(beats) >= 3 and "\n" not in waited, repr(waited)
    assert int(beats[-1][1]) >= 2                        # the heartbeat counts the seconds
    text = waited + rest
    assert re.search(r"\r\x1b\[Kwaiting for the CA to validate 2 name\(s\) \(\ds / 300s\)", text), repr(text)
    done = "\r\x1b[Kwildcard: deploying %d/%d" % (demo.WILDCARD_TARGETS, demo.WILDCARD_TARGETS)
    assert done in text and "\r\x1b[Kshop: deploying 1/1" in text, repr(text)
    # the table starts on a clean line: the live line was erased first
    assert "\r\x1b[KCERTIFICATE" in text.replace("\r\n", "\n") or "\nCERTIFICATE" in text, repr(text[-600:])


def test_a_log_gets_a_heartbeat_line_every_few_seconds(monkeypatch, caplog):
    monkeypatch.setattr(progress_mod, "LOG_EVERY", 0.4)
    caplog.set_level(logging.INFO, logger="acme_aliyun.progress")
    p = Progress(io.StringIO(), tty=False)
    p("waiting for the CA to validate 1 name(s)", limit=300)
    time.sleep(1.1)
    p.end()
    time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "waiting for the CA to validate 1 name(s)"
    assert 2 <= len(lines) <= 3, lines
    assert all(re.fullmatch(r"waiting for the CA to validate 1 name\(s\) \(\ds / 300s\)", m) for m in lines[1:]), lines
    count = len(caplog.records)
    time.sleep(0.6)
    assert len(caplog.records) == count              # ended: no more heartbeats
