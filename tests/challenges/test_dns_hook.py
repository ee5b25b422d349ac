"""dns-01 hook solver: the hook contract, failures, timeouts, and challtestsrv end to end."""

import json
import logging
import os
import shlex
import sys
import time

import dns.message
import dns.query
import pytest

from acme_aliyun import log as acme_log
from acme_aliyun.challenges.base import Challenge, SolverError
from acme_aliyun.challenges.dns_hook import DnsHookSolver
from acme_aliyun.errors import UsageError
from tests.pebble import ChallTestSrv

HOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hooks", "challtestsrv_hook.py")
BASE = Challenge("example.test", "dns-01", "tok1", "tok1.thumb")
WILDCARD = Challenge("example.test", "dns-01", "tok2", "tok2.thumb")     # for *.example.test
WWW = Challenge("www.example.test", "dns-01", "tok3", "tok3.thumb")


def script(tmp_path, body, name="hook.py"):
    """A python hook script in tmp_path; returns the command line that runs it."""
    path = tmp_path / name
    path.write_text("import json, os, sys, time\n" + body)
    return "%s %s" % (shlex.quote(sys.executable), shlex.quote(str(path)))


RECORDER = """
out = os.path.join(os.environ["RECORD_DIR"], "%d.json" % len(os.listdir(os.environ["RECORD_DIR"])))
keys = [k for k in os.environ if k.startswith(("ACME_", "CERTBOT_"))]
json.dump({"argv": sys.argv[1:], "env": {k: os.environ[k] for k in keys}}, open(out, "w"))
print("stdout of the hook")
"""


def test_hook_gets_action_argument_and_environment(tmp_path, monkeypatch, caplog):
    records = tmp_path / "records"
    records.mkdir()
    monkeypatch.setenv("RECORD_DIR", str(records))
    command = script(tmp_path, RECORDER) + " --zone 'my zone'"
    solver = DnsHookSolver(command, env_names=["RECORD_DIR"])       # a clean environment but what is named
    with caplog.at_level(logging.DEBUG, logger="acme_aliyun.challenges.dns_hook"):
        solver.present([BASE, WWW])
        solver.cleanup([BASE])
    calls = [json.loads((records / ("%d.json" % i)).read_text()) for i in range(3)]
    assert [c["argv"] for c in calls] == [["--zone", "my zone", "present"]] * 2 + [["--zone", "my zone", "cleanup"]]
    assert calls[0]["env"] == {
        "ACME_ACTION": "present", "ACME_DOMAIN": "example.test", "ACME_RECORD_NAME": "_acme-challenge.example.test",
        "ACME_TXT_VALUE": BASE.dns_txt_value, "CERTBOT_DOMAIN": "example.test", "CERTBOT_VALIDATION": BASE.dns_txt_value,
    }
    assert calls[1]["env"]["ACME_RECORD_NAME"] == "_acme-challenge.www.example.test"
    assert calls[2]["env"]["ACME_ACTION"] == "cleanup"
    assert calls[2]["env"]["ACME_TXT_VALUE"] == BASE.dns_txt_value
    assert "stdout of the hook" in caplog.text


def test_failure_names_domain_status_and_redacted_stderr(tmp_path, caplog):
    acme_log.register_secret("hunter2-secret")
    command = script(tmp_path, """
sys.stderr.write("first line\\nauth failed for key hunter2-secret\\n\\n")
sys.exit(3)
""")
    with pytest.raises(SolverError) as e:
        DnsHookSolver(command).present([WWW])
    assert str(e.value) == ("dns-01 hook present for www.example.test failed: exit status 3: "
                            "auth failed for key [redacted]")
    with caplog.at_level(logging.WARNING):
        DnsHookSolver(command).cleanup([WWW, BASE])          # logged, never raised, every challenge tried
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "cleanup for www.example.test failed: exit status 3" in warnings[0]


def test_timeout_kills_the_hook_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    command = script(tmp_path, """
import subprocess
child = subprocess.Popen(["sleep", "30"])
open(%r, "w").write(str(child.pid))
sys.stderr.write("waiting for DNS\\n"); sys.stderr.flush()
time.sleep(30)
""" % str(pidfile))
    started = time.monotonic()
    with pytest.raises(SolverError, match=r"present for www.example.test: timed out after 1s: waiting for DNS"):
        DnsHookSolver(command, timeout=1).present([WWW])
    assert time.monotonic() - started < 5
    pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            with open("/proc/%d/stat" % pid) as fh:
                if fh.read().split(")")[-1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the hook's child %d survived the timeout" % pid)


def test_command_errors(tmp_path):
    with pytest.raises(UsageError, match="empty"):
        DnsHookSolver("  ")
    with pytest.raises(UsageError, match="cannot be split"):
        DnsHookSolver("hook 'unbalanced")
    with pytest.raises(SolverError, match="cannot run .*missing-hook: No such file"):
        DnsHookSolver(str(tmp_path / "missing-hook")).present([BASE])


def txt(srv, name):
    query = dns.message.make_query(name, "TXT")
    answer = dns.query.udp(query, "127.0.0.1", port=srv.dns_port, timeout=3)
    return sorted(b"".join(rr.strings).decode() for rrset in answer.answer for rr in rrset)


@pytest.fixture
def challtestsrv(tmp_path):
    srv = ChallTestSrv(str(tmp_path)).start()
    yield srv
    srv.stop()


def test_challtestsrv_set_txt_appends_and_clear_txt_removes_all(challtestsrv):
    name = "_acme-challenge.semantics.test"
    challtestsrv.set_txt(name, "one")
    challtestsrv.set_txt(name, "two")
    assert txt(challtestsrv, name) == ["one", "two"]
    challtestsrv.clear_txt(name)
    assert txt(challtestsrv, name) == []


def test_hook_script_against_challtestsrv(challtestsrv, tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLTESTSRV_URL", challtestsrv.url)
    monkeypatch.setenv("CHALLTESTSRV_HOOK_STATE", str(tmp_path / "hook-state.json"))
    solver = DnsHookSolver("%s %s" % (shlex.quote(sys.executable), shlex.quote(HOOK)),
                           env_names=["CHALLTESTSRV_URL", "CHALLTESTSRV_HOOK_STATE"])
    shared = "_acme-challenge.example.test"
    solver.present([BASE, WILDCARD, WWW])
    assert txt(challtestsrv, shared) == sorted([BASE.dns_txt_value, WILDCARD.dns_txt_value])
    assert txt(challtestsrv, WWW.dns_record_name) == [WWW.dns_txt_value]
    solver.cleanup([BASE])                    # the wildcard's value stays
    assert txt(challtestsrv, shared) == [WILDCARD.dns_txt_value]
    solver.cleanup([BASE, WILDCARD, WWW])
    assert txt(challtestsrv, shared) == [] and txt(challtestsrv, WWW.dns_record_name) == []
    assert json.loads((tmp_path / "hook-state.json").read_text()) == {}


def test_orders_side_by_side_never_run_the_hook_twice_at_once(tmp_path):
    """A hook written for one order at a time (it takes a lock file and fails if it is taken)
    works when certificates are ordered side by side."""
    import threading
    busy = tmp_path / "busy"
    hook = script(tmp_path, "fd = os.open(%r, os.O_CREAT | os.O_EXCL)\ntime.sleep(0.2)\nos.close(fd)\n"
                            "os.unlink(%r)\n" % (str(busy), str(busy)))
    errors = []

    def order(i):
        try:
            DnsHookSolver(hook).present([Challenge("h%d.test" % i, "dns-01", "tok%d" % i, "ka")])
        except SolverError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=order, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
