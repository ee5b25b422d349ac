"""kill -9 of `run --force` at random moments: the store, the DNS, the lock and the cloud stay sane.

One emulator and one state folder across all trials, as on a real host. Before
the trials both certificates are issued and deployed once, and a normal forced
run is timed; each trial then starts `run --force` (so issuance AND deploy are
exercised), kills it at a moment drawn uniformly from [0, 1.1 x that duration],
and checks:

  (a) Store.load gives a matching key/certificate pair for every certificate;
  (b) the next normal `run` exits 0 without a traceback;
  (c) no challenge is left: empty journal, no TXT in the emulated Alidns zone,
      no `_acme-challenge` TXT in Pebble's DNS, and `run --no-wait` gets the lock;
  (d) every target serves the stored certificate (by the deployer's CertName).

The seed is in every assertion message; ACME_ALIYUN_CRASH_SEED=<n> replays a sequence.
The helpers below are reused by test_concurrency.py.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import dns.message
import dns.query
import dns.rdatatype
import pytest

from acme_aliyun.targets.served import unique_cert_name
from acme_aliyun.store import Store
from tests import demo
from tests.safety.copies import add_copy_files, assert_copies_match

CERTS = ("wildcard", "shop")
TARGETS = {   # what write_demo_ini deploys each certificate to
    "wildcard": {"cdn": ("www.demo.test", "img.demo.test", "cdn.demo.test"), "dcdn": ("static.demo.test",),
                 "apigw": ("api.demo.test", "open.demo.test")},
    "shop": {"cdn": ("shop.example.test",), "dcdn": (), "apigw": ()},
}
ZONE = "demo.test"
CHALLENGE_NAME = "_acme-challenge.demo.test."
SEED = int(os.environ.get("ACME_ALIYUN_CRASH_SEED", "20261126"))
TRIALS = 30
RUN_TIMEOUT = 120


# --- running the tool ------------------------------------------------------------------------

def tool_cmd(ini, *args):
    return [sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args)


def run_tool(ini, *args, timeout=RUN_TIMEOUT):
    return subprocess.run(tool_cmd(ini, *args), env=demo.tool_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_tool(ini, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    return subprocess.Popen(tool_cmd(ini, *args), env=demo.tool_env(), stdout=stdout, stderr=stderr,
                            text=True, stdin=subprocess.DEVNULL)


def outcome(proc):
    """'exit N' + stdout + stderr of a CompletedProcess, for assertion messages."""
    return "exit %s\n--- stdout\n%s--- stderr\n%s" % (proc.returncode, proc.stdout, proc.stderr)


def actions(stdout):
    """{certificate: ACTION} from the summary table `run` prints."""
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines()
            if line.split() and line.split()[0] in CERTS and len(line.split()) > 1}


# --- what the world looks like -------------------------------------------------------------------

def pebble_txt(pebble, name=CHALLENGE_NAME):
    """TXT values Pebble's DNS (challtestsrv) answers for name."""
    q = dns.message.make_query(name, dns.rdatatype.TXT)
    ans = dns.query.udp(q, "127.0.0.1", port=pebble.challtestsrv.dns_port, timeout=3)
    return [b"".join(rd.strings).decode() for rrset in ans.answer if rrset.rdtype == dns.rdatatype.TXT
            for rd in rrset]


def served_cert_names(emu, name):
    """{target: CertName it serves} for every target of certificate name."""
    t = TARGETS[name]
    served = {"cdn " + d: emu.cdn_state(d)["cert_name"] for d in t["cdn"]}
    served.update({"dcdn " + d: emu.dcdn_state(d)["cert_name"] for d in t["dcdn"]})
    served.update({"apigw " + d: emu.apigw_domain_state(demo.GROUP, d)["cert_name"] for d in t["apigw"]})
    return served


def assert_pairs_ok(store, why):
    """(a) every certificate loads as a matching pair (Store.load raises ToolError if not)."""
    loaded = {}
    for name in CERTS:
        stored = store.load(name)
        assert stored is not None, "%s: %s has no stored certificate" % (why, name)
        assert stored.bundle.key_matches(), "%s: %s key and certificate differ" % (why, name)
        loaded[name] = stored
    return loaded


def assert_no_challenge_left(store, emu, pebble, why):
    """(c) no journalled challenge, no TXT in the Alidns zone, none in Pebble's DNS."""
    for name in CERTS:
        assert store.pending_challenges(name) == [], "%s: %s journal not cleared: %r" % (
            why, name, store.pending_challenges(name))
    txt = [r for r in emu.dns_records(ZONE) if r["type"] == "TXT"]
    assert txt == [], "%s: TXT records left in the Alidns zone: %r" % (why, txt)
    assert pebble_txt(pebble) == [], "%s: TXT left in Pebble's DNS at %s: %r" % (
        why, CHALLENGE_NAME, pebble_txt(pebble))


