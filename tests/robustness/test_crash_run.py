"""kill -9 of `run --force` at named steps: the store, the DNS, the lock and the cloud stay sane.

One emulator and one state folder across all trials of a lane, as on a real host (the
trials are dealt over lanes that run side by side, each on a world of its own). Before
the trials both certificates are issued and deployed once; each trial then starts
`run --force` (so issuance AND deploy are exercised) with
ACME_ALIYUN_TEST_KILL_AT=<point>:<n> (acme_aliyun/killpoint.py), so the process
kills itself with SIGKILL on reaching the nth atomic file write or the nth cloud
call, and checks:

  (a) Store.load gives a matching key/certificate pair for every certificate;
  (b) the next normal `run` exits 0 without a traceback;
  (c) no challenge is left: empty journal, no TXT in the emulated Alidns zone,
      no `_acme-challenge` TXT in Pebble's DNS, and `run --no-wait` gets the lock;
  (d) every target serves the stored certificate (the serial its Describe API answers);
  (e) the KeyFile/ChainFile copies match the stored pair (tests/safety/copies.py).

The kill points are steps, not moments: with `[acme] Parallel = 1` (the fleet runner's
default of 4 interleaves the two certificates' writes and calls differently from run to
run) the same trial lands on the same step on every run, so the phase counts repeat and
a failing trial replays. Each point is tried at
n = 1, 1 + stride, ... until a run gets past its last one; a final forced run leaves no pending key.
The helpers below are reused by test_concurrency.py.
"""

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import dns.message
import dns.query
import dns.rdatatype
import pytest

from acme_aliyun.store import Store
from tests import demo, summary
from tests.pebble import Pebble
from tests.safety.copies import add_copy_files, assert_copies_match
from tests.served import served_serials, wrong_targets

CERTS = ("wildcard", "shop")
TARGETS = {   # what write_demo_ini deploys each certificate to
    "wildcard": {"cdn": ("www.demo.test", "img.demo.test", "cdn.demo.test"), "dcdn": ("static.demo.test",),
                 "apigw": ("api.demo.test", "open.demo.test")},
    "shop": {"cdn": ("shop.example.test",), "dcdn": (), "apigw": ()},
}
ZONE = "demo.test"
CHALLENGE_NAME = "_acme-challenge.demo.test."
KILL_POINTS = {"file-write": 1, "cloud-call": 2}   # point (acme_aliyun/killpoint.py): try every nth occurrence
LANES = {"file-write": 1, "cloud-call": 2}         # worlds a point's trials are dealt over, side by side
MAX_TRIALS_PER_POINT = 40
RUN_TIMEOUT = 120


# --- running the tool ------------------------------------------------------------------------

def tool_cmd(ini, *args):
    return [sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args)


