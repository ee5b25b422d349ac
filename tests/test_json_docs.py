"""Issue 14 point 14: --json is documented and versioned.

The JSON Schemas are read from docs/json.md itself and every command's real output is
validated against them: status (with and without --targets), run, deploy (and --dry-run),
issue, cloud check, account show, directory, the failure document, the FC handler's
answer and the generic webhook body, all from one issued state against Pebble and the
emulator. The schemas are strict: a time without an offset, an unknown key or a missing
one fails them."""

import datetime
import json
import os
import re
import types

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from acme_aliyun import jsondoc
from acme_aliyun.kinds import CertAction, CopyStatus, TargetStatus
from acme_aliyun.report import CertOutcome, RunReport, TargetResult
from acme_aliyun.store import Store
from tests import demo
from tests.conftest import ROOT, run_cli, write_ini
from tests.webhook import Receiver

DOC = os.path.join(ROOT, "docs", "json.md")
BASE = "https://acme-aliyun.example/json/1/"
SHOP, GHOST = "shop.example.test", "ghost.example.test"      # GHOST: a CDN domain the account does not have
UTC = datetime.timezone.utc


# --- the schemas in docs/json.md -----------------------------------------------------------

def _blocks():
    with open(DOC, encoding="utf-8") as fh:
        text = fh.read()
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.S)]


SCHEMAS = {b["$id"]: b for b in _blocks() if "$schema" in b}
EXAMPLES = [b for b in _blocks() if "$schema" not in b]
REGISTRY = Registry().with_resources([(i, Resource.from_contents(s)) for i, s in SCHEMAS.items()])
SCHEMA_OF = {"run": "report", "deploy": "report", "issue": "report", "status": "status",
             "cloud check": "cloud-check", "account show": "account-show", "directory": "directory"}


def _validator(name):
    return Draft202012Validator(SCHEMAS[BASE + name], registry=REGISTRY, format_checker=FormatChecker())


def _errors(doc, name):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in _validator(name).iter_errors(doc)]


def check(doc, command, failed=False):
    """doc is a valid document of this command (its own schema, and `document`)."""
    name = "failure" if failed else SCHEMA_OF[command]
    assert _errors(doc, name) == [], json.dumps(doc, indent=1)[:3000]
    assert _errors(doc, "document") == []
    assert (doc["schema"], doc["command"]) == (jsondoc.SCHEMA, command)
    return doc


def test_every_schema_in_the_docs_is_a_valid_schema_and_the_examples_fit():
    assert {BASE + n for n in ("time", "error", "target", "certificate", "counts", "last-run", "probe", "failure",
                               "report", "status", "cloud-check", "account-show", "directory",
                               "document")} == set(SCHEMAS)
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
    assert len(EXAMPLES) == 2
    for example in EXAMPLES:
        assert _errors(example, "document") == []


# --- the schema can fail ---------------------------------------------------------------------

def _report():
    t = [TargetResult("cdn", SHOP, TargetStatus.DEPLOYED, "now serves x",
                      deployed_not_after=datetime.datetime(2031, 3, 3, tzinfo=UTC)),
         TargetResult("cdn", GHOST, TargetStatus.FAILED, "no such domain", error_code="InvalidDomain.NotFound",
                      request_id="REQ-1")]
    o = CertOutcome("shop", CertAction.RENEWED, "renewal due", targets=t, copies=CopyStatus.WRITTEN,
                    next_renewal=datetime.datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=UTC),
                    not_after=datetime.datetime(2031, 3, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=8))))
    return RunReport([o], host="ecs-web-1")


def test_times_are_utc_with_z_and_a_time_without_offset_fails_the_schema():
    doc = check(_report().to_dict("run"), "run")
    cert = doc["certificates"][0]
    assert cert["renew_at"] == "2031-02-03T04:05:06Z" and cert["not_after"] == "2031-03-02T16:00:00Z"
    assert cert["targets"][1]["error"] == {"message": "no such domain", "code": "InvalidDomain.NotFound",
                                           "request_id": "REQ-1"}
    for bad in ("2031-02-03T04:05:06", "2031-02-03T04:05:06+08:00", "2031-02-03 04:05:06Z", "tomorrow"):
        broken = json.loads(json.dumps(doc))
        broken["certificates"][0]["renew_at"] = bad
        assert _errors(broken, "report"), bad
    with pytest.raises(ValueError):
        jsondoc.rfc3339(datetime.datetime(2031, 2, 3))         # naive: a bug, never printed


