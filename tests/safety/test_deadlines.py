"""Items 8 and 9 of issue 12: every ACME and webhook exchange has a wall-clock deadline, a webhook
answer is read up to 64 KiB, and a lock held longer than a run can take is not a silent exit 3."""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from acme_aliyun import cli, notify
from acme_aliyun.config import NotifySettings
from acme_aliyun.protocol import client as acme_client
from tests.conftest import ROOT, write_ini
from tests.fakeca import FakeCA, Reply, Scenario
from tests.webhook import Receiver


def _trickle(total_s=12.0, every=0.3):
    def gen():
        yield b'{"newNonce": "'
        end = time.monotonic() + total_s
        while time.monotonic() < end:
            time.sleep(every)
            yield b"x"
        yield b'"}'
    return gen()


def test_a_trickling_ca_is_given_up_on_at_the_deadline(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(acme_client, "EXCHANGE_DEADLINE", 1.5)
    with FakeCA(tmp_path / "ca") as ca:
        ca.scenario = Scenario(replies={"directory": lambda seen: Reply(200, _trickle(), length=None)})
        ini = write_ini(tmp_path, ca, "[cert:t]\nDomains = t.example.test\nChallenge = http-01\nWebroot = www\n")
        (tmp_path / "www").mkdir()
        started = time.monotonic()
        code = cli.main(["-q", "-c", ini, "run"])
        elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1 and "did not finish within 1.5 s" in err, err
    assert elapsed < 6, "took %.1f s" % elapsed


class _Slow(BaseHTTPRequestHandler):
    """A webhook that answers 200 and then trickles its body, or sends a huge one."""

    sent = [0]
    mode = "trickle"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            if self.mode == "trickle":
                end = time.monotonic() + 12
                while time.monotonic() < end:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
            else:
                chunk = b" " * 65536
                for _ in range(800):                     # 50 MiB
                    self.wfile.write(chunk)
                    self.sent[0] += len(chunk)
        except OSError:
            pass

    def log_message(self, *a):
        pass


@pytest.fixture
def slow_hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_trickling_webhook_is_given_up_on(slow_hook):
    _Slow.mode = "trickle"
    settings = NotifySettings(webhook="http://127.0.0.1:%d/hook" % slow_hook.server_port, timeout=1.0)
    started = time.monotonic()
    notify.send(settings, {"certificates": []}, failed=True)
    assert time.monotonic() - started < 5


def test_a_huge_webhook_answer_is_read_up_to_64_kib(slow_hook):
    _Slow.mode = "huge"
    _Slow.sent[0] = 0
    settings = NotifySettings(webhook="http://127.0.0.1:%d/hook" % slow_hook.server_port, timeout=5.0)
    notify.send(settings, {"certificates": []}, failed=True)
    time.sleep(0.5)
    assert _Slow.sent[0] < 20 << 20, "the whole %d-byte answer was read" % _Slow.sent[0]


HOLD = r'''
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0); os.pwrite(fd, b"%d\n" % os.getpid(), 0)
old = time.time() - 2 * 86400
os.utime(sys.argv[1], (old, old))
print("held", flush=True)
time.sleep(60)
'''


def test_a_lock_held_longer_than_a_run_can_take_is_reported(tmp_path, pebble, cli):
    with Receiver() as hook:
        ini = write_ini(tmp_path, pebble, "[cert:l]\nDomains = l.example.test\nChallenge = http-01\n"
                        "HTTPListen = 127.0.0.1:%d\n\n[notify]\nWebhook = %s\n" % (pebble.http_port, hook.url))
        (tmp_path / "state").mkdir(mode=0o700)
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "state" / ".lock")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            r = cli("-q", "-c", ini, "run", "--no-wait")
        finally:
            holder.kill()
            holder.wait()
        assert r.returncode == 3, r.stdout + r.stderr
        assert "pid %d" % holder.pid in r.stderr and "longer than a run can take" in r.stderr, r.stderr
        assert len(hook.bodies) == 1 and "longer than a run can take" in hook.json()[0]["error"]["message"]


class _Redirect(BaseHTTPRequestHandler):
    target = ""
    hits = []

    def do_GET(self):
        self.hits.append(self.path)
        if self.target:
            self.send_response(302)
            self.send_header("Location", self.target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            body = b'{"suggestedWindow": {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_renewal_info_does_not_follow_redirects():
    """Item 10: a renewalInfo answer that redirects is refused, the other server never asked."""
    import requests
    from acme_aliyun.protocol import ari

    class Other(_Redirect):
        hits = []
        target = ""

    class First(_Redirect):
        hits = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), k) for k in (Other, First)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    First.target = "http://127.0.0.1:%d" % servers[0].server_port
    try:
        session = requests.Session()
        session.trust_env = False
        with pytest.raises(ari.AriError, match="redirect"):
            ari.fetch_renewal_info(session, "http://127.0.0.1:%d/ari" % servers[1].server_port, "abc.def",
                                   timeout=3, verify=True)
        assert First.hits and Other.hits == []
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()