def run_tool(ini, *args, timeout=RUN_TIMEOUT, env=None):
    return subprocess.run(tool_cmd(ini, *args), env=dict(demo.tool_env(), **(env or {})), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_tool(ini, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    return subprocess.Popen(tool_cmd(ini, *args), env=demo.tool_env(), stdout=stdout, stderr=stderr,
                            text=True, stdin=subprocess.DEVNULL)


def outcome(proc):
    """'exit N' + stdout + stderr of a CompletedProcess, for assertion messages."""
    return "exit %s\n--- stdout\n%s--- stderr\n%s" % (proc.returncode, proc.stdout, proc.stderr)


def actions(stdout):
    """{certificate: ISSUE} from the summary table `run` prints."""
    return {name: issue for name, issue in summary.issues(stdout).items() if name in CERTS}


# --- what the world looks like -------------------------------------------------------------------

def pebble_txt(pebble, name=CHALLENGE_NAME):
    """TXT values Pebble's DNS (challtestsrv) answers for name."""
    q = dns.message.make_query(name, dns.rdatatype.TXT)
    ans = dns.query.udp(q, "127.0.0.1", port=pebble.challtestsrv.dns_port, timeout=3)
    return [b"".join(rd.strings).decode() for rrset in ans.answer if rrset.rdtype == dns.rdatatype.TXT
            for rd in rrset]


def served(emu, name):
    """{target: serial it serves} for every target of certificate name, from the products' Describe APIs."""
    t = TARGETS[name]
    return served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=t["cdn"], dcdn=t["dcdn"],
                          api=["%s:%s" % (demo.GROUP, d) for d in t["apigw"]])


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
    """(d) every target serves the stored certificate: the served serial is the stored fullchain's."""
    for name, stored in assert_pairs_ok(store, why).items():
        wrong = wrong_targets(served(emu, name), stored.bundle.cert.serial_number)
        assert not wrong, "%s: %s is stored with serial %s but these targets serve: %r" % (
            why, name, stored.bundle.serial, wrong)


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

def _kill_at(ini, point, n, log_path):
    """`run --force` that SIGKILLs itself on reaching the nth `point`; (finished, what it printed)."""
    r = run_tool(ini, "run", "--force", env={"ACME_ALIYUN_TEST_KILL_AT": "%s:%d" % (point, n)})
    with open(log_path, "w") as log:
        log.write(r.stderr)
    assert r.returncode in (0, -9), "%s:%d: %s" % (point, n, outcome(r))
    return r.returncode == 0, r.stderr


def _trial_checks(ini, store, emu, pebble, why):
    assert_pairs_ok(store, why + " right after the kill")                                            # (a)
    rerun = run_tool(ini, "run")                                                                     # (b)
    assert rerun.returncode == 0 and "Traceback" not in rerun.stderr, "%s\nrerun: %s" % (why, outcome(rerun))
    assert_no_challenge_left(store, emu, pebble, why + " after the rerun")                           # (c)
    no_wait = run_tool(ini, "run", "--no-wait")
    assert no_wait.returncode == 0, "%s\nrun --no-wait: %s" % (why, outcome(no_wait))
    assert actions(no_wait.stdout) == {"wildcard": "not due", "shop": "not due"}, (
        "%s\nrun --no-wait: %s" % (why, outcome(no_wait)))
    assert_cloud_serves_stored(store, emu, why + " after the rerun")                                 # (d)
    assert_copies_match(ini, store.state_dir, why + " after the rerun")                              # (e)


@pytest.mark.slow
def test_kill_dash_nine_during_run_force(tmp_path):
    """The trials run in lanes side by side, each with a Pebble, an emulator and a state folder of its own
    (the tool's processes never share one): a point's n are dealt over LANES[point] lanes (lane i of L
    tries n = 1 + i*stride, 1 + (i+L)*stride, ...), so together they try the same n as one lane would,
    and the test takes the longest lane, not the sum. A Pebble that never reuses an authorization (the
    default reuses half of them, at random): every forced run then goes through the same steps, and
    the trials land the same."""
    lanes = [(point, range(1 + i * stride, stride * MAX_TRIALS_PER_POINT, stride * LANES[point]))
             for point, stride in KILL_POINTS.items() for i in range(LANES[point])]
    phases = Counter()
    with ThreadPoolExecutor(len(lanes)) as pool:
        done = [pool.submit(_lane, tmp_path / ("%s-%d" % (point, ns.start)), point, ns) for point, ns in lanes]
        for future in done:
            phases.update(future.result())
    assert phases["issuance"] >= 5 and phases["deploy"] >= 3, "the kills missed a phase: %s" % dict(phases)


def _lane(folder, point, ns):
    """The trials of one lane (kill point, its n) on a world of its own: {phase: kills}."""
    with Pebble(str(folder / "pebble"), env={"PEBBLE_AUTHZREUSE": "0"}) as pebble:
        emu = demo.start_emulator(pebble)
        try:
            return _trials(folder, pebble, emu, point, ns)
        finally:
            emu.stop()


def _trials(folder, pebble, emu, point, ns):
    ini = add_copy_files(demo.write_demo_ini(str(folder), pebble, emu))
    with open(ini) as fh:           # one certificate at a time: the nth write/call is the same step every run
        text = fh.read()
    with open(ini, "w") as fh:
        fh.write(text.replace("[acme]\n", "[acme]\nParallel = 1\n", 1))
    store = Store(str(folder / "state"))
    first = run_tool(ini, "run")
    assert first.returncode == 0, outcome(first)
    assert_clean_state(store, emu, pebble, "after the first run")
    phases, trials = Counter(), []
    for n in ns:
        finished, printed = _kill_at(ini, point, n, str(folder / "killed.log"))
        phase = phase_at_kill(printed, finished)
        phases[phase] += 1
        trials.append("%s:%d=%s" % (point, n, phase))
        why = "ACME_ALIYUN_TEST_KILL_AT=%s:%d (phase %s; the killed run printed:\n%s)" % (point, n, phase, printed)
        _trial_checks(ini, store, emu, pebble, why)
        if finished:            # the run got past the last such point
            break
    else:
        pytest.fail("%s: still reached after %d occurrences" % (point, ns[-1]))
    final = run_tool(ini, "run", "--force")          # a whole forced run uses up the kills' pending keys
    assert final.returncode == 0, outcome(final)
    for name in CERTS:
        assert not os.path.exists(os.path.join(store.cert_dir(name), "pending-key.pem")), name
    leftovers = [os.path.relpath(os.path.join(root, f), store.state_dir)
                 for root, _, files in os.walk(store.state_dir) for f in files if f.startswith(".tmp-")]
    print("%s: %d trials, kills by phase: %s; temp files left by kills: %s\n%s"
          % (point, len(trials), dict(phases), leftovers or "none", " ".join(trials)))
    return phases
