"""The deployer against the Alibaba Cloud emulator: plan, apply, read-back, refusals, faults."""

import dataclasses
import datetime
import logging
import threading
import time
import urllib.parse

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.targets.served import Served, unique_cert_name
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import emulator_factory, make_client, sealed_env  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("sealed_env")

GROUP1 = "927d50c0f2e54b359919923d908bb015"
GROUP2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CDN = ["cdn1.example.test", "cdn2.example.test", "cdn3.example.test"]
DCDN = ["d1.example.test", "d2.example.test"]
APIGW = [GROUP1, GROUP2 + ":api2.example.test"]
SPECS = targets.specs(cdn=CDN, dcdn=DCDN, apigateway=APIGW)


def TargetSpecs(**values):
    return targets.specs(**values)
NAMES = ["example.test", "*.example.test"]


def seed(emu):
    for d in CDN:
        emu.add_cdn_domain(d)
    for d in DCDN:
        emu.add_dcdn_domain(d)
    emu.add_api_group(GROUP1, ["api1.example.test", "shop.other.test"])   # the bare GroupId covers api1 only
    emu.add_api_group(GROUP2, ["api2.example.test"])
    return emu


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    return seed(emulator_factory())


def bundle(names=NAMES, days=90, **kw):
    return CertBundle.from_pems(*make_cert(names, days, **kw))


def statuses(results):
    return {(r.kind, r.target): r.status for r in results}


APIGW_TARGETS = [GROUP1 + ":api1.example.test", GROUP2 + ":api2.example.test"]
ALL_TARGETS = {("cdn", d) for d in CDN} | {("dcdn", d) for d in DCDN} | {
    ("apigateway", GROUP1 + ":api1.example.test"), ("apigateway", GROUP2 + ":api2.example.test")}


def test_deploy_all_then_rerun_is_unchanged_with_zero_writes(emu):
    client = make_client(emu)
    b = bundle()
    plan = deployer.plan(b, "site", SPECS, client)
    assert statuses(plan.results) == {t: "planned" for t in ALL_TARGETS}
    results = deployer.apply(plan, client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    assert all(r.deployed_not_after == b.not_after for r in results)
    name = unique_cert_name("site", b)
    assert plan.cert_name == name
    for d in CDN:
        st = emu.cdn_state(d)
        assert (st["cert_name"], st["serial"], st["ssl"]) == (name, b.cert.serial_number, "on")
    for d in DCDN:
        assert (emu.dcdn_state(d)["cert_name"], emu.dcdn_state(d)["serial"]) == (name, b.cert.serial_number)
    assert emu.apigw_domain_state(GROUP1, "api1.example.test")["serial"] == b.cert.serial_number
    assert emu.apigw_domain_state(GROUP1, "shop.other.test")["cert_name"] in ("", None)
    assert emu.apigw_domain_state(GROUP2, "api2.example.test")["cert_name"] == name
    # one CAS upload; CDN and DCDN by reference, one domain a call; API Gateway with the PEM
    writes = sorted(c.action for c in emu.write_calls())
    assert writes == ["SetCdnDomainSSLCertificate"] * 3 + ["SetDcdnDomainSSLCertificate"] * 2 + \
        ["SetDomainCertificate"] * 2 + ["UploadUserCertificate"]
    [stored] = emu.cas_certificates()
    assert (stored["name"], stored["serial"]) == (name, b.cert.serial_number)
    assert {emu.cdn_state(d)["cert_id"] for d in CDN} | {emu.dcdn_state(d)["cert_id"] for d in DCDN} == {
        str(stored["cert_id"])}

    view = deployer.describe_targets(SPECS, client, b, "site")
    assert {(s.kind, s.target) for s in view} == ALL_TARGETS
    assert all(s.matches and s.cert_name == name and s.not_after == b.not_after for s in view)

    emu.reset_calls()
    client = make_client(emu)           # the next run: its own client (listings are cached per run)
    again = deployer.apply(deployer.plan(b, "site", SPECS, client), client)
    assert statuses(again) == {t: "unchanged" for t in ALL_TARGETS}
    assert emu.write_calls() == []
    # the bulk listings answer for CDN and DCDN: no per-domain reads needed
    # (and one CAS listing: no superseded upload of ours to clean up)
    assert sorted(c.action for c in emu.calls) == ["DescribeApiGroup", "DescribeApiGroup",
                                                   "DescribeCdnHttpsDomainList", "DescribeDcdnHttpsDomainList",
                                                   "ListUserCertificateOrder"]


def test_same_certificate_under_another_base_name_is_unchanged(emu):
    client = make_client(emu)
    b = bundle()
    deployer.apply(deployer.plan(b, "site", SPECS, client), client)
    emu.reset_calls()
    results = deployer.apply(deployer.plan(b, "renamed", SPECS, client), client)
    assert statuses(results) == {t: "unchanged" for t in ALL_TARGETS}
    assert emu.write_calls() == []


def test_dry_run_writes_nothing(emu):
    client = make_client(emu)
    results = deployer.apply(deployer.plan(bundle(), "site", SPECS, client), client, dry_run=True)
    assert statuses(results) == {t: "planned" for t in ALL_TARGETS}
    assert emu.write_calls() == []
    assert emu.cdn_state(CDN[0])["cert_name"] is None


def test_refusals(emu):
    client = make_client(emu)
    narrow = bundle(["cdn1.example.test"])
    res = statuses(deployer.plan(narrow, "n", TargetSpecs(cdn=CDN[:2]), client).results)
    assert res == {("cdn", CDN[0]): "planned", ("cdn", CDN[1]): "refused"}

    full, _ = make_cert(NAMES, 90)
    _, other_key = make_cert(NAMES, 90)
    plan = deployer.plan(CertBundle.from_pems(full, other_key), "x", SPECS, client)
    assert {r.status for r in plan.results} == {"refused"}
    assert "private key does not match" in plan.results[0].reason

    plan = deployer.plan(bundle(expired=True), "x", SPECS, client)
    assert {r.status for r in plan.results} == {"refused"} and "expired" in plan.results[0].reason

    plan = deployer.plan(bundle(["unrelated.test"]), "x", TargetSpecs(apigateway=[GROUP2]), client)
    assert [(r.target, r.status) for r in plan.results] == [(GROUP2, "refused")]
    assert emu.write_calls() == []


def test_longer_lived_certificate_is_kept_unless_forced(emu):
    client = make_client(emu)
    long_lived = bundle(days=200)
    deployer.apply(deployer.plan(long_lived, "old", TargetSpecs(cdn=[CDN[0]], apigateway=[GROUP2]), client), client)
    emu.reset_calls()
    short = bundle(days=90)
    plan = deployer.plan(short, "new", TargetSpecs(cdn=[CDN[0], CDN[1]], apigateway=[GROUP2]), client)
    res = {r.target: r for r in plan.results}
    assert res[CDN[0]].status == "refused" and "--force" in res[CDN[0]].reason
    assert res[CDN[0]].deployed_not_after == long_lived.not_after
    assert res[GROUP2 + ":api2.example.test"].status == "refused"
    assert res[CDN[1]].status == "planned"
    forced = deployer.apply(deployer.plan(short, "new", TargetSpecs(cdn=[CDN[0]], apigateway=[GROUP2]), client,
                                          force=True), client)
    assert {r.status for r in forced} == {"deployed"}
    assert emu.cdn_state(CDN[0])["cert_name"] == unique_cert_name("new", short)


def test_faults_30_percent_still_deploy_everything(emulator_factory, caplog):  # noqa: F811
    emu = seed(emulator_factory(fault_rate=0.3, fault_kinds=("throttling", "unavailable", "reset"), fault_seed=7))
    client = make_client(emu, max_attempts=12)
    b = bundle()
    with caplog.at_level(logging.DEBUG):
        results = deployer.apply(deployer.plan(b, "site", SPECS, client), client)
    assert_clean(caplog.text, b)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}, [r.reason for r in results]
    assert client.stats["retries"] > 0 and client.stats["retries"] == len([c for c in emu.calls if c.fault])
    name = unique_cert_name("site", b)
    assert [emu.cdn_state(d)["cert_name"] for d in CDN] == [name] * 3
    assert [emu.dcdn_state(d)["cert_name"] for d in DCDN] == [name] * 2


