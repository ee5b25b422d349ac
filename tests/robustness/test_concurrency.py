"""Ten `run`s started at once on one fresh state folder.

With the default (waiting) lock: all exit 0, one ACME order per certificate, one
run issues and the nine others find nothing due; nothing in the state folder is
corrupt, keys are 0600 and folders 0700, and the cloud serves the certificate.
With --no-wait: one run issues, the runs that found the lock held exit 3 with
"another run (pid N, started HH:MM) holds the lock".
"""

import json
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_aliyun import pki
from acme_aliyun.store import Store
from tests import demo
from tests.robustness.test_crash_run import (CERTS, RUN_TIMEOUT, actions, assert_clean_state, outcome,
                                             start_tool)

RUNS = 10
PRIVATE_FILES = ("privkey.pem", "pending-key.pem", "accounts.json", ".lock")


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


def _orders(pebble):
    return pebble.orders_created()


def _run_together(ini, *args):
    """Start RUNS copies of `run *args` before waiting for any; their CompletedProcess, in start order."""
    procs = [start_tool(ini, "run", *args) for _ in range(RUNS)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=RUN_TIMEOUT)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def _all(results):
    return "\n".join("=== run %d: %s" % (i, outcome(r)) for i, r in enumerate(results))


def _check_file(path):
    """None if the file parses as what its name says, else the problem."""
    name = os.path.basename(path)
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        if name.endswith(".json"):
            json.loads(data)
        elif name in ("privkey.pem", "pending-key.pem"):
            serialization.load_pem_private_key(data, None)
        elif name.endswith(".pem"):
            certs = pki.split_pem_chain(data)
            if not certs or "".join(certs) != data.decode("ascii"):
                return "not a clean PEM certificate bundle"
            for c in certs:
                x509.load_pem_x509_certificate(c.encode("ascii"))
        elif name == ".lock":
            if data.strip() and not all(f.isdigit() for f in data.split()[:2]) or len(data.split()) > 2:
                return "lock file holds %r" % data[:40]       # empty, or "pid\nstart time\n"
        else:
            return "unexpected file (a leftover temp file?)"
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        return "does not parse: %s" % e
    return None


def assert_state_folder_sound(state_dir):
    """Every file parses, every link resolves, folders 0700, private files 0600."""
    problems = []
    if stat.S_IMODE(os.stat(state_dir).st_mode) != 0o700:
        problems.append("%s: mode %o" % (state_dir, stat.S_IMODE(os.stat(state_dir).st_mode)))
    for root, dirs, files in os.walk(state_dir):
        for entry in dirs + files:
            path = os.path.join(root, entry)
            rel = os.path.relpath(path, state_dir)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                if not os.path.exists(path):
                    problems.append("%s: dangling link to %s" % (rel, os.readlink(path)))
                continue                      # the link's target is checked where it lives
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                if mode != 0o700:
                    problems.append("%s/: mode %o, want 700" % (rel, mode))
                continue
            if entry in PRIVATE_FILES and mode != 0o600:
                problems.append("%s: mode %o, want 600" % (rel, mode))
            problem = _check_file(path)
            if problem:
                problems.append("%s: %s" % (rel, problem))
    assert not problems, "state folder %s:\n%s" % (state_dir, "\n".join(problems))


def _common_checks(tmp_path, pebble, emu, results, orders_before):
    assert _orders(pebble) - orders_before == len(CERTS), "want one order per certificate\n" + _all(results)
    store = Store(str(tmp_path / "state"))
    assert_clean_state(store, emu, pebble, "after %d simultaneous runs" % RUNS)
    assert_state_folder_sound(store.state_dir)
    key = tmp_path / "account.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, "account key mode %o" % os.stat(key).st_mode


@pytest.mark.slow
def test_ten_runs_at_once_wait_for_each_other(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    before = _orders(pebble)
    results = _run_together(ini)
    assert all(r.returncode == 0 for r in results), _all(results)
    assert not any("Traceback" in r.stderr for r in results), _all(results)
    got = [actions(r.stdout) for r in results]
    for name in CERTS:
        per_run = sorted(a.get(name) for a in got)
        assert per_run == ["issued"] + ["not due"] * (RUNS - 1), "%s: %s\n%s" % (name, per_run, _all(results))
    _common_checks(tmp_path, pebble, emu, results, before)
    print("%d runs at once: all exit 0, one issued each certificate" % RUNS)


@pytest.mark.slow
def test_ten_runs_at_once_no_wait(tmp_path, pebble, emu):
    ini = demo.write_demo_ini(str(tmp_path), pebble, emu)
    before = _orders(pebble)
    results = _run_together(ini, "--no-wait")
    assert all(r.returncode in (0, 3) for r in results), _all(results)
    assert not any("Traceback" in r.stderr for r in results), _all(results)
    locked_out = [r for r in results if r.returncode == 3]
    assert locked_out, "no run found the lock held: they did not overlap\n" + _all(results)
    for r in locked_out:
        assert "another run (pid " in r.stderr and ") holds the lock" in r.stderr and r.stdout == "", _all(results)
    ran = [actions(r.stdout) for r in results if r.returncode == 0]
    issued = [a for a in ran if a == {"wildcard": "issued", "shop": "issued"}]
    assert len(issued) == 1, "want exactly one run that issued both\n" + _all(results)
    # a run that got the lock after the first one had finished finds nothing due
    assert all(a == {"wildcard": "not due", "shop": "not due"} for a in ran if a not in issued), _all(results)
    _common_checks(tmp_path, pebble, emu, results, before)
    print("%d runs at once with --no-wait: %d exit 3, %d exit 0 (1 issued)" % (RUNS, len(locked_out), len(ran)))
