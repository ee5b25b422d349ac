"""The typed run report (report.py) and the vocabularies of kinds.py: the JSON document the webhook
and `run --json` see (jsondoc.py, docs/json.md) uses the same words, it reads back into the same
report, and notify renders the typed report and its to_dict() document alike."""

import datetime
import json

from acme_aliyun import notify
from acme_aliyun.kinds import CertAction, CopyStatus, TargetStatus
from acme_aliyun.report import CertOutcome, RunReport, TargetResult

UTC = datetime.timezone.utc


def _report():
    targets = [TargetResult("cdn", "a.example.test", TargetStatus.DEPLOYED, "now serves x"),
               TargetResult("cdn", "b.example.test", TargetStatus.FAILED, "Throttling", error_code="Throttling.User",
                            request_id="REQ-1"),
               TargetResult("apigateway", "g:api.example.test", TargetStatus.UNCHANGED)]
    ok = CertOutcome("site", CertAction.RENEWED, "renewal due", targets=targets,
                     next_renewal=datetime.datetime(2031, 2, 3, 4, 5, tzinfo=UTC),
                     not_after=datetime.datetime(2031, 3, 3, tzinfo=UTC), copies=CopyStatus.WRITTEN)
    bad = CertOutcome("other", CertAction.FAILED, error="validation failed", copies=CopyStatus.FAILED,
                      copy_error="cannot write /srv/x.pem")
    return RunReport([ok, bad], host="ecs-web-1")


def test_the_json_shape_has_the_plain_words():
    doc = json.loads(json.dumps(_report().to_dict()))
    site = doc["certificates"][0]
    assert (doc["schema"], doc["command"], doc["ok"], doc["host"], site["action"], site["copies"]) == (
        1, "run", False, "ecs-web-1", "renewed", "written")
    assert [t["status"] for t in site["targets"]] == ["deployed", "failed", "unchanged"]
    assert site["counts"] == {"deployed": 1, "unchanged": 1, "refused": 0, "failed": 1, "planned": 0}
    assert site["renew_at"] == "2031-02-03T04:05:00Z"
    assert site["targets"][1]["error"] == {"message": "Throttling", "code": "Throttling.User", "request_id": "REQ-1"}
    assert doc["certificates"][1]["copy_error"]["message"] == "cannot write /srv/x.pem"


def test_the_json_shape_reads_back_into_the_same_report():
    report = _report()
    again = RunReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert {**again.to_dict(), "generated_at": 0} == {**report.to_dict(), "generated_at": 0}
    assert again.outcomes[0].targets[1].status is TargetStatus.FAILED and not again.ok


def test_a_failure_report_is_the_bare_envelope():
    doc = RunReport.failure("no [cert:x] section").to_dict()
    assert doc.keys() == {"schema", "command", "generated_at", "host", "ok", "error"}
    assert (doc["ok"], doc["error"]["message"]) == (False, "no [cert:x] section")
    assert RunReport.from_dict(doc).error == "no [cert:x] section"


def test_notify_renders_the_typed_report_and_its_dict_alike():
    report = _report()
    for markdown in (False, True):
        typed = notify.render_text(report, True, markdown=markdown)
        assert typed == notify.render_text(report.to_dict(), True, markdown=markdown)
    text = notify.render_text(report, True)
    assert "- site: renewed (renewal due); next renewal 2031-02-03 04:05" in text
    assert "cdn b.example.test: failed - Throttling [Throttling.User, request REQ-1]" in text
    assert "targets: 1 deployed, 1 unchanged" in text
    assert "copy failed: cannot write /srv/x.pem" in text


def test_statuses_print_as_their_words():
    assert "%s|%-9s|%s" % (TargetStatus.PLANNED, CertAction.DEFERRED, CopyStatus.OK) == "planned|deferred |ok"
    assert "deployed" in {TargetStatus.DEPLOYED} and not CopyStatus.NONE
