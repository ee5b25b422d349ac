"""kill -9 during `issue`: the store keeps a matching pair, the rerun completes, nothing is left behind."""

import os
import random
import signal
import subprocess
import sys
import time

import dns.message
import dns.query
import dns.rdatatype

from acme_aliyun.store import Store
from tests.conftest import ROOT, run_cli, write_ini
from tests.test_issue import HOOK

NAMES = ["crash.example.test", "*.crash.example.test", "www.crash.example.test"]


def _txt_values(pebble, name):
    q = dns.message.make_query(name, dns.rdatatype.TXT)
    ans = dns.query.udp(q, "127.0.0.1", port=pebble.challtestsrv.dns_port, timeout=3)
    return [rr for rrset in ans.answer for rr in rrset if rrset.rdtype == dns.rdatatype.TXT]


def test_kill_dash_nine_at_ten_random_moments(tmp_path, pebble):
    ini = write_ini(tmp_path, pebble, """
        [cert:crash]
        Domains = %s
        Challenge = dns-01
        DNSHook = %s
        DNSHookEnv = CHALLTESTSRV_URL, CHALLTESTSRV_HOOK_STATE
        """ % (", ".join(NAMES), HOOK))
    env = dict(os.environ, CHALLTESTSRV_URL=pebble.challtestsrv.url,
               CHALLTESTSRV_HOOK_STATE=str(tmp_path / "hook-state"), PYTHONPATH=ROOT)
    first = run_cli("-c", ini, "issue", env=env)
    assert first.returncode == 0, first.stderr
    store = Store(str(tmp_path / "state"))
    started = time.monotonic()
    assert run_cli("-c", ini, "issue", "--force", env=env).returncode == 0
    duration = time.monotonic() - started
    rng = random.Random(20261126)
    serials = {store.load("crash").bundle.serial}
    killed_mid_run = trial = 0
    while killed_mid_run < 10:                     # ten kills that land while `issue` runs
        trial += 1
        assert trial <= 30, "only %d of %d kills landed during a run" % (killed_mid_run, trial)
        proc = subprocess.Popen([sys.executable, "-m", "acme_aliyun", "-c", ini, "issue", "--force"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, duration))
        if proc.poll() is None:
            killed_mid_run += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = store.load("crash")              # raises if the pair were mixed or corrupt
        assert stored is not None and stored.bundle.key_matches(), "trial %d" % trial
        assert sorted(stored.bundle.names) == sorted(NAMES)
        rerun = run_cli("-c", ini, "issue", "--force", env=env)
        assert rerun.returncode == 0, "trial %d: %s" % (trial, rerun.stderr)
        after = store.load("crash")
        assert after.bundle.key_matches() and after.bundle.serial not in serials
        serials.add(after.bundle.serial)
        assert store.pending_challenges("crash") == []
        for name in ("_acme-challenge.crash.example.test.", "_acme-challenge.www.crash.example.test."):
            assert _txt_values(pebble, name) == [], "trial %d left TXT at %s" % (trial, name)
    assert not os.path.exists(os.path.join(store.cert_dir("crash"), "pending-key.pem"))