def assert_cloud_serves_stored(store, emu, why):
    """(d) every target serves the stored certificate's unique CertName."""
    for name, stored in assert_pairs_ok(store, why).items():
        want = unique_cert_name(name, stored.bundle)
        wrong = {t: got for t, got in served_cert_names(emu, name).items() if got != want}
        assert not wrong, "%s: %s is stored as %s but these targets serve: %r" % (why, name, want, wrong)


def assert_clean_state(store, emu, pebble, why):
    assert_pairs_ok(store, why)
    assert_no_challenge_left(store, emu, pebble, why)
    assert_cloud_serves_stored(store, emu, why)


# --- where a kill landed -----------------------------------------------------------------------

_ISSUANCE = ("ordering", "presenting", "waiting for the CA", "http-01: answering", "issued, serial",
             "renewed, serial", "cleaned up", "registered ACME account")
_DEPLOY = (": reading what the targets serve", ": deploying")


def phase_at_kill(stderr_text, finished):
    """'startup' | 'issuance' | 'deploy' | 'finished', from the last progress line the killed run printed."""
    if finished:
        return "finished"
    for line in reversed(stderr_text.splitlines()):
        if any(m in line for m in _DEPLOY):
            return "deploy"
        if any(m in line for m in _ISSUANCE):
            return "issuance"
    return "startup"


# --- the test ----------------------------------------------------------------------------------

@pytest.fixture
def slow_emu(pebble):
    """20 ms per cloud call, so the deploy phase takes a fair share of a run."""
    e = demo.start_emulator(pebble, latency_ms=20)
    yield e
    e.stop()


def _kill_at(ini, delay, log_path):
    """Start `run --force`, SIGKILL it after delay seconds; (finished before the kill, what it printed)."""
    with open(log_path, "w") as log:
        proc = start_tool(ini, "run", "--force", stdout=subprocess.DEVNULL, stderr=log)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with open(log_path) as fh:
        return finished, fh.read()


@pytest.mark.slow
def test_kill_dash_nine_during_run_force(tmp_path, pebble, slow_emu):
    emu = slow_emu
    ini = add_copy_files(demo.write_demo_ini(str(tmp_path), pebble, emu))
    store = Store(str(tmp_path / "state"))
    first = run_tool(ini, "run")
    assert first.returncode == 0, outcome(first)
    assert_clean_state(store, emu, pebble, "after the first run")

    durations = []
    for _ in range(2):
        t0 = time.monotonic()
        timed = run_tool(ini, "run", "--force")
        durations.append(time.monotonic() - t0)
        assert timed.returncode == 0, outcome(timed)
    duration = max(durations)

    rng = random.Random(SEED)
    phases = Counter()
    for trial in range(TRIALS):
        delay = rng.uniform(0, 1.1 * duration)
        finished, printed = _kill_at(ini, delay, str(tmp_path / "killed.log"))
        phase = phase_at_kill(printed, finished)
        phases[phase] += 1
        why = "seed %d trial %d (kill at %.2fs of a %.2fs run, phase %s; the killed run printed:\n%s)" % (
            SEED, trial, delay, duration, phase, printed)

        assert_pairs_ok(store, why + " right after the kill")                                        # (a)
        rerun = run_tool(ini, "run")                                                                 # (b)
        assert rerun.returncode == 0 and "Traceback" not in rerun.stderr, "%s\nrerun: %s" % (why, outcome(rerun))
        assert_no_challenge_left(store, emu, pebble, why + " after the rerun")                       # (c)
        no_wait = run_tool(ini, "run", "--no-wait")
        assert no_wait.returncode == 0, "%s\nrun --no-wait: %s" % (why, outcome(no_wait))
        assert actions(no_wait.stdout) == {"wildcard": "unchanged", "shop": "unchanged"}, (
            "%s\nrun --no-wait: %s" % (why, outcome(no_wait)))
        assert_cloud_serves_stored(store, emu, why + " after the rerun")                             # (d)
        assert_copies_match(ini, store.state_dir, why + " after the rerun")                          # (e)

    leftovers = [os.path.relpath(os.path.join(root, f), store.state_dir)
                 for root, _, files in os.walk(store.state_dir) for f in files if f.startswith(".tmp-")]
    print("seed %d, %d trials, run %.2fs, kills by phase: %s; temp files left by kills: %s"
          % (SEED, TRIALS, duration, dict(phases), leftovers or "none"))
    assert phases["issuance"] >= 5 and phases["deploy"] >= 3, (
        "seed %d: the kills missed a phase (%s); change the window" % (SEED, dict(phases)))