def test_failing_domain_reports_code_and_request_id_others_deploy(emu):
    emu.fail_domain("d2.example.test", "DomainInSafeMode", 400)
    emu.fail_domain("cdn3.example.test", "InternalError", 500)   # fails its batch: the others are redone
    client = make_client(emu)
    results = {r.target: r for r in deployer.apply(deployer.plan(bundle(), "site", SPECS, client), client)}
    for t, code in (("d2.example.test", "DomainInSafeMode"), ("cdn3.example.test", "InternalError")):
        r = results[t]
        assert (r.status, r.error_code) == ("failed", code)
        assert r.request_id and r.request_id in {c.request_id for c in emu.calls if c.code == code}
    ok = {t for t, r in results.items() if r.status == "deployed"}
    assert ok == {"cdn1.example.test", "cdn2.example.test", "d1.example.test",
                  GROUP1 + ":api1.example.test", GROUP2 + ":api2.example.test"}


def test_cloud_check_reports_source_and_probes(emu):
    client = make_client(emu)
    from acme_aliyun.cli.run import _probe_dns_zones
    report = deployer.cloud_check(client.settings, SPECS, client=client, extra=[_probe_dns_zones])
    assert report.source == "test" and report.ok
    assert [(p.kind, p.target) for p in report.probes] == [("cdn", d) for d in CDN] + [
        ("dcdn", d) for d in DCDN] + [("apigateway", GROUP1), ("apigateway", GROUP2), ("cas", "certificates"),
                                      ("dns", "zones")]
    bad = deployer.cloud_check(client.settings, TargetSpecs(cdn=["nope.example.test"]), client=client)
    assert not bad.ok and "InvalidDomain.NotFound" in bad.probes[0].detail


def assert_clean(text, b, secret="testsecret"):
    key_body = b.key_pem.splitlines()[1]
    for leak in (secret, key_body, urllib.parse.quote(key_body, safe=""), "PRIVATE KEY", "PRIVATE%20KEY",
                 "Signature="):
        assert leak not in text


def test_no_secret_or_private_key_in_logs_when_writes_are_reset(emu, caplog, capsys):
    """Connection resets make the SDK raise SDK.HttpError carrying the signed URL (key included)."""
    client = make_client(emu, max_attempts=2)
    b = bundle()
    plan = deployer.plan(b, "site", SPECS, client)
    emu.set_faults(1.0, ("reset",), None, actions=["UploadUserCertificate", "SetDomainCertificate"])
    with caplog.at_level(logging.DEBUG):
        results = deployer.apply(plan, client)
    assert {r.status for r in results} == {"failed"}     # CDN and DCDN wait for the CAS upload, which fails
    assert {r.error_code for r in results} == {"SDK.HttpError"}
    assert client.stats["retries"] == 3          # one retry for each of the 3 write calls (1 upload, 2 API)
    assert_clean(caplog.text + capsys.readouterr().err + " ".join(r.reason for r in results), b)