@pytest.mark.parametrize("drift", ["extra key", "missing key", "error as text", "unknown status", "schema 2"])
def test_a_drifting_field_fails_the_schema(drift):
    doc = check(_report().to_dict("deploy"), "deploy")
    target = doc["certificates"][0]["targets"][0]
    if drift == "extra key":
        target["error_code"] = None
    elif drift == "missing key":
        del doc["certificates"][0]["serial"]
    elif drift == "error as text":
        doc["certificates"][0]["error"] = "validation failed"
    elif drift == "unknown status":
        target["status"] = "ok"
    else:
        doc["schema"] = 2
    assert _errors(doc, "report") and _errors(doc, "document")


def test_the_document_reads_back_into_the_same_report():
    doc = _report().to_dict("run")
    again = RunReport.from_dict(json.loads(json.dumps(doc)))
    [o] = again.outcomes
    assert (o.action, o.copies, o.targets[1].error_code, o.targets[1].request_id) == (
        CertAction.RENEWED, CopyStatus.WRITTEN, "InvalidDomain.NotFound", "REQ-1")
    assert o.next_renewal == datetime.datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    redo = again.to_dict("run")
    assert {**redo, "generated_at": None} == {**doc, "generated_at": None}
    doc["certificates"][0]["renew_at"] = "2031-02-03T04:05:06"       # an older sender, no zone: read as UTC
    assert RunReport.from_dict(doc).to_dict("run")["certificates"][0]["renew_at"] == "2031-02-03T04:05:06Z"


def test_a_status_row_with_history_fits_the_certificate_shape():
    """status's history (the last-run record, the backoff, a revocation) in the documented shapes."""
    row = {"name": "shop", "domains": [SHOP], "stored": True, "serial": "0a1b", "issuer": "Pebble",
           "not_before": "2026-11-01T00:00:00+00:00", "not_after": "2027-01-30T00:00:00+08:00", "days_left": 61.2,
           "renew_at": "2026-12-31T00:00:00+00:00", "due": False, "renew_source": "lifetime", "reason": "not due",
           "path": "/var/lib/acme-aliyun/certs/shop", "ari_window": None, "deploy_blocked": "revoked",
           "revoked": "2026-11-28T10:00:00.123456+00:00", "revoked_reason": "keyCompromise",
           "failures": 2, "last_error": "order invalid", "deferred_until": "2026-11-29T11:00:00+00:00",
           "last_run": {"at": "2026-11-29T05:00:00", "command": "run", "action": "failed", "ok": False,
                        "issue_checked": True, "error": "order invalid", "deferred_until": None,
                        "counts": {"deployed": 0, "unchanged": 0, "refused": 0, "failed": 1, "planned": 0},
                        "targets": [{"kind": "cdn", "target": GHOST, "status": "failed", "reason": "no such domain",
                                     "error_code": "InvalidDomain.NotFound", "request_id": "REQ-2"}]}}
    [cert] = check(jsondoc.status([row]), "status")["certificates"]
    assert cert["revoked"] == {"at": "2026-11-28T10:00:00Z", "reason": "keyCompromise"}
    assert (cert["not_after"], cert["deferred_until"], cert["failures"]) == (
        "2027-01-29T16:00:00Z", "2026-11-29T11:00:00Z", 2)
    assert cert["last_error"]["message"] == "order invalid" and cert["renew_reason"] == "not due"
    last = cert["last_run"]
    assert (last["at"], last["action"], last["error"]["message"]) == ("2026-11-29T05:00:00Z", "failed", "order invalid")
    assert last["targets"][0]["error"] == {"message": "no such domain", "code": "InvalidDomain.NotFound",
                                           "request_id": "REQ-2"}


# --- real commands against Pebble and the emulator --------------------------------------------

@pytest.fixture(scope="module")
def world(pebble, tmp_path_factory):
    """One issued certificate (two CDN targets, one of them unknown to the account), a webhook."""
    emu = demo.start_emulator(pebble)
    hook = Receiver()
    folder = tmp_path_factory.mktemp("jsondocs")
    ini = write_ini(folder, pebble, """
        [cert:shop]
        Domains = %s, %s
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        CDN = %s, %s

        [aliyun]
        Region = cn-hangzhou
        Endpoint = %s

        [notify]
        Webhook = %s
        """ % (SHOP, GHOST, pebble.http_port, SHOP, GHOST, emu.endpoint, hook.url))
    env = demo.tool_env()
    issued = run_cli("-c", ini, "issue", "--json", env=env)
    yield types.SimpleNamespace(ini=ini, env=env, folder=folder, issued=issued, hook=hook, emu=emu,
                                run=lambda *a: run_cli("-c", ini, *a, env=env))
    hook.close()
    emu.stop()


def _json(r):
    """The whole of stdout is one JSON document."""
    return json.loads(r.stdout)


def _stored(world):
    return Store(str(world.folder / "state")).load("shop").bundle


