"""Cloud faults end to end: `acme-aliyun run` (a separate process, the demo acme.ini) against the
Alibaba Cloud emulator injecting throttling, 5xx, connection resets and timeouts.

Faults follow a schedule (the nth call of an action fails, tests/aliyun_emulator/faults.py): the
same calls fail on every run, whatever the timing, and no action draws as many faults as one call
has attempts, so a failure here is a product bug, not bad luck. The tool runs with a shortened cloud
backoff (tests/fastretry): attempts and retry rules are the product's, only the waits shrink.

For each fault kind the run must retry within bounds (at most MAX_CALL_FACTOR x the fault-free run's
calls, and every extra call is the retry of an injected fault), finish every target, exit 0, and
leave the cloud right: every target serves the new certificate (the serial its Describe API answers
is the stored fullchain's), no dns-01 TXT record left behind. A target that keeps failing must not
stop the healthy ones: it is reported with the cloud's error code and request id (summary and
--json), the run exits 1 and the webhook fires with the same facts.
"""

import collections
import json
import time

import pytest

from tests import demo
from tests.canary import notify_section, run_tool
from tests.served import served_serials, stored_serial, wrong_targets
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
PER_ACTION = MAX_ATTEMPTS - 2  # faults scheduled for one action at most: one call can never exhaust its attempts
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
    """The tool with its cloud backoff shortened (attempts and rules unchanged): bounds, not waits, are checked."""
    return run_tool(ini, *args, env=demo.tool_env(), timeout=120, fast_retry=True)


def _serves(emu, folder, healthy_cdn=CDN):
    """{target: served serial} for every target that does not serve the stored certificate (empty = all right),
    read through each product's Describe API with the SDK."""
    state = "%s/state" % folder
    wrong = wrong_targets(served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=healthy_cdn, dcdn=DCDN,
                                         api=["%s:%s" % (demo.GROUP, d) for d in API]),
                          stored_serial(state, "wildcard"))
    wrong.update(wrong_targets(served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=[SHOP_CDN]),
                               stored_serial(state, "shop")))
    return wrong


def _txt_left(emu):
    return [r for r in emu.dns_records("demo.test") if r["type"] == "TXT"]


def _logged_calls(emu, faults):
    """The call log once `faults` faulted calls are in it: a "timeout" call is logged when the emulator
    lets go of it, TIMEOUT_SLEEP s after the client gave up on it (and maybe after the run ended)."""
    deadline = time.monotonic() + TIMEOUT_SLEEP + 2
    calls = emu.calls
    while sum(1 for c in calls if c.fault) < faults and time.monotonic() < deadline:
        time.sleep(0.05)
        calls = emu.calls
    return calls


def fault_plan(actions, kinds, per_action, only=None):
    """The schedule: the first `per_action` calls of each action (of `only`, if given) fail, kinds in turn."""
    chosen = sorted(a for a in actions if only is None or a in only)
    return {a: {n: kinds[(i + n) % len(kinds)] for n in range(1, per_action + 1)} for i, a in enumerate(chosen)}


@pytest.fixture(scope="module")
def baseline(pebble, tmp_path_factory):
    """The fault-free run: calls per action (the yardstick of the retry bounds)."""
    e = demo.start_emulator(pebble, timeout_sleep_s=TIMEOUT_SLEEP)
    try:
        folder = tmp_path_factory.mktemp("baseline")
        r = _tool(_ini(folder, pebble, e), "run")
        assert r.returncode == 0, r.stdout + r.stderr
        calls = collections.Counter(c.action for c in e.calls)      # before _serves adds its reads
        assert _serves(e, folder) == {}
        return calls
    finally:
        e.stop()


SOME = ("AddDomainRecord", "SetDcdnDomainSSLCertificate", "DescribeApiGroup")   # a dns-01 call, a write, a read
FAULTS = [   # kinds, faults per action, actions (None: every action of the fault-free run)
    pytest.param(("throttling",), 3, None, id="throttling"),
    pytest.param(("unavailable", "internal"), 2, None, id="5xx"),
    pytest.param(("reset",), 2, None, id="reset"),
    pytest.param(("timeout",), 1, SOME, id="timeout"),
    pytest.param(("throttling", "unavailable", "internal", "reset"), PER_ACTION, None, id="mix"),
]