def test_a_foreign_certificate_holding_our_cas_name_fails_the_references_only(emu, monkeypatch):
    """Our unique name encodes expiry and serial prefix; another certificate under it is not ours."""
    monkeypatch.setattr("acme_aliyun.targets.cas.FIND_DELAY", 0.0)
    client = make_client(emu)
    b = bundle()
    other_pem, other_key = make_cert(NAMES, 90)
    emu.add_cas_certificate(other_pem, other_key, unique_cert_name("site", b))
    results = {r.target: r for r in deployer.apply(deployer.plan(b, "site", SPECS, client), client)}
    for d in CDN + DCDN:
        assert results[d].status == "failed" and "taken by another certificate" in results[d].reason
    assert {results[t].status for t in APIGW_TARGETS} == {"deployed"}
    assert len(emu.cas_certificates()) == 1                # nothing deleted, nothing added


def test_an_upload_already_in_cas_under_another_name_is_referenced(emu):
    """A content duplicate is resolved by finding the existing upload: no failure, no second copy."""
    client = make_client(emu)
    b = bundle()
    theirs = emu.add_cas_certificate(b.fullchain_pem, b.key_pem, "uploaded-by-hand")
    results = deployer.apply(deployer.plan(b, "site", SPECS, client), client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    assert {emu.cdn_state(d)["cert_id"] for d in CDN} == {str(theirs)}
    assert not [c for c in emu.calls if c.action == "UploadUserCertificate"]
    emu.reset_calls()
    assert statuses(deployer.apply(deployer.plan(b, "site", SPECS, client), client)) == {
        t: "unchanged" for t in ALL_TARGETS}
    assert emu.write_calls() == []


# --- bulk reads and side-by-side writes ------------------------------------------------------------

def counts(emu):
    out = {}
    for c in emu.calls:
        out[c.action] = out.get(c.action, 0) + 1
    return out


PER_DOMAIN_READS = ("DescribeDomainCertificateInfo", "DescribeDcdnDomainCertificateInfo", "DescribeDomain")


def test_cdn_domain_absent_from_a_successful_https_list_is_planned_without_a_per_domain_read(emu):
    client = make_client(emu)
    other, other_key = make_cert(NAMES, 30)
    emu.add_cdn_domain("old.example.test", cert_pem=other, key_pem=other_key, cert_name="old-cert")
    specs = TargetSpecs(cdn=CDN + ["old.example.test"], dcdn=list(DCDN), apigateway=list(APIGW))
    plan = deployer.plan(bundle(), "site", specs, client)
    assert {r.status for r in plan.results} == {"planned"}
    assert "install" in next(r.reason for r in plan.results if r.target == CDN[0])
    assert "replace old-cert" in next(r.reason for r in plan.results if r.target == "old.example.test")
    n = counts(emu)
    # CDN: a list with one HTTPS domain; DCDN: NoHttpsDomain (a successful "nothing is HTTPS")
    assert (n["DescribeCdnHttpsDomainList"], n["DescribeDcdnHttpsDomainList"], n["DescribeUserDomains"]) == (1, 1, 1)
    assert n.get("DescribeDomainCertificateInfo") == 1        # only the listed domain, for its served PEM
    # DCDN has no domain list in use: a domain its HTTPS listing leaves out is read before it is written
    assert n.get("DescribeDcdnDomainCertificateInfo") == len(DCDN)
    assert not n.get("DescribeDomain")
    # the read-only view answers from the same listings
    emu.reset_calls()
    view = {s.target: s for s in deployer.describe_targets(specs, client)}
    assert (view[CDN[0]].cert_name, view[DCDN[0]].error, view["old.example.test"].cert_name) == (None, None,
                                                                                                   "old-cert")
    assert not any(counts(emu).get(a) for a in PER_DOMAIN_READS if a != "DescribeDcdnDomainCertificateInfo")


@pytest.mark.parametrize("failing", [("DescribeCdnHttpsDomainList", "DescribeDcdnHttpsDomainList"),
                                     ("DescribeUserDomains",)])
def test_a_failed_listing_falls_back_to_per_domain_reads(emu, failing):
    emu.set_faults(1.0, ("internal",), None, actions=list(failing))
    client = make_client(emu, max_attempts=2)
    plan = deployer.plan(bundle(), "site", SPECS, client)
    assert statuses(plan.results) == {t: "planned" for t in ALL_TARGETS}
    n = counts(emu)
    assert n["DescribeDomainCertificateInfo"] == len(CDN)
    assert n.get("DescribeDcdnDomainCertificateInfo", 0) == len(DCDN)     # unlisted DCDN domains are read


def test_unknown_targets_fail_with_the_cloud_code_and_request_id(emu):
    """CDN: DescribeUserDomains does not list it -> read -> NotFound at plan time; DCDN: at write time;
    API Gateway: an unknown group, or a domain the group does not have, fails at plan time. The known
    targets beside them deploy."""
    client = make_client(emu)
    specs = TargetSpecs(cdn=[CDN[0], "nope.example.test"], dcdn=[DCDN[0], "nope-d.example.test"],
                        apigateway=["0" * 32, GROUP2 + ":api9.example.test"])
    plan = deployer.plan(bundle(), "site", specs, client)
    assert counts(emu)["DescribeDomainCertificateInfo"] == 1
    res = {r.target: r for r in deployer.apply(plan, client)}
    for t in ("nope.example.test", "nope-d.example.test"):
        assert (res[t].status, res[t].error_code) == ("failed", "InvalidDomain.NotFound") and res[t].request_id
    assert res["0" * 32].status == "failed" and res["0" * 32].error_code and res["0" * 32].request_id
    missing = res[GROUP2 + ":api9.example.test"]           # seen in the group's own listing: no request of its own
    assert (missing.status, missing.error_code) == ("failed", "NotFoundDomain")
    assert {t for t, r in res.items() if r.status == "deployed"} == {CDN[0], DCDN[0]}


def test_read_back_uses_the_bulk_listings(emu, emulator_factory):  # noqa: F811
    client = make_client(emu)
    plan = deployer.plan(bundle(), "site", SPECS, client)
    emu.reset_calls()
    results = deployer.apply(plan, client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    n = counts(emu)
    assert (n["DescribeCdnHttpsDomainList"], n["DescribeDcdnHttpsDomainList"], n["DescribeApiGroup"]) == (1, 1, 2)
    assert not any(n.get(a) for a in PER_DOMAIN_READS)

    # listings that do not show the writes yet (the emulator's listing lag: the product's next
    # listing after a write): what a listing does not show is read back on its own, once -- every
    # CDN and DCDN domain, and the domain of the API group read first
    lagging = seed(emulator_factory(listing_lag=1))
    client = make_client(lagging)
    b = bundle()
    plan = deployer.plan(b, "site", SPECS, client)
    lagging.reset_calls()
    results = deployer.apply(plan, client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    n = counts(lagging)
    assert (n["DescribeDomainCertificateInfo"], n["DescribeDcdnDomainCertificateInfo"], n["DescribeDomain"]) == (
        len(CDN), len(DCDN), 1)
    assert emu.cdn_state(CDN[1])["serial"] != lagging.cdn_state(CDN[1])["serial"] == b.cert.serial_number


def test_dcdn_and_api_gateway_writes_run_alongside_the_cdn_writes(emu):
    many = ["b%02d.example.test" % i for i in range(50)]       # single-domain calls by reference, 22.5 a second
    for d in many:
        emu.add_cdn_domain(d)
    client = make_client(emu)
    specs = TargetSpecs(cdn=many, dcdn=list(DCDN), apigateway=list(APIGW))
    plan = deployer.plan(bundle(), "site", specs, client)
    emu.reset_calls()
    assert {r.status for r in deployer.apply(plan, client)} == {"deployed"}
    times = {}
    for c in emu.write_calls():
        times.setdefault(c.action, []).append(c.time)
    last_batch = max(times["SetCdnDomainSSLCertificate"])
    assert len(times["SetCdnDomainSSLCertificate"]) == 50
    assert max(times["SetDcdnDomainSSLCertificate"]) < last_batch
    assert max(times["SetDomainCertificate"]) < last_batch


# --- the words and fields every outcome carries (issue 18: mutation bar) ---------------------------

GROUP3 = "c3" * 16


def test_status_view_of_every_kind_of_target(emu):
    emu.add_api_group(GROUP3, ["shop.other.test"])          # no custom domain the certificate covers
    client = make_client(emu)
    b = bundle()
    deployer.apply(deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client), client)
    specs = TargetSpecs(cdn=[CDN[0], CDN[1], "nope.example.test"], apigateway=[GROUP3])
    views = {(v.kind, v.target): v for v in deployer.describe_targets(specs, client, b, "site")}
    name = unique_cert_name("site", b)
    assert views[("cdn", CDN[0])] == deployer.TargetView("cdn", CDN[0], name, b.not_after.replace(microsecond=0),
                                                          True)
    assert views[("cdn", CDN[1])] == deployer.TargetView("cdn", CDN[1], matches=False)
    missing = views[("cdn", "nope.example.test")]
    assert (missing.kind, missing.target, missing.matches) == ("cdn", "nope.example.test", None)
    assert "InvalidDomain.NotFound" in missing.error
    assert views[("apigateway", GROUP3)] == deployer.TargetView(
        "apigateway", GROUP3, error="no matching custom domain in the group")
    assert len(views) == 4
    other = bundle()
    plain = {(v.kind, v.target): v for v in deployer.describe_targets(specs, client)}
    assert plain[("cdn", CDN[0])] == deployer.TargetView("cdn", CDN[0], name, b.not_after.replace(microsecond=0))
    assert plain[("cdn", CDN[1])] == deployer.TargetView("cdn", CDN[1])
    [view] = deployer.describe_targets(TargetSpecs(cdn=[CDN[0]]), client, other, "site")
    assert view.matches is False


def test_whole_plan_refusals_name_the_reason_for_every_target(emu):
    client = make_client(emu)
    full, _ = make_cert(NAMES, 90)
    _, other_key = make_cert(NAMES, 90)
    specs = TargetSpecs(cdn=CDN[:2], apigateway=[GROUP2])
    plan = deployer.plan(CertBundle.from_pems(full, other_key), "x", specs, client)
    assert [(r.kind, r.target, r.status, r.reason) for r in plan.results] == [
        ("cdn", CDN[0], "refused", "the private key does not match the certificate"),
        ("cdn", CDN[1], "refused", "the private key does not match the certificate"),
        ("apigateway", GROUP2, "refused", "the private key does not match the certificate")]
    assert deployer.apply(plan, client) == plan.results and emu.write_calls() == []
    old = bundle(expired=True)
    plan = deployer.plan(old, "x", specs, client)
    assert {r.reason for r in plan.results} == {
        "the certificate expired on %s" % old.not_after.strftime("%Y-%m-%d %H:%M UTC")}
    assert (plan.cert_name, plan.base_name, plan.bundle) == (unique_cert_name("x", old), "x", old)
    assert plan.all_specs == specs


def test_unchanged_refused_and_planned_reasons(emu):
    client = make_client(emu)
    long_lived = bundle(days=200)
    deployer.apply(deployer.plan(long_lived, "old", TargetSpecs(cdn=[CDN[0]]), client), client)
    old_name = unique_cert_name("old", long_lived)
    [same] = deployer.plan(long_lived, "old", TargetSpecs(cdn=[CDN[0]]), client).results
    assert (same.status, same.reason, same.deployed_not_after) == (
        "unchanged", "already serves %s" % old_name, long_lived.not_after)
    short = bundle(days=90)
    [kept] = deployer.plan(short, "new", TargetSpecs(cdn=[CDN[0]]), client).results
    assert (kept.kind, kept.target, kept.status) == ("cdn", CDN[0], "refused")
    assert kept.reason == ("it serves %s valid until %s, longer than this certificate (until %s); use --force to "
                           "replace it" % (old_name, long_lived.not_after.strftime("%Y-%m-%d"),
                                           short.not_after.strftime("%Y-%m-%d")))
    new_name = unique_cert_name("new", short)
    [forced] = deployer.plan(short, "new", TargetSpecs(cdn=[CDN[0]]), client, force=True).results
    assert (forced.status, forced.reason) == ("planned", "will replace %s with %s (forced)" % (old_name, new_name))
    assert forced.deployed_not_after == long_lived.not_after.replace(microsecond=0)
    [renamed] = deployer.plan(long_lived, "renamed", TargetSpecs(cdn=[CDN[0]]), client).results
    assert (renamed.status, renamed.reason) == ("unchanged", "already serves %s" % old_name)
    [fresh] = deployer.plan(short, "new", TargetSpecs(cdn=[CDN[1]]), client).results
    assert (fresh.status, fresh.reason, fresh.deployed_not_after) == ("planned", "will install %s" % new_name, None)
    [done] = deployer.apply(deployer.plan(short, "new", TargetSpecs(cdn=[CDN[1]]), client), client)
    assert (done.status, done.reason, done.deployed_not_after) == ("deployed", "now serves %s" % new_name,
                                                                   short.not_after)


def test_a_certificate_missing_a_configured_name_is_refused_with_both_lists(emu):
    client = make_client(emu)
    narrow = bundle(["cdn1.example.test", "www.cdn1.example.test"])
    [r] = deployer.plan(narrow, "n", TargetSpecs(cdn=[CDN[1]]), client).results
    assert (r.kind, r.target, r.status) == ("cdn", CDN[1], "refused")
    assert r.reason == "the certificate (cdn1.example.test, www.cdn1.example.test) does not cover cdn2.example.test"


def test_read_back_failure_is_named_with_code_and_request_id(emulator_factory):  # noqa: F811
    lagging = seed(emulator_factory(listing_lag=1))
    client = make_client(lagging, max_attempts=1)
    plan = deployer.plan(bundle(), "site", TargetSpecs(cdn=[CDN[0]]), client)
    lagging.schedule_faults({"DescribeDomainCertificateInfo": {1: "unavailable"}})
    done = []
    [r] = deployer.apply(plan, client, on_done=done.append)
    assert (r.kind, r.target, r.status) == ("cdn", CDN[0], "failed")
    assert r.reason.startswith("written, but the read-back failed: ") and r.error_code and r.request_id
    assert done == [r]


def test_a_listener_serving_other_names_is_refused_unless_forced(emulator_factory):  # noqa: F811
    from tests.aliyun_emulator.products.clb import ClbAdmin
    emu = emulator_factory()
    emu.clb = ClbAdmin(emu)
    emu.clb.add_load_balancer("lb-web1", https_ports=(443,), http_ports=())
    foreign = emu.clb.add_server_certificate(*make_cert(["shop.other.test", "www.other.test"], 30), name="shop")
    emu.clb.bind("lb-web1", 443, foreign)
    client = make_client(emu)
    b = bundle()
    [r] = deployer.plan(b, "site", TargetSpecs(clb="lb-web1:443"), client).results
    assert (r.kind, r.target, r.status) == ("clb", "lb-web1:443", "refused")
    served = r.reason.rsplit("serves now with ", 1)[1].split(";")[0]
    assert r.reason == ("the certificate (example.test, *.example.test) does not cover shop.other.test, "
                        "www.other.test, which it serves now with %s; use --force to replace it" % served)
    assert served != "another certificate"
    [f] = deployer.plan(b, "site", TargetSpecs(clb="lb-web1:443"), client, force=True).results
    assert f.status == "planned"


def test_cloud_check_resolves_credentials_itself_and_writes_nothing_by_default(emu, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "testak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
    settings = make_client(emu).settings
    report = deployer.cloud_check(settings, TargetSpecs(cdn=[CDN[0]]))
    assert report.ok and [(p.kind, p.target) for p in report.probes] == [("cdn", CDN[0]), ("cas", "certificates")]
    assert emu.write_calls() == [] and report.source != "test"


def _replaced_right_after_our_write(emulator_factory, monkeypatch):
    """A CDN plan on an emulator whose bulk listing trails our write (listing_lag), where another
    actor puts its own certificate ("someone-else") on the domain right after our write:
    (emulator, client, plan, their (cert, key) PEMs)."""
    lagging = seed(emulator_factory(listing_lag=1))       # the bulk confirmation does not show our write yet
    client = make_client(lagging)
    plan = deployer.plan(bundle(), "site", TargetSpecs(cdn=[CDN[0]]), client)
    theirs = make_cert(NAMES, 30)
    cdn = targets.KINDS["cdn"]
    real_write = cdn.write

    def write_then_replaced(client, specs, upload):
        errors = real_write(client, specs, upload)
        lagging.add_cdn_domain(CDN[0], cert_pem=theirs[0], key_pem=theirs[1], cert_name="someone-else")
        return errors
    monkeypatch.setattr(cdn, "write", write_then_replaced)
    return lagging, client, plan, theirs


def test_read_back_reports_what_the_target_serves_when_someone_replaced_ours(emulator_factory, monkeypatch):  # noqa: F811
    """Another actor (a console user, another tool) puts its certificate on the domain right after our
    write: every read-back shows theirs, and the result says so with their certificate's name and expiry."""
    lagging, client, plan, theirs = _replaced_right_after_our_write(emulator_factory, monkeypatch)
    monkeypatch.setattr(deployer, "READBACK_DELAY", 1.0)
    lagging.reset_calls()
    begun = time.monotonic()
    [r] = deployer.apply(plan, client)
    elapsed = time.monotonic() - begun
    assert (r.kind, r.target, r.status, r.error_code, r.reason) == (
        "cdn", CDN[0], "failed", "ReadBackMismatch", "written, but it still serves someone-else")
    assert r.deployed_not_after == CertBundle.from_pems(*theirs).not_after.replace(microsecond=0)
    assert counts(lagging)["DescribeDomainCertificateInfo"] == deployer.READBACK_ATTEMPTS == 3
    assert 2.0 <= elapsed < 3.0                                # a pause between reads, none after the last


def test_a_read_back_that_finds_ours_says_what_it_now_serves(emulator_factory):  # noqa: F811
    lagging = seed(emulator_factory(listing_lag=1))
    client = make_client(lagging)
    b = bundle()
    plan = deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]], dcdn=[DCDN[0]]), client)
    lagging.reset_calls()
    results = deployer.apply(plan, client)
    assert counts(lagging)["DescribeDomainCertificateInfo"] == 1      # read back on its own
    name = unique_cert_name("site", b)
    assert [(r.kind, r.target, r.status, r.reason, r.deployed_not_after) for r in results] == [
        ("cdn", CDN[0], "deployed", "now serves %s" % name, b.not_after),
        ("dcdn", DCDN[0], "deployed", "now serves %s" % name, b.not_after)]