def test_issue_json(world):
    r = world.issued
    assert r.returncode == 0, r.stderr
    [cert] = check(_json(r), "issue")["certificates"]
    bundle = _stored(world)
    assert cert["action"] == "issued" and cert["domains"] == [SHOP, GHOST] and cert["targets"] == []
    assert cert["not_after"] == jsondoc.rfc3339(bundle.not_after)
    again = world.run("renew", "--json")                    # the alias: same command, now not due
    assert again.returncode == 0 and check(_json(again), "issue")["certificates"][0]["action"] == "unchanged"


def test_status_json_with_and_without_targets(world):
    [cert] = check(_json(world.run("status", "--json")), "status")["certificates"]
    bundle = _stored(world)
    assert (cert["serial"], cert["not_after"], cert["due"], cert["targets"]) == (
        bundle.serial, jsondoc.rfc3339(bundle.not_after), False, None)
    r = world.run("certificates", "--targets", "--json")
    [cert] = check(_json(r), "status")["certificates"]
    by_target = {t["target"]: t for t in cert["targets"]}
    assert set(by_target) == {SHOP, GHOST}
    assert by_target[GHOST]["error"]["message"] and by_target[SHOP]["error"] is None


def test_run_and_deploy_json_name_the_failed_target_and_the_webhook_carries_the_same_document(world):
    before = len(world.hook.bodies)
    r = world.run("run", "--json")
    assert r.returncode == 1, r.stderr
    doc = check(_json(r), "run")
    [cert] = doc["certificates"]
    by_target = {t["target"]: t for t in cert["targets"]}
    assert by_target[SHOP]["status"] in ("deployed", "unchanged") and by_target[SHOP]["error"] is None
    assert by_target[GHOST]["status"] == "failed" and by_target[GHOST]["error"]["code"], by_target[GHOST]
    assert by_target[SHOP]["not_after"] == jsondoc.rfc3339(_stored(world).not_after)
    assert cert["serial"] == _stored(world).serial
    [body] = world.hook.json()[before:]
    assert body["text"] and check(body, "run")
    assert {**body, "text": None, "generated_at": None} == {**doc, "text": None, "generated_at": None}
    assert RunReport.from_dict(body).outcomes[0].targets[1].error_code == by_target[GHOST]["error"]["code"]

    plan = world.run("deploy", "shop", "--dry-run", "--json")
    doc = check(_json(plan), "deploy")
    assert doc["dry_run"] is True and doc["certificates"][0]["counts"]["deployed"] == 0
    doc = check(_json(world.run("deploy", "shop", "--json")), "deploy")
    assert doc["ok"] is False and doc["certificates"][0]["counts"]["failed"] == 1


def test_cloud_check_and_account_show_json(world):
    r = world.run("cloud", "check", "--json")
    doc = check(_json(r), "cloud check")
    [profile] = doc["profiles"]
    probes = {p["target"]: p for p in profile["probes"]}
    assert profile["profile"] is None and profile["credentials"] == "env"
    assert probes[SHOP]["ok"] is True and probes[GHOST]["ok"] is False
    assert r.returncode == 1 and doc["ok"] is False

    doc = check(_json(world.run("account", "show", "--json")), "account show")
    accounts = json.loads((world.folder / "state" / "accounts.json").read_text())
    assert doc["account"]["status"] == "valid" and doc["account"]["contact"] == ["mailto:admin@example.test"]
    assert doc["account"]["url"] in accounts.values()
    doc = check(_json(world.run("directory", "--json")), "directory")
    assert doc["directory"]["endpoints"]["newOrder"].startswith("https://")


@pytest.mark.parametrize("args, command, code, words", [
    (("run", "--json", "nosuch"), "run", 2, "nosuch"),
    (("status", "--json", "-c", "/nonexistent/acme.ini"), "status", 2, "/nonexistent/acme.ini"),
    (("account", "show", "--json", "-c", "/nonexistent/acme.ini"), "account show", 2, "acme.ini"),
])
def test_a_failing_command_prints_the_failure_document(world, args, command, code, words):
    before = len(world.hook.bodies)
    r = world.run(*args)
    assert r.returncode == code, r.stderr
    doc = check(_json(r), command, failed=True)
    assert words in doc["error"]["message"] and doc["ok"] is False
    notes = world.hook.json()[before:]
    if command == "run":                # the config loaded: the webhook hears of it, in the same shape
        [note] = notes
        assert check(note, "run", failed=True)["error"] == doc["error"] and note["text"]
    else:
        assert notes == []


def _fc_context():
    creds = types.SimpleNamespace(access_key_id=demo.AK, access_key_secret=demo.SECRET, security_token=None)
    return types.SimpleNamespace(request_id="req-1", credentials=creds, region="cn-hangzhou")


