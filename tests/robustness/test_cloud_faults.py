"""Cloud faults end to end: `acme-aliyun run` (a separate process, the demo acme.ini) against the
Alibaba Cloud emulator injecting throttling, 5xx, connection resets and timeouts.

Faults come in seeded bursts (FaultBurst) that can never exhaust one call's retry budget by chance, so
a failure here is a product bug, not bad luck. For each fault kind the run must retry within bounds
(at most MAX_CALL_FACTOR x the fault-free run's calls, and every extra call is the retry of an
injected fault), finish every target, exit 0, and leave the cloud right: every target serves the new certificate
(name and serial), no dns-01 TXT record left behind. A target that keeps failing must not stop the
healthy ones: it is reported with the cloud's error code and request id (summary and --json), the
run exits 1 and the webhook fires with the same facts.
"""

import collections
import json
import os
import threading
import time

import pytest

from acme_aliyun import pki
from tests import demo
from tests.aliyun_emulator.config import DEFAULT_QPS
from tests.canary import notify_section, run_tool
from tests.webhook import Receiver
from tests.safety.copies import add_copy_files, assert_copies_match

CDN = ("www.demo.test", "img.demo.test", "cdn.demo.test")
DCDN = ("static.demo.test",)
API = ("api.demo.test", "open.demo.test")
SHOP_CDN = "shop.example.test"
READ_TIMEOUT = 2             # [aliyun] ReadTimeout for every run here
TIMEOUT_SLEEP = 3.0          # a "timeout" fault holds the answer longer than that
MAX_CALL_FACTOR = 4          # calls under faults <= this x the fault-free run's
MAX_ATTEMPTS = 6             # CloudSettings.max_attempts: attempts per call
PER_ACTION = MAX_ATTEMPTS - 2  # faults one action may draw before it is spared (one may slip past: see FaultBurst)
DNS_ACTIONS = {"DescribeDomains", "AddDomainRecord", "DeleteDomainRecord", "DescribeDomainRecords",
               "DescribeSubDomainRecords"}


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble, timeout_sleep_s=TIMEOUT_SLEEP)
    yield e
    e.stop()


def _ini(folder, pebble, emu, extra=""):
    path = add_copy_files(demo.write_demo_ini(str(folder), pebble, emu))
    with open(path) as fh:
        text = fh.read()
    assert text.rstrip().splitlines()[-3] == "[aliyun]"          # [aliyun] is the demo's last section
    # one certificate at a time: the seeded faults then fall on the same calls in every run
    text = text.replace("[acme]\n", "[acme]\nParallel = 1\n", 1)
    with open(path, "w") as fh:
        fh.write(text.rstrip("\n") + "\nReadTimeout = %d\n" % READ_TIMEOUT + extra)
    return path


def _tool(ini, *args):
    return run_tool(ini, *args, env=demo.tool_env(), timeout=120)


def _serial(folder, name):
    with open(os.path.join(str(folder), "state", "certs", name, "fullchain.pem")) as fh:
        return pki.load_cert_pem(fh.read()).serial_number


def _serves(emu, folder, healthy_cdn=CDN):
    """{target: problem} for every target that does not serve the new certificate (empty = all right)."""
    wildcard, shop = _serial(folder, "wildcard"), _serial(folder, "shop")
    states = [("cdn " + d, emu.cdn_state(d), "wildcard-", wildcard) for d in healthy_cdn]
    states += [("dcdn " + d, emu.dcdn_state(d), "wildcard-", wildcard) for d in DCDN]
    states += [("apigw " + d, emu.apigw_domain_state(demo.GROUP, d), "wildcard-", wildcard) for d in API]
    states += [("cdn " + SHOP_CDN, emu.cdn_state(SHOP_CDN), "shop-", shop)]
    wrong = {}
    for target, st, prefix, serial in states:
        if not (st.get("cert_name") or "").startswith(prefix) or st.get("serial") != serial:
            wrong[target] = (st.get("cert_name"), st.get("serial"))
    return wrong


def _txt_left(emu):
    return [r for r in emu.dns_records("demo.test") if r["type"] == "TXT"]


