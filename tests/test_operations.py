"""Running it for real: the demo, concurrent runs, one-shot deploy, the Function Compute handler, webhooks."""

import json
import os
import re
import subprocess
import sys
import types

import pytest

from tests import demo
from tests.certcheck import verify_chain
from tests.webhook import Receiver


@pytest.fixture
def emu(pebble):
    e = demo.start_emulator(pebble)
    yield e
    e.stop()


@pytest.fixture
def ini(tmp_path, pebble, emu):
    return demo.write_demo_ini(str(tmp_path), pebble, emu)


def _run(ini, *args):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=demo.tool_env(),
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def _orders(pebble):
    return pebble.orders_created()


def test_make_demo_end_to_end(tmp_path):
    assert demo.main(str(tmp_path / "demo")) == 0


def test_two_runs_started_together_make_one_order_per_certificate(ini, pebble, emu):
    before = _orders(pebble)
    procs = [subprocess.Popen([sys.executable, "-m", "acme_aliyun", "-c", ini, "run"], env=demo.tool_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
             for _ in range(2)]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert _orders(pebble) - before == 2          # two certificates, one order each
    actions = sorted(line.split()[1] for out, _, _ in results for line in out.splitlines()
                     if line.startswith(("wildcard ", "shop ")))
    assert actions == ["issued", "issued", "unchanged", "unchanged"]
    assert emu.cdn_state("www.demo.test")["cert_name"].startswith("wildcard-")


def test_run_no_wait_exits_3_while_locked(ini, tmp_path):
    from acme_aliyun.store import Store
    with Store(str(tmp_path / "state")).lock():
        r = _run(ini, "run", "--no-wait")
    assert r.returncode == 3, r.stderr
    # the holder named once: pid and start time (issue 14, point 10)
    assert re.search(r"^error: another run \(pid %d, started \d\d:\d\d\) holds the lock on \S+$" % os.getpid(),
                     r.stderr.strip()), r.stderr
    assert r.stderr.count("another run") == 1


def test_deploy_on_fresh_state_issues_and_deploys(ini, pebble, emu, tmp_path):
    r = _run(ini, "deploy", "shop")
    assert r.returncode == 0, r.stdout + r.stderr
    state = emu.cdn_state("shop.example.test")
    assert state["cert_name"].startswith("shop-") and state["ssl"] in (True, "on")
    with open(tmp_path / "state" / "certs" / "shop" / "fullchain.pem") as fh:
        fullchain = fh.read()
    verify_chain(fullchain, pebble.root_pem())
    assert state["serial"] == _serial(fullchain)
    again = _run(ini, "deploy", "shop")
    assert again.returncode == 0 and "unchanged" in again.stdout


def _serial(fullchain):
    from acme_aliyun import pki
    return pki.load_cert_pem(fullchain).serial_number


def test_dry_run_writes_nothing(ini, emu):
    assert _run(ini, "issue", "wildcard").returncode == 0
    emu.reset_calls()
    r = _run(ini, "deploy", "wildcard", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "planned" in r.stdout and emu.write_calls() == []
    assert not emu.cdn_state("www.demo.test")["cert_name"]


def _fc_context():
    creds = types.SimpleNamespace(access_key_id=demo.AK, access_key_secret=demo.SECRET, security_token=None)
    return types.SimpleNamespace(request_id="req-1", credentials=creds, region="cn-hangzhou",
                                 function=types.SimpleNamespace(name="acme", handler="index.handler"))


def test_function_compute_handler_issues_deploys_then_reuses_nas_state(tmp_path, pebble, emu, monkeypatch):
    from acme_aliyun import fc
    code = tmp_path / "code"
    code.mkdir()
    demo.write_demo_ini(str(code), pebble, emu)
    nas = tmp_path / "nas"
    monkeypatch.setenv("ACME_ALIYUN_CONFIG", str(code / "acme.ini"))
    monkeypatch.setenv("ACME_ALIYUN_STATE_DIR", str(nas))
    event = json.dumps({"triggerTime": "2026-11-26T03:17:00Z", "triggerName": "renew",
                        "payload": json.dumps({"action": "run", "certificates": ["wildcard"]})}).encode()
    os.chmod(code, 0o555)                                     # the code folder is read-only in FC
    try:
        first = json.loads(fc.handler(event, _fc_context()))
    finally:
        os.chmod(code, 0o755)
    assert first["ok"] is True, first
    [cert] = first["certificates"]
    assert cert["action"] == "issued" and cert["counts"]["deployed"] == demo.WILDCARD_TARGETS
    assert (nas / "account.key").exists() and (nas / "certs" / "wildcard" / "fullchain.pem").exists()
    assert emu.apigw_domain_state(demo.GROUP, "api.demo.test")["cert_name"].startswith("wildcard-")
    orders = _orders(pebble)
    emu.reset_calls()
    second = json.loads(fc.handler(event, _fc_context()))
    assert second["ok"] is True
    assert second["certificates"][0]["action"] == "unchanged"
    assert second["certificates"][0]["counts"]["unchanged"] == demo.WILDCARD_TARGETS
    assert _orders(pebble) == orders and emu.write_calls() == []
    accounts = json.loads((nas / "accounts.json").read_text())
    assert len(accounts) == 1                                  # the same account, found again


def test_function_compute_bad_event_is_a_clean_error():
    from acme_aliyun import fc
    out = json.loads(fc.handler(b'{"triggerTime":"x","triggerName":"t","payload":"{\\"action\\":\\"explode\\"}"}',
                                _fc_context()))
    assert out == {"ok": False, "error": "unknown action 'explode' (use one of run, issue, deploy, status)"}


def test_failing_target_triggers_the_webhook(ini, emu):
    receiver = Receiver()
    try:
        with open(ini, "a") as fh:
            fh.write("\n[notify]\nWebhook = %s\nFormat = generic\n" % receiver.url)
        emu.fail_domain("img.demo.test", code="InternalError", http_status=500)
        r = _run(ini, "run", "wildcard")
    finally:
        receiver.close()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "img.demo.test failed" in r.stdout and "InternalError" in r.stdout
    assert len(receiver.bodies) == 1
    ctype, body = receiver.bodies[0]
    assert ctype.startswith("application/json")
    doc = json.loads(body)
    assert doc["ok"] is False
    [cert] = doc["certificates"]
    failed = [t for t in cert["targets"] if t["status"] == "failed"]
    assert [t["target"] for t in failed] == ["img.demo.test"] and failed[0]["error_code"] == "InternalError"
    assert failed[0]["request_id"]
    assert sum(1 for t in cert["targets"] if t["status"] == "deployed") == demo.WILDCARD_TARGETS - 1
    assert demo.SECRET.encode() not in body and b"PRIVATE KEY" not in body


@pytest.mark.parametrize("event", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_function_compute_malformed_event_is_a_clean_error(event):
    from acme_aliyun import fc
    out = json.loads(fc.handler(event, _fc_context()))
    assert out["ok"] is False and "the event is" in out["error"]


def test_function_compute_run_that_cannot_start_notifies(tmp_path, monkeypatch):
    """A run that stops before any certificate (here: none configured) returns ok: false and fires
    the webhook, FC's only alert."""
    from acme_aliyun import fc
    receiver = Receiver()
    try:
        ini = tmp_path / "acme.ini"
        ini.write_text("[acme]\nACMEDirectory = https://127.0.0.1:9/dir\nAccountKeyFile = a.key\n"
                       "[notify]\nWebhook = %s\n" % receiver.url)
        monkeypatch.setenv("ACME_ALIYUN_CONFIG", str(ini))
        monkeypatch.setenv("ACME_ALIYUN_STATE_DIR", str(tmp_path / "nas"))
        out = json.loads(fc.handler(b'{"action": "run"}', _fc_context()))
    finally:
        receiver.close()
    assert out["ok"] is False and "no certificate configured" in out["error"]
    [(ctype, body)] = receiver.bodies
    assert b"no certificate configured" in body