def test_status_shows_a_failed_group_read_with_its_code(emu):
    client = make_client(emu)
    [view] = deployer.describe_targets(TargetSpecs(apigateway=["0" * 32]), client, bundle(), "site")
    assert (view.kind, view.target, view.cert_name, view.matches) == ("apigateway", "0" * 32, None, None)
    assert view.error and "NotFound" in view.error


def test_a_failed_write_is_reported_by_the_action_that_failed(emu):
    emu.fail_domain("d2.example.test", "DomainInSafeMode", 400)
    client = make_client(emu)
    [r] = deployer.apply(deployer.plan(bundle(), "site", TargetSpecs(dcdn=["d2.example.test"]), client), client)
    [call] = [c for c in emu.calls if c.request_id == r.request_id]
    assert (r.status, r.error_code) == ("failed", "DomainInSafeMode")
    assert r.reason.startswith(call.action), (r.reason, call.action)


def test_a_group_with_no_covered_domain_is_refused_by_name(emu):
    client = make_client(emu)
    [r] = deployer.plan(bundle(["unrelated.test"]), "x", TargetSpecs(apigateway=[GROUP2]), client).results
    assert (r.kind, r.target, r.status, r.reason) == (
        "apigateway", GROUP2, "refused", "the certificate covers none of the custom domains of %s" % GROUP2)