class FaultBurst:
    """Random faults of `kinds` at `rate` (seeded) until `limit` were injected: a burst, not an outage.

    No action draws more than PER_ACTION faults: once it has, it is left out of the fault set (the
    emulator's `actions`). A call that drew MAX_ATTEMPTS faults in a row would exhaust its retries by
    chance, which is the "target that keeps failing" case, not this one; with the cap that cannot
    happen, so a failed run here is a product bug, never bad luck. The watcher sees a call only once it
    is logged (a "timeout" call TIMEOUT_SLEEP s late), so one more fault may slip in: still < MAX_ATTEMPTS.
    """

    def __init__(self, emu, rate, kinds, seed, limit):
        self.emu, self.rate, self.kinds, self.seed, self.limit = emu, rate, kinds, seed, limit
        self.actions = set(DEFAULT_QPS)
        self.spared = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self.emu.set_faults(self.rate, kinds=self.kinds, seed=self.seed, actions=tuple(sorted(self.actions)))
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.emu.set_faults(0.0)

    def _watch(self):
        while not self._stop.wait(0.002):
            faults = collections.Counter(c.action for c in self.emu.calls if c.fault)
            if sum(faults.values()) >= self.limit:
                self.emu.set_faults(0.0)
                return
            full = {a for a, n in faults.items() if n >= PER_ACTION} - self.spared
            if full:
                self.spared |= full
                self.emu.set_faults(self.rate, kinds=self.kinds, seed=self.seed * 100 + len(self.spared),
                                    actions=tuple(sorted(self.actions - self.spared)))


@pytest.fixture(scope="module")
def baseline(pebble, tmp_path_factory):
    """The fault-free run: calls per action (the yardstick of the retry bounds)."""
    e = demo.start_emulator(pebble, timeout_sleep_s=TIMEOUT_SLEEP)
    try:
        folder = tmp_path_factory.mktemp("baseline")
        r = _tool(_ini(folder, pebble, e), "run")
        assert r.returncode == 0, r.stdout + r.stderr
        assert _serves(e, folder) == {}
        return collections.Counter(c.action for c in e.calls)
    finally:
        e.stop()


FAULTS = [   # rate, kinds, seed, burst limit (faults injected at most)
    pytest.param(0.5, ("throttling",), 11, 16, id="throttling-burst-0.5"),
    pytest.param(0.4, ("unavailable", "internal"), 12, 16, id="5xx-0.4"),
    pytest.param(0.4, ("reset",), 13, 16, id="reset-0.4"),
    pytest.param(0.2, ("timeout",), 14, 5, id="timeout-0.2"),
    pytest.param(0.3, ("throttling", "unavailable", "internal", "reset", "timeout"), 20, 14, id="mix-0.3"),
]


@pytest.mark.parametrize("rate,kinds,seed,limit", FAULTS)
def test_run_retries_through_faults_and_finishes_every_target(tmp_path, pebble, emu, baseline, rate, kinds, seed,
                                                              limit):
    ini = _ini(tmp_path, pebble, emu)
    started = time.monotonic()
    with FaultBurst(emu, rate, kinds, seed, limit):
        r = _tool(ini, "run")
    elapsed = time.monotonic() - started

    calls = emu.calls
    injected = collections.Counter(c.fault for c in calls if c.fault)
    per_action = collections.Counter(c.action for c in calls)
    base_total = sum(baseline.values())
    print("\n%s @%.1f: %d calls (fault-free %d), injected %s, %.1fs"
          % ("+".join(kinds), rate, len(calls), base_total, dict(injected), elapsed))

    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert injected and set(injected) <= set(kinds), injected          # the faults did happen,
    assert len(injected) >= min(3, len(kinds)), injected
    faulted = {c.action for c in calls if c.fault}
    assert faulted & DNS_ACTIONS and faulted - DNS_ACTIONS, faulted    # to dns-01 and to deployment calls
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.startswith(("wildcard ", "shop "))}
    assert rows["wildcard"][1:6] == ["issued", str(demo.WILDCARD_TARGETS), "0", "0", "0"], r.stdout
    assert rows["shop"][1:6] == ["issued", "1", "0", "0", "0"], r.stdout
    # retries within bounds
    assert len(calls) <= MAX_CALL_FACTOR * base_total, (len(calls), base_total, per_action)
    # every call beyond the fault-free run's is the retry of an injected fault (give or take one)
    by_action = collections.Counter(c.action for c in calls if not c.fault)
    extra = {a: (n, baseline.get(a, 0)) for a, n in by_action.items() if n > baseline.get(a, 0) + 1}
    assert not extra, "calls beyond retries (action: (unfaulted calls, fault-free run)): %s" % extra
    # the cloud is right: every target serves the new certificate, no challenge record left
    assert _serves(emu, tmp_path) == {}
    assert _txt_left(emu) == []
    assert_copies_match(ini, str(tmp_path / "state"), "after the faulty run")


