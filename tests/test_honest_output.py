"""Honest output (issue 14, points 11-13), through the real CLI against Pebble and the emulator.

One certificate for three CDN domains goes through a dry run on a fresh state folder, a deploy
where the emulator refuses one domain, a deploy and a run with nothing due, a domain changed
behind our back, and `status` / `status --targets` after each step. The run/deploy table splits
ISSUE from the DEPLOY counts, a dry run says so, and `status` reports the last run per target.
"""

import datetime
import json
import re
import subprocess
import sys

from acme_aliyun import lastrun
from acme_aliyun.kinds import CertAction
from acme_aliyun.report import CertOutcome, RunReport, recorded_issue_text, when
from acme_aliyun.store import Store
from tests import demo, summary
from tests.tlsserver import self_signed

DOMAINS = ["shop.example.test", "www.demo.test", "img.demo.test"]
INI = """\
[acme]
ACMEDirectory = {directory}
AccountKeyFile = account.key
CABundle = {ca}
StateDir = state

[cert:shop]
Domains = {domains}
HTTPListen = 127.0.0.1:{http_port}
CDN = {domains}

[aliyun]
Endpoint = {endpoint}
"""
UTC_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


def _ini(tmp_path, pebble, emu):
    path = tmp_path / "acme.ini"
    path.write_text(INI.format(directory=pebble.directory_url, ca=pebble.ca_bundle, http_port=pebble.http_port,
                               endpoint=emu.endpoint, domains=", ".join(DOMAINS)))
    return str(path)


def _run(ini, *args):
    return subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=demo.tool_env(),
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def _row(r):
    rows = summary.rows(r.stdout)
    assert list(rows) == ["shop"], r.stdout + r.stderr
    return rows["shop"]


def _last_run(tmp_path):
    return json.loads((tmp_path / "state" / "last-run.json").read_text())["certificates"]["shop"]


def _history(stdout):
    """The indented lines under the certificate's row in `status`."""
    return [line.strip() for line in stdout.splitlines() if line.startswith(" " * 21) and line.strip()]