# --- branches reached only with particular replies (issue 18 mutation pass) ----------------------

def test_reads_run_side_by_side_up_to_the_worker_cap():
    """WORKERS reads at once (one per kind and per group): twelve jobs that each wait for all
    twelve finish only if all twelve run together."""
    together = threading.Barrier(deployer.WORKERS, timeout=5)
    assert deployer._pool_map(lambda i: (together.wait(), i)[1], list(range(deployer.WORKERS))) == list(
        range(deployer.WORKERS))


def test_a_bare_group_is_not_covered_by_another_groups_domain(emu):
    client = make_client(emu)
    b = bundle(["api2.example.test"])
    results = deployer.plan(b, "x", TargetSpecs(apigateway=[GROUP1, GROUP2]), client).results
    assert [(r.target, r.status, r.reason) for r in results] == [
        (GROUP1, "refused", "the certificate covers none of the custom domains of %s" % GROUP1),
        (GROUP2 + ":api2.example.test", "planned", "will install %s" % unique_cert_name("x", b))]


def test_a_domain_named_both_by_its_group_and_on_its_own_is_planned_once(emu):
    client = make_client(emu)
    b = bundle()
    results = deployer.plan(b, "x", TargetSpecs(apigateway=[GROUP1, GROUP1 + ":api1.example.test"]), client).results
    assert [(r.target, r.status) for r in results] == [(GROUP1 + ":api1.example.test", "planned")]