def _failed_img(doc):
    [cert] = [c for c in doc["certificates"] if c["name"] == "wildcard"]
    return cert, [t for t in cert["targets"] if t["status"] == "failed"]


def test_a_target_that_keeps_failing_is_reported_and_the_rest_finish(tmp_path, pebble, emu):
    with Receiver() as hook:
        ini = _ini(tmp_path, pebble, emu, extra=notify_section(hook.url))
        emu.fail_domain("img.demo.test", code="InternalError", http_status=500)
        r = _tool(ini, "run")
        first_calls = emu.calls
        emu.reset_calls()
        rj = _tool(ini, "run", "--json")
        second_calls = emu.calls
    print("\nfailing target: run 1 %d calls, run 2 (--json) %d calls" % (len(first_calls), len(second_calls)))

    def img_failures(calls):
        return [c for c in calls if c.write and "img.demo.test" in c.targets and c.code == "InternalError"]

    # run 1: the healthy targets are done, the failing one is named with code and request id
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    fails1 = img_failures(first_calls)
    assert 1 <= len(fails1) <= 2 * MAX_ATTEMPTS, len(fails1)         # retried, within bounds
    ids1 = {c.request_id for c in fails1}
    [line] = [ln for ln in r.stdout.splitlines() if "img.demo.test" in ln]
    assert "failed" in line and "InternalError" in line, r.stdout
    assert any(rid in line for rid in ids1), (line, ids1)
    assert _serves(emu, tmp_path, healthy_cdn=("www.demo.test", "cdn.demo.test")) == {}
    assert not (emu.cdn_state("img.demo.test").get("cert_name") or "").startswith("wildcard-")
    assert _txt_left(emu) == []
    assert_copies_match(ini, str(tmp_path / "state"), "after a run with a failing target")

    # run 2, --json: nothing to issue, the failing target is tried again and reported the same way
    assert rj.returncode == 1, rj.stdout + rj.stderr
    doc = json.loads(rj.stdout)
    assert doc["ok"] is False
    cert, failed = _failed_img(doc)
    assert [t["target"] for t in failed] == ["img.demo.test"], cert["targets"]
    assert failed[0]["error_code"] == "InternalError"
    assert failed[0]["request_id"] in {c.request_id for c in img_failures(second_calls)}
    assert sorted(t["status"] for t in cert["targets"]) == ["failed"] + ["unchanged"] * (demo.WILDCARD_TARGETS - 1)
    assert not [c for c in second_calls if c.write and "img.demo.test" not in c.targets]

    # one notification per failed run, naming the target, the code and the request id
    assert len(hook.bodies) == 2, hook.bodies
    for (ctype, body), rid in zip(hook.bodies, [line, failed[0]["request_id"]]):
        assert ctype.startswith("application/json")
        note = json.loads(body)
        assert note["ok"] is False
        _, nfailed = _failed_img(note)
        assert [(t["target"], t["error_code"]) for t in nfailed] == [("img.demo.test", "InternalError")]
        assert nfailed[0]["request_id"] and nfailed[0]["request_id"] in rid
        assert "img.demo.test" in note["text"] and "InternalError" in note["text"]
        assert nfailed[0]["request_id"] in note["text"]