def test_dry_run_deploy_run_and_status_tell_what_happened(tmp_path, pebble, emu):  # noqa: C901
    ini = _ini(tmp_path, pebble, emu)

    # 12: a dry run on a fresh state folder says so, plans, and names what it would issue
    r = _run(ini, "deploy", "shop", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "DRY RUN \u2014 nothing written", r.stdout
    assert re.match(r"^CERTIFICATE +ISSUE +-+ DEPLOY -+  NEXT RENEWAL$", lines[1]), r.stdout
    assert lines[2].split() == ["PLANNED", "UNCHANGED", "REFUSED", "FAILED"], r.stdout
    assert _row(r) == {"issue": "would issue", "deployed": 3, "unchanged": 0, "refused": 0, "failed": 0,
                       "next": "-"}
    assert "shop: would issue %s (http-01)" % ", ".join(DOMAINS) in lines, r.stdout
    assert not (tmp_path / "state").exists() and emu.write_calls() == []

    # 11 + 13: a deploy that issues, with one domain the cloud refuses
    emu.fail_domain("img.demo.test", code="DomainInSafeMode", http_status=400)
    r = _run(ini, "deploy", "shop")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert re.match(r"^CERTIFICATE +ISSUE +-+ DEPLOY -+  NEXT RENEWAL$", lines[0]), r.stdout
    assert lines[1].split() == ["DEPLOYED", "UNCHANGED", "REFUSED", "FAILED"], r.stdout
    row = _row(r)
    assert (row["issue"], row["deployed"], row["unchanged"], row["refused"], row["failed"]) == ("issued", 2, 0, 0, 1)
    assert re.fullmatch(UTC_TIME, row["next"]), r.stdout
    record = _last_run(tmp_path)
    assert record["command"] == "deploy" and record["action"] == "issued" and record["ok"] is False
    failed = [t for t in record["targets"] if t["status"] == "failed"]
    assert [(t["target"], t["error_code"]) for t in failed] == [("img.demo.test", "DomainInSafeMode")], record

    s = _run(ini, "status")
    assert s.returncode == 0, s.stdout + s.stderr
    history = _history(s.stdout)
    assert "last deploy %s: issued; targets: 2 deployed, 0 unchanged, 0 refused, 1 failed" % when(record["at"]) \
        in history, s.stdout
    [target] = [line for line in history if line.startswith("cdn img.demo.test failed")]
    assert target.startswith("cdn img.demo.test failed [DomainInSafeMode, request "), s.stdout
    assert re.search(r"^shop +shop\.example\.test,\S+ +%s +\d+\.\d +at %s \(lifetime\)$" % (UTC_TIME, UTC_TIME),
                     s.stdout, re.M), s.stdout

    # 13: status --targets exits 1 while a target does not serve the local certificate
    t = _run(ini, "status", "--targets")
    assert t.returncode == 1, t.stdout + t.stderr
    assert re.search(r"^CERTIFICATE +KIND +TARGET +EXPIRES +LAST RUN +MATCHES LOCAL$", t.stdout, re.M), t.stdout
    assert re.search(r"^shop +cdn +img\.demo\.test +- +failed +no$", t.stdout, re.M), t.stdout
    assert re.search(r"^shop +cdn +www\.demo\.test +%s +deployed +yes$" % UTC_TIME, t.stdout, re.M), t.stdout

    # 11: nothing to issue: deploy says "-", run says "not due"
    emu.heal_domain("img.demo.test")
    r = _run(ini, "deploy", "shop")
    assert r.returncode == 0, r.stdout + r.stderr
    row = _row(r)
    assert (row["issue"], row["deployed"], row["unchanged"], row["failed"]) == ("-", 1, 2, 0), r.stdout
    t = _run(ini, "status", "--targets")
    assert t.returncode == 0, t.stdout + t.stderr
    assert len(re.findall(r"^shop +cdn +\S+ +%s +(deployed|unchanged) +yes$" % UTC_TIME, t.stdout, re.M)) == 3, \
        t.stdout
    history = _history(_run(ini, "status").stdout)
    assert [line for line in history if line.startswith(("last ", "cdn "))] == [
        "last deploy %s: -; targets: 1 deployed, 2 unchanged, 0 refused, 0 failed" % when(_last_run(tmp_path)["at"])]

    # 13: someone changes www.demo.test's certificate in the console
    cert, key, _ = self_signed(str(tmp_path), ["www.demo.test"])
    with open(cert) as c, open(key) as k:
        emu.add_cdn_domain("www.demo.test", cert_pem=c.read(), key_pem=k.read())
    t = _run(ini, "status", "--targets")
    assert t.returncode == 1, t.stdout + t.stderr
    assert re.search(r"^shop +cdn +www\.demo\.test +%s +unchanged +no$" % UTC_TIME, t.stdout, re.M), t.stdout
    r = _run(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    row = _row(r)
    assert (row["issue"], row["deployed"], row["unchanged"], row["failed"]) == ("not due", 1, 2, 0), r.stdout
    assert _last_run(tmp_path)["command"] == "run"

    # 12: a dry run with a stored certificate plans the target that differs, and writes nothing
    with open(cert) as c, open(key) as k:
        emu.add_cdn_domain("www.demo.test", cert_pem=c.read(), key_pem=k.read())
    emu.reset_calls()
    before = (tmp_path / "state" / "last-run.json").read_text()
    r = _run(ini, "deploy", "shop", "--dry-run")
    assert r.returncode == 0 and r.stdout.startswith("DRY RUN \u2014 nothing written\n"), r.stdout + r.stderr
    row = _row(r)
    assert (row["issue"], row["deployed"], row["unchanged"]) == ("-", 1, 2), r.stdout
    assert re.search(r"^  cdn www\.demo\.test planned: ", r.stdout, re.M), r.stdout
    assert "would issue" not in r.stdout and emu.write_calls() == []
    assert (tmp_path / "state" / "last-run.json").read_text() == before


def test_the_last_run_record_keeps_what_a_run_did_not_reach(tmp_path):
    """A certificate left pending (time budget) or not named keeps its earlier entry; a corrupt record
    reads as empty and is rewritten; the file is private (it holds error texts)."""
    store = Store(str(tmp_path / "state"))
    first = datetime.datetime(2026, 11, 29, 3, 17, tzinfo=datetime.timezone.utc)
    later = first + datetime.timedelta(hours=12)
    lastrun.record(store, RunReport([CertOutcome("a", CertAction.RENEWED, issue_checked=True),
                                     CertOutcome("b", CertAction.FAILED, error="validation failed",
                                                 deferred_until=first + datetime.timedelta(minutes=1))],
                                    command="run", finished=first))
    lastrun.record(store, RunReport([CertOutcome("a", CertAction.PENDING, "time budget spent"),
                                     CertOutcome("b", CertAction.UNCHANGED, issue_checked=True)],
                                    command="deploy", finished=later))
    got = lastrun.read(store)
    assert (got["a"]["at"], got["a"]["command"], got["a"]["action"]) == (first.isoformat(), "run", "renewed")
    assert (got["b"]["at"], got["b"]["command"], got["b"]["action"], got["b"]["deferred_until"]) == (
        later.isoformat(), "deploy", "unchanged", None)
    assert recorded_issue_text(got["a"]) == "renewed" and recorded_issue_text(got["b"]) == "not due"
    path = tmp_path / "state" / "last-run.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("{not json")
    assert lastrun.read(store) == {}
    lastrun.record(store, RunReport([CertOutcome("c", CertAction.ISSUED, issue_checked=True)], command="run",
                                    finished=later))
    assert list(lastrun.read(store)) == ["c"]