@pytest.mark.parametrize("kinds,per_action,only", FAULTS)
def test_run_retries_through_faults_and_finishes_every_target(tmp_path, pebble, emu, baseline, kinds, per_action,
                                                              only):
    ini = _ini(tmp_path, pebble, emu)
    plan = fault_plan(baseline, kinds, per_action, only)
    started = time.monotonic()
    emu.schedule_faults(plan)
    try:
        r = _tool(ini, "run")
    finally:
        emu.schedule_faults({})
    elapsed = time.monotonic() - started

    calls = _logged_calls(emu, sum(len(v) for v in plan.values()))
    injected = collections.Counter(c.fault for c in calls if c.fault)
    per_action_calls = collections.Counter(c.action for c in calls)
    base_total = sum(baseline.values())
    print("\n%s x%d: %d calls (fault-free %d), injected %s, %.1fs"
          % ("+".join(kinds), per_action, len(calls), base_total, dict(injected), elapsed))

    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    got = collections.Counter(c.action for c in calls if c.fault)
    print("planned vs injected:", {a: (len(v), got.get(a, 0)) for a, v in plan.items() if len(v) != got.get(a, 0)},
          "calls:", dict(per_action_calls))
    # the schedule played out in full: every planned fault met its call, none other was injected
    assert sum(injected.values()) == sum(len(v) for v in plan.values()), (dict(injected), plan)
    assert set(injected) == set(kinds), injected
    faulted = {c.action for c in calls if c.fault}
    assert faulted == set(plan), faulted ^ set(plan)
    assert faulted & DNS_ACTIONS and faulted - DNS_ACTIONS, faulted    # to dns-01 and to deployment calls
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.startswith(("wildcard ", "shop "))}
    assert rows["wildcard"][1:6] == ["issued", str(demo.WILDCARD_TARGETS), "0", "0", "0"], r.stdout
    assert rows["shop"][1:6] == ["issued", "1", "0", "0", "0"], r.stdout
    # retries within bounds
    assert len(calls) <= MAX_CALL_FACTOR * base_total, (len(calls), base_total, per_action_calls)
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
    img = served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=["img.demo.test"])["cdn img.demo.test"]
    assert img != stored_serial(tmp_path / "state", "wildcard")
    assert _txt_left(emu) == []
    assert_copies_match(ini, str(tmp_path / "state"), "after a run with a failing target")

    # run 2, --json: nothing to issue, the failing target is tried again and reported the same way
    assert rj.returncode == 1, rj.stdout + rj.stderr
    doc = json.loads(rj.stdout)
    assert doc["ok"] is False
    cert, failed = _failed_img(doc)
    assert [t["target"] for t in failed] == ["img.demo.test"], cert["targets"]
    assert failed[0]["error"]["code"] == "InternalError"
    assert failed[0]["error"]["request_id"] in {c.request_id for c in img_failures(second_calls)}
    assert sorted(t["status"] for t in cert["targets"]) == ["failed"] + ["unchanged"] * (demo.WILDCARD_TARGETS - 1)
    assert not [c for c in second_calls if c.write and "img.demo.test" not in c.targets]

    # one notification per failed run, naming the target, the code and the request id
    assert len(hook.bodies) == 2, hook.bodies
    for (ctype, body), rid in zip(hook.bodies, [line, failed[0]["error"]["request_id"]]):
        assert ctype.startswith("application/json")
        note = json.loads(body)
        assert note["ok"] is False
        _, nfailed = _failed_img(note)
        assert [(t["target"], t["error"]["code"]) for t in nfailed] == [("img.demo.test", "InternalError")]
        assert nfailed[0]["error"]["request_id"] and nfailed[0]["error"]["request_id"] in rid
        assert "img.demo.test" in note["text"] and "InternalError" in note["text"]
        assert nfailed[0]["error"]["request_id"] in note["text"]
        assert demo.SECRET.encode() not in body and b"PRIVATE KEY" not in body
    first_note, _ = _failed_img(json.loads(hook.bodies[0][1]))
    assert sum(1 for t in first_note["targets"] if t["status"] == "deployed") == demo.WILDCARD_TARGETS - 1