def test_a_listing_that_trails_the_write_is_settled_by_the_per_domain_read(emulator_factory):  # noqa: F811
    """The bulk listing still shows the certificate we replaced; the per-domain read shows ours: the
    domain is unchanged (named from that read), and the next domain gets a reference to the same
    upload, with no second upload."""
    emu = seed(emulator_factory(listing_lag=3))
    theirs = make_cert(NAMES, 30)
    emu.add_cdn_domain(CDN[0], cert_pem=theirs[0], key_pem=theirs[1], cert_name="someone-else")
    b = bundle()
    name = unique_cert_name("site", b)
    client = make_client(emu)
    [first] = deployer.apply(deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client), client)
    assert (first.status, first.reason) == ("deployed", "now serves %s" % name)
    client = make_client(emu)
    plan = deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0], CDN[1]]), client)
    assert [(r.target, r.status, r.reason, r.deployed_not_after) for r in plan.results] == [
        (CDN[0], "unchanged", "already serves this certificate (%s)" % name, b.not_after),
        (CDN[1], "planned", "will install %s" % name, None)]
    emu.reset_calls()
    assert statuses(deployer.apply(plan, client)) == {("cdn", CDN[0]): "unchanged", ("cdn", CDN[1]): "deployed"}
    cas_calls = [c.action for c in emu.calls if c.action in ("ListUserCertificateOrder", "UploadUserCertificate")]
    assert cas_calls == ["ListUserCertificateOrder"]          # found by its name; nothing uploaded
    assert emu.cdn_state(CDN[1])["cert_id"] == emu.cdn_state(CDN[0])["cert_id"]


