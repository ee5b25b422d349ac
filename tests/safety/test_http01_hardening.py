"""Items 7 and 11 of issue 12: the http-01 server drops idle connections and caps them; webroot mode
never follows a symlink planted in the docroot."""

import os
import socket
import threading
import time

import pytest
import requests

from acme_aliyun.challenges.base import Challenge, SolverError
from acme_aliyun.challenges.http01 import StandaloneSolver, WebrootSolver
from tests.netutil import free_port

CH = [Challenge("a.example.test", "http-01", "tokA_-1", "tokA_-1.thumbprint")]


def _idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        socks.append(s)
    return socks


def test_idle_connections_are_dropped_and_capped():
    port = free_port()
    solver = StandaloneSolver("127.0.0.1:%d" % port, conn_timeout=0.5, max_connections=4)
    solver.present(CH)
    try:
        before = threading.active_count()
        idle = _idle(port, 30)              # connect, send nothing
        time.sleep(0.2)
        assert threading.active_count() - before <= 4, "one thread per idle connection"
        idle[0].settimeout(3)
        started = time.monotonic()
        assert idle[0].recv(1) == b""       # the server closed it
        assert time.monotonic() - started < 2
        for s in idle:
            s.close()
        time.sleep(0.7)                     # the slots the idle connections held are free again
        s = requests.Session()
        s.trust_env = False
        r = s.get("http://127.0.0.1:%d/.well-known/acme-challenge/tokA_-1" % port, timeout=3)
        assert r.status_code == 200 and r.text == "tokA_-1.thumbprint"
    finally:
        solver.close()


def test_webroot_refuses_a_symlinked_challenge_folder(tmp_path):
    root, elsewhere = tmp_path / "www", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (root / ".well-known").mkdir()
    os.symlink(str(elsewhere), str(root / ".well-known" / "acme-challenge"))
    with pytest.raises(SolverError, match="symlink|symbolic"):
        WebrootSolver(str(root)).present(CH)
    assert os.listdir(str(elsewhere)) == []


def test_webroot_refuses_a_symlinked_well_known(tmp_path):
    root, elsewhere = tmp_path / "www", tmp_path / "elsewhere"
    root.mkdir()
    (elsewhere / "acme-challenge").mkdir(parents=True)
    os.symlink(str(elsewhere), str(root / ".well-known"))
    with pytest.raises(SolverError, match="symlink|symbolic"):
        WebrootSolver(str(root)).present(CH)
    assert os.listdir(str(elsewhere / "acme-challenge")) == []


def test_webroot_refuses_a_symlink_planted_as_the_token_file(tmp_path):
    root, target = tmp_path / "www", tmp_path / "victim"
    folder = root / ".well-known" / "acme-challenge"
    folder.mkdir(parents=True)
    target.write_text("precious\n")
    os.symlink(str(target), str(folder / "tokA_-1"))
    with pytest.raises(SolverError, match="symlink|symbolic"):
        WebrootSolver(str(root)).present(CH)
    assert target.read_text() == "precious\n"
    WebrootSolver(str(root)).cleanup(CH)        # cleanup removes the link, never the target
    assert target.read_text() == "precious\n"
