"""Running it for real: the demo, the lock, one-shot deploy, the Function Compute handler."""

import json
import os
import re
import subprocess
import sys
import types

import pytest

from tests import demo, summary
from tests.certcheck import verify_chain
from tests.served import served_serials, stored_serial, wrong_targets
from tests.webhook import Receiver


@pytest.fixture
def ini(tmp_path, pebble, emu):
    return demo.write_demo_ini(str(tmp_path), pebble, emu)


def _run(ini, *args):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=demo.tool_env(),
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def _orders(pebble):
    return pebble.orders_created()


def test_make_demo_end_to_end(tmp_path, capsys):
    """demo.main returns 0 only if every target's Describe answer serves the stored certificate's serial."""
    assert demo.main(str(tmp_path / "demo")) == 0
    out = capsys.readouterr().out
    assert out.count("= stored wildcard") == 6 and out.count("= stored shop") == 1, out


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
    with open(tmp_path / "state" / "certs" / "shop" / "fullchain.pem") as fh:
        fullchain = fh.read()
    verify_chain(fullchain, pebble.root_pem())
    served = served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=["shop.example.test"])
    assert served == {"cdn shop.example.test": stored_serial(tmp_path / "state", "shop")}
    first = summary.rows(r.stdout)["shop"]
    assert (first["issue"], first["deployed"], first["unchanged"]) == ("issued", 1, 0), r.stdout
    again = _run(ini, "deploy", "shop")
    assert again.returncode == 0, again.stdout + again.stderr
    row = summary.rows(again.stdout)["shop"]          # a usable certificate: deploy does not ask the issuer
    assert (row["issue"], row["deployed"], row["unchanged"]) == ("-", 0, 1), again.stdout


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
    served = served_serials(emu.endpoint, demo.AK, demo.SECRET, cdn=("www.demo.test", "img.demo.test", "cdn.demo.test"),
                            dcdn=("static.demo.test",), api=["%s:%s" % (demo.GROUP, d) for d in ("api.demo.test",
                                                                                              "open.demo.test")])
    assert wrong_targets(served, stored_serial(nas, "wildcard")) == {} and len(served) == 6
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
    assert (out["ok"], out["command"], out["error"]["message"]) == (
        False, None, "unknown action 'explode' (use one of run, issue, deploy, status)")


@pytest.mark.parametrize("event", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_function_compute_malformed_event_is_a_clean_error(event):
    from acme_aliyun import fc
    out = json.loads(fc.handler(event, _fc_context()))
    assert out["ok"] is False and "the event is" in out["error"]["message"]


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
    assert out["ok"] is False and "no certificate configured" in out["error"]["message"]
    [(ctype, body)] = receiver.bodies
    assert b"no certificate configured" in body