def test_a_domain_serving_our_certificate_that_does_not_cover_it_is_refused(emu):
    """Ours by name and serial, yet the configured domain is not among its names: refused, not unchanged."""
    narrow = bundle(["cdn1.example.test"])
    emu.add_cdn_domain(CDN[1], cert_pem=narrow.fullchain_pem, key_pem=narrow.key_pem,
                       cert_name=unique_cert_name("n", narrow))
    [r] = deployer.plan(narrow, "n", TargetSpecs(cdn=[CDN[1]]), make_client(emu)).results
    assert (r.status, r.reason) == ("refused", "the certificate (cdn1.example.test) does not cover cdn2.example.test")


def test_a_listener_serving_names_we_cover_is_replaced_without_force(emulator_factory):  # noqa: F811
    from tests.aliyun_emulator.products.clb import ClbAdmin
    emu = emulator_factory()
    emu.clb = ClbAdmin(emu)
    emu.clb.add_load_balancer("lb-web1", https_ports=(443,), http_ports=())
    emu.clb.bind("lb-web1", 443, emu.clb.add_server_certificate(*make_cert(NAMES, 30), name="old-one"))
    b = bundle()
    [r] = deployer.plan(b, "site", TargetSpecs(clb="lb-web1:443"), make_client(emu)).results
    assert (r.status, r.reason) == ("planned", "will replace old-one with %s" % unique_cert_name("site", b))


def _clb_spec():
    return TargetSpecs(clb="lb-web1:443")["clb"][0]


def test_a_listener_serving_an_unnamed_certificate_is_refused_with_generic_wording():
    b = bundle()
    served = Served(not_after=b.not_after, names=("shop.other.test",))
    r = deployer._uncovered(_clb_spec(), served, b, False)
    assert r.reason == ("the certificate (example.test, *.example.test) does not cover shop.other.test, which it "
                        "serves now with another certificate; use --force to replace it")


def test_judge_wording_for_reads_with_and_without_a_name():
    """What a per-target read may show: our exact name with our expiry, our exact name on a certificate
    with another expiry (someone else's upload under our name: not ours), our serial without a name,
    or another certificate without a name."""
    spec = SPECS["cdn"][0]
    b = bundle()
    name = unique_cert_name("site", b)
    later = b.not_after + datetime.timedelta(days=30)
    earlier = b.not_after - datetime.timedelta(days=30)
    by_name = deployer._judge(spec, Served(cert_name=name, not_after=b.not_after), b, name, False)
    assert (by_name.status, by_name.reason, by_name.deployed_not_after) == (
        "unchanged", "already serves this certificate (%s)" % name, b.not_after)
    foreign = deployer._judge(spec, Served(cert_name=name, not_after=later), b, name, False)
    assert (foreign.status, foreign.reason) == ("refused", "it serves %s valid until %s, longer than this "
                                                "certificate (until %s); use --force to replace it"
                                                % (name, later.strftime("%Y-%m-%d"), b.not_after.strftime("%Y-%m-%d")))
    by_serial = deployer._judge(spec, Served(serial=b.serial, not_after=b.not_after), b, name, False)
    assert (by_serial.status, by_serial.reason) == ("unchanged", "already serves this certificate (serial %s)"
                                                    % b.serial)
    kept = deployer._judge(spec, Served(serial="01", not_after=later), b, name, False)
    assert (kept.status, kept.reason) == ("refused", "it serves a certificate valid until %s, longer than this "
                                          "certificate (until %s); use --force to replace it"
                                          % (later.strftime("%Y-%m-%d"), b.not_after.strftime("%Y-%m-%d")))
    replaced = deployer._judge(spec, Served(serial="01", not_after=earlier), b, name, False)
    assert (replaced.status, replaced.reason) == ("planned", "will replace the certificate with %s" % name)
    # a listener holding several certificates, one of them for our names and longer-lived: no single expiry
    several = Served(candidates=(Served(cert_name="sni-old", not_after=later, serial="01", names=("example.test",)),))
    held = deployer._judge(spec, several, b, name, False)
    assert (held.status, held.reason) == ("refused", "it serves a certificate valid until ?, longer than this "
                                          "certificate (until %s); use --force to replace it"
                                          % b.not_after.strftime("%Y-%m-%d"))


