"""http-01 solvers: webroot files and the built-in HTTP server, checked with real requests."""

import os
import socket

import pytest
import requests

from acme_aliyun.challenges.base import Challenge, SolverError
from acme_aliyun.challenges.http01 import StandaloneSolver, WebrootSolver, parse_listen
from tests.netutil import free_port

CHALLENGES = [
    Challenge("a.example.test", "http-01", "tokA_-1", "tokA_-1.thumbprint"),
    Challenge("b.example.test", "http-01", "tokB", "tokB.thumbprint"),
]


@pytest.fixture
def http():
    s = requests.Session()
    s.trust_env = False
    yield s
    s.close()


def test_webroot_files_modes_and_cleanup(tmp_path):
    old = os.umask(0o077)          # a strict umask must not make the files unreadable to the web server
    try:
        WebrootSolver(str(tmp_path)).present(CHALLENGES)
    finally:
        os.umask(old)
    folder = tmp_path / ".well-known" / "acme-challenge"
    for c in CHALLENGES:
        path = folder / c.token
        assert path.read_text() == c.key_authorization
        assert path.stat().st_mode & 0o777 == 0o644
    assert folder.stat().st_mode & 0o777 == 0o755 and folder.parent.stat().st_mode & 0o777 == 0o755
    # cleanup from the challenge data alone, as after a crash; twice is harmless
    WebrootSolver(str(tmp_path)).cleanup(CHALLENGES)
    WebrootSolver(str(tmp_path)).cleanup(CHALLENGES)
    assert os.listdir(tmp_path) == []


def test_webroot_keeps_what_it_did_not_put_there(tmp_path):
    (tmp_path / ".well-known").mkdir()
    (tmp_path / ".well-known" / "security.txt").write_text("contact")
    solver = WebrootSolver(str(tmp_path))
    solver.present(CHALLENGES)
    (tmp_path / ".well-known" / "acme-challenge" / "other").write_text("x")
    solver.cleanup(CHALLENGES)
    assert sorted(os.listdir(tmp_path / ".well-known")) == ["acme-challenge", "security.txt"]
    assert os.listdir(tmp_path / ".well-known" / "acme-challenge") == ["other"]


def test_webroot_errors(tmp_path):
    with pytest.raises(SolverError, match="is not a folder"):
        WebrootSolver(str(tmp_path / "missing")).present(CHALLENGES)
    with pytest.raises(SolverError, match="refusing token"):
        WebrootSolver(str(tmp_path)).present([Challenge("x.test", "http-01", "../../etc/passwd", "k")])
    assert not (tmp_path / "etc").exists()


def test_standalone_serves_all_tokens(http):
    port = free_port()
    solver = StandaloneSolver("127.0.0.1:%d" % port)
    try:
        solver.present(CHALLENGES)
        base = "http://127.0.0.1:%d" % port
        for c in CHALLENGES:
            r = http.get(base + c.http_path, timeout=5)
            assert (r.status_code, r.text) == (200, c.key_authorization)
            assert r.headers["Content-Type"] == "text/plain"
        assert http.get(base + "/.well-known/acme-challenge/unknown", timeout=5).status_code == 404
        assert http.get(base + "/", timeout=5).status_code == 404
        solver.cleanup(CHALLENGES[:1])
        assert http.get(base + CHALLENGES[0].http_path, timeout=5).status_code == 404
        assert http.get(base + CHALLENGES[1].http_path, timeout=5).text == CHALLENGES[1].key_authorization
    finally:
        solver.close()
    with pytest.raises(requests.ConnectionError):
        http.get("http://127.0.0.1:%d/" % port, timeout=2)
    solver.close()


def test_standalone_port_in_use_names_address():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        listen = "127.0.0.1:%d" % busy.getsockname()[1]
        with pytest.raises(SolverError, match="cannot listen on %s: Address already in use" % listen):
            StandaloneSolver(listen).present(CHALLENGES)


def test_standalone_ipv6_loopback(http):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback")
    solver = StandaloneSolver("[::1]:%d" % port)
    try:
        solver.present(CHALLENGES)
        r = http.get("http://[::1]:%d%s" % (port, CHALLENGES[0].http_path), timeout=5)
        assert r.text == CHALLENGES[0].key_authorization
    finally:
        solver.close()


@pytest.mark.parametrize("listen,expected", [
    ("127.0.0.1:80", (socket.AF_INET, "127.0.0.1", 80)),
    (":8080", (socket.AF_INET, "", 8080)),
    ("8080", (socket.AF_INET, "", 8080)),
    ("[::1]:80", (socket.AF_INET6, "::1", 80)),
    ("[::]:80", (socket.AF_INET6, "::", 80)),
])
def test_parse_listen(listen, expected):
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["host", "host:0", "host:70000", "host:http", ""])
def test_parse_listen_rejects(listen):
    with pytest.raises(SolverError, match="bad listen address"):
        parse_listen(listen)


def test_concurrent_orders_share_one_listener_and_each_keeps_its_own_tokens():
    """Two standalone solvers on one address (two orders side by side): one bind, both
    orders' tokens answered; one order's clean-up and close leave the other's answering."""
    port = free_port()
    a, b = StandaloneSolver("127.0.0.1:%d" % port), StandaloneSolver("127.0.0.1:%d" % port)
    ca = Challenge("a.test", "http-01", "tokA", "tokA.thumb")
    cb = Challenge("b.test", "http-01", "tokB", "tokB.thumb")
    url = "http://127.0.0.1:%d/.well-known/acme-challenge/%%s" % port
    session = requests.Session()
    session.trust_env = False
    try:
        a.present([ca])
        b.present([cb])               # a second bind would fail with EADDRINUSE
        assert session.get(url % "tokA").text == "tokA.thumb"
        assert session.get(url % "tokB").text == "tokB.thumb"
        a.cleanup([ca])
        a.close()
        assert session.get(url % "tokA").status_code == 404
        assert session.get(url % "tokB").text == "tokB.thumb"
    finally:
        a.close()
        b.close()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url % "tokB", timeout=2)


def test_cleanup_waits_for_a_present_in_progress_on_the_same_webroot(tmp_path, monkeypatch):
    """Orders side by side on one webroot: one order's clean-up (which removes the challenge
    folder when it is empty) must not pull the folder from under another order's token."""
    import threading
    import time
    from acme_aliyun.challenges import http01
    writing = threading.Event()
    real_write = http01.WebrootSolver._write_token

    def slow_write(self, dfd, c):
        writing.set()                  # the folders exist, the token is not written yet
        time.sleep(0.3)
        return real_write(self, dfd, c)

    monkeypatch.setattr(http01.WebrootSolver, "_write_token", slow_write)
    mine = Challenge("a.test", "http-01", "tokA", "tokA.thumb")
    other = Challenge("b.test", "http-01", "tokB", "tokB.thumb")
    errors = []

    def present():
        try:
            WebrootSolver(str(tmp_path)).present([mine])
        except SolverError as e:
            errors.append(str(e))

    t = threading.Thread(target=present)
    t.start()
    assert writing.wait(5)
    WebrootSolver(str(tmp_path)).cleanup([other])     # the other order finishes meanwhile
    t.join()
    assert errors == []
    assert (tmp_path / ".well-known" / "acme-challenge" / "tokA").read_text() == "tokA.thumb"