def test_the_fc_handler_answers_with_the_same_documents(world, monkeypatch):
    from acme_aliyun import fc
    monkeypatch.setenv("ACME_ALIYUN_CONFIG", world.ini)
    monkeypatch.setenv("ACME_ALIYUN_STATE_DIR", str(world.folder / "state"))
    status = check(json.loads(fc.handler(b'{"action": "status"}', _fc_context())), "status")
    assert status["certificates"][0]["serial"] == _stored(world).serial
    answer = check(json.loads(fc.handler(b'{"action": "run"}', _fc_context())), "run")
    assert answer["pending"] == [] and answer["certificates"][0]["action"] == "unchanged"
    assert answer["certificates"][0]["counts"]["failed"] == 1
    bad = json.loads(fc.handler(b"{not json", _fc_context()))
    assert _errors(bad, "failure") == [] and bad["command"] is None and "the event is" in bad["error"]["message"]
    bad = json.loads(fc.handler(b'{"action": "deploy", "force": "maybe"}', _fc_context()))
    assert _errors(bad, "failure") == [] and "force" in bad["error"]["message"]


def test_a_held_lock_gives_the_failure_document_and_exit_3(world):
    with Store(str(world.folder / "state")).lock(wait=False):
        r = world.run("run", "--no-wait", "--json")
    assert r.returncode == 3, r.stderr
    doc = check(_json(r), "run", failed=True)
    assert "pid %d" % os.getpid() in doc["error"]["message"]


def test_status_probe_with_json_keeps_stdout_to_the_document(world):
    """The edge probe's lines go to stderr; its failure (nothing listens) is the exit code and ok."""
    text = open(world.ini).read() + "\n[probe]\nResolve = %s:127.0.0.1:1, %s:127.0.0.1:1\nTimeout = 2\n" % (SHOP, GHOST)
    ini = world.folder / "probe.ini"
    ini.write_text(text)
    r = run_cli("-c", str(ini), "status", "--probe", "--json", env=world.env)
    assert r.returncode == 1, r.stderr
    doc = check(_json(r), "status")
    assert doc["ok"] is False and doc["certificates"][0]["serial"] == _stored(world).serial
    assert SHOP in r.stderr and "local serial" in r.stderr


def test_status_json_carries_the_last_run_per_certificate_and_target(world):
    r = world.run("run", "--json")
    ran = check(_json(r), "run")
    [cert] = check(_json(world.run("status", "--json")), "status")["certificates"]
    last = cert["last_run"]
    assert (last["command"], last["ok"], last["counts"]) == ("run", False, ran["certificates"][0]["counts"])
    [ghost] = [t for t in last["targets"] if t["target"] == GHOST]
    assert ghost["status"] == "failed" and ghost["error"]["code"] == next(
        t["error"]["code"] for t in ran["certificates"][0]["targets"] if t["target"] == GHOST)
    assert jsondoc.parse_time(last["at"]) >= jsondoc.parse_time(ran["generated_at"]) - datetime.timedelta(seconds=5)
    assert (cert["revoked"], cert["deferred_until"], cert["failures"]) == (None, None, 0)


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_planned_revoked_and_deferred_in_the_documents(tmp_path, pebble, cli):
    """A dry run that would issue, a revoked certificate, and a failed order's backoff, as documented."""
    ini = write_ini(tmp_path, pebble, """
        [cert:solo]
        Domains = solo.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d

        [cert:lost]
        Domains = lost.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:%d
        """ % (pebble.http_port, _free_port()))        # lost: Pebble's validation finds nobody listening
    [plan] = check(_json(cli("-c", ini, "deploy", "solo", "--dry-run", "--json")), "deploy")["certificates"]
    assert (plan["action"], plan["challenge"], plan["domains"]) == ("planned", "http-01", ["solo.example.test"])
    assert cli("-c", ini, "issue", "solo").returncode == 0
    assert cli("-c", ini, "revoke", "solo", "--reason", "superseded").returncode == 0
    r = cli("-c", ini, "issue", "lost", "--json")
    assert r.returncode == 1
    [lost] = check(_json(r), "issue")["certificates"]
    assert lost["action"] == "failed" and lost["error"]["message"]
    certs = {c["name"]: c for c in check(_json(cli("-c", ini, "status", "--json")), "status")["certificates"]}
    assert certs["solo"]["revoked"]["reason"] == "superseded" and certs["solo"]["revoked"]["at"]
    assert certs["lost"]["failures"] == 1 and certs["lost"]["last_error"]["message"]
    assert jsondoc.parse_time(certs["lost"]["deferred_until"]) > datetime.datetime.now(UTC)
    [again] = check(_json(cli("-c", ini, "run", "lost", "--json")), "run")["certificates"]
    assert again["action"] == "deferred" and again["deferred_until"] == certs["lost"]["deferred_until"]