def test_the_clean_up_reads_what_each_by_reference_target_serves(emulator_factory):  # noqa: F811
    """The listing names what each domain serves: no per-domain read. While the listing trails
    our write (it shows the domain without HTTPS) the domain is read on its own."""
    emu = seed(emulator_factory(listing_lag=2))
    b = bundle()
    name = unique_cert_name("site", b)
    client = make_client(emu)
    deployer.apply(deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client), client)
    [stored] = emu.cas_certificates()
    specs = {"cdn": TargetSpecs(cdn=[CDN[0]])["cdn"]}
    emu.reset_calls()
    assert deployer._served_references(make_client(emu), specs) == ({stored["cert_id"]}, {name})
    assert (counts(emu)["DescribeCdnHttpsDomainList"], counts(emu)["DescribeDomainCertificateInfo"]) == (1, 1)
    emu.reset_calls()
    assert deployer._served_references(make_client(emu), specs) == (set(), {name})
    assert counts(emu) == {"DescribeCdnHttpsDomainList": 1}


def test_an_old_upload_only_an_inline_target_still_names_is_deleted(emu, monkeypatch):
    """API Gateway holds its own copy of the PEM: an old CAS upload it still names is not in use."""
    monkeypatch.setattr("acme_aliyun.targets.cas.FIND_DELAY", 0.0)
    client = make_client(emu)
    old = bundle(NAMES + ["shop.other.test"])
    specs = TargetSpecs(cdn=[CDN[0]], apigateway=[GROUP1 + ":shop.other.test"])
    deployer.apply(deployer.plan(old, "site", specs, client), client)
    new = bundle(NAMES)
    results = deployer.apply(deployer.plan(new, "site", specs, make_client(emu)), make_client(emu))
    assert statuses(results) == {("cdn", CDN[0]): "deployed", ("apigateway", GROUP1 + ":shop.other.test"): "refused"}
    assert emu.apigw_domain_state(GROUP1, "shop.other.test")["cert_name"] == unique_cert_name("site", old)
    assert [c["serial"] for c in emu.cas_certificates()] == [new.cert.serial_number]


def _hub_only_reads(monkeypatch, keep_name):
    """CDN per-domain reads as a product that reports the hub id but no PEM (no serial) gives them."""
    cdn = targets.KINDS["cdn"]
    real = cdn.read_one

    def read_one(client, spec):
        now = real(client, spec)
        return dataclasses.replace(now, serial=None, cert_name=now.cert_name if keep_name else None)
    monkeypatch.setattr(cdn, "read_one", read_one)


def test_a_read_back_showing_our_hub_id_without_a_serial_is_deployed(emulator_factory, monkeypatch):  # noqa: F811
    lagging = seed(emulator_factory(listing_lag=1))
    client = make_client(lagging)
    b = bundle()
    plan = deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client)
    _hub_only_reads(monkeypatch, keep_name=False)
    [r] = deployer.apply(plan, client)
    assert (r.status, r.reason) == ("deployed", "now serves %s" % unique_cert_name("site", b))


def test_a_read_back_showing_another_unnamed_certificate_fails(emulator_factory, monkeypatch):  # noqa: F811
    lagging, client, plan, theirs = _replaced_right_after_our_write(emulator_factory, monkeypatch)
    monkeypatch.setattr(deployer, "READBACK_DELAY", 0.0)
    _hub_only_reads(monkeypatch, keep_name=False)
    [r] = deployer.apply(plan, client)
    assert (r.status, r.error_code, r.reason) == (
        "failed", "ReadBackMismatch", "written, but it still serves another certificate")


def test_direct_mode_reuses_the_hub_id_a_trailing_listing_hid(emulator_factory):  # noqa: F811
    """upload = direct: no CAS call of ours. A domain the plan read on its own already serves this
    certificate, so its hub id is reused for the next domain: no inline seed upload."""
    emu = seed(emulator_factory(listing_lag=3))
    theirs = make_cert(NAMES, 30)
    emu.add_cdn_domain(CDN[0], cert_pem=theirs[0], key_pem=theirs[1], cert_name="someone-else")
    b = bundle()
    client = make_client(emu, upload="direct")
    assert statuses(deployer.apply(deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client), client)) == {
        ("cdn", CDN[0]): "deployed"}
    client = make_client(emu, upload="direct")
    plan = deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0], CDN[1]]), client)
    assert statuses(plan.results) == {("cdn", CDN[0]): "unchanged", ("cdn", CDN[1]): "planned"}
    emu.reset_calls()
    assert statuses(deployer.apply(plan, client)) == {("cdn", CDN[0]): "unchanged", ("cdn", CDN[1]): "deployed"}
    [write] = emu.write_calls()
    assert (write.action, write.targets) == ("SetCdnDomainSSLCertificate", (CDN[1],))
    assert "CertId" in write.params_keys and "SSLPri" not in write.params_keys      # by reference, no PEM
    assert emu.cdn_state(CDN[1])["cert_id"] == emu.cdn_state(CDN[0])["cert_id"]


def test_a_kind_whose_writes_all_failed_is_not_read_again(emu):
    emu.fail_domain("d2.example.test", "DomainInSafeMode", 400)
    client = make_client(emu)
    plan = deployer.plan(bundle(), "site", TargetSpecs(dcdn=["d2.example.test"]), client)
    emu.reset_calls()
    [r] = deployer.apply(plan, client)
    assert (r.status, r.error_code) == ("failed", "DomainInSafeMode")
    assert "DescribeDcdnHttpsDomainList" not in counts(emu) and "DescribeDcdnDomainCertificateInfo" not in counts(emu)
