"""The deployer against the Alibaba Cloud emulator: plan, apply, read-back, refusals, faults."""

import logging
import urllib.parse

import pytest

from acme_aliyun import deployer
from acme_aliyun.cloud.certinfo import unique_cert_name
from acme_aliyun.deployer import TargetSpecs
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import emulator_factory, make_client, sealed_env  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("sealed_env")

GROUP1 = "927d50c0f2e54b359919923d908bb015"
GROUP2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CDN = ["cdn1.example.test", "cdn2.example.test", "cdn3.example.test"]
DCDN = ["d1.example.test", "d2.example.test"]
SPECS = TargetSpecs(cdn=list(CDN), dcdn=list(DCDN), apigateway=[GROUP1, GROUP2 + ":api2.example.test"])
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
    writes = sorted(c.action for c in emu.write_calls())
    assert writes == ["BatchSetCdnDomainServerCertificate"] + ["SetDcdnDomainSSLCertificate"] * 2 + \
        ["SetDomainCertificate"] * 2

    view = deployer.describe_targets(SPECS, client, b, "site")
    assert {(s.kind, s.target) for s in view} == ALL_TARGETS
    assert all(s.matches and s.cert_name == name and s.not_after == b.not_after for s in view)

    emu.reset_calls()
    again = deployer.apply(deployer.plan(b, "site", SPECS, client), client)
    assert statuses(again) == {t: "unchanged" for t in ALL_TARGETS}
    assert emu.write_calls() == []
    # the bulk listings answer for CDN and DCDN: no per-domain reads needed
    assert sorted(c.action for c in emu.calls) == ["DescribeApiGroup", "DescribeApiGroup",
                                                   "DescribeCdnHttpsDomainList", "DescribeDcdnHttpsDomainList"]


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
    report = deployer.cloud_check(client.settings, SPECS, client=client, dns=True)
    assert report.source == "test" and report.ok
    assert [(p.kind, p.target) for p in report.probes] == [("cdn", d) for d in CDN] + [
        ("dcdn", d) for d in DCDN] + [("apigateway", GROUP1), ("apigateway", GROUP2), ("dns", "zones")]
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
    emu.set_faults(1.0, ("reset",), None, actions=["BatchSetCdnDomainServerCertificate",
                                                   "SetDcdnDomainSSLCertificate", "SetDomainCertificate"])
    with caplog.at_level(logging.DEBUG):
        results = deployer.apply(plan, client)
    assert {r.status for r in results} == {"failed"}
    assert {r.error_code for r in results} == {"SDK.HttpError"}
    assert client.stats["retries"] == 5          # one retry for each of the 5 write calls
    assert_clean(caplog.text + capsys.readouterr().err + " ".join(r.reason for r in results), b)


def test_name_clash_from_an_earlier_upload_is_resolved_with_forceset(emu):
    """Our unique CertName already holds another certificate: read back, then ForceSet=1."""
    client = make_client(emu)
    b = bundle()
    name = unique_cert_name("site", b)
    other_pem, other_key = make_cert(NAMES, 90)
    client.call("cdn", "SetCdnDomainSSLCertificate", {
        "DomainName": CDN[2], "CertName": name, "CertType": "upload", "SSLProtocol": "on",
        "SSLPub": other_pem, "SSLPri": other_key}, write=True)
    emu.reset_calls()
    results = deployer.apply(deployer.plan(b, "site", TargetSpecs(cdn=[CDN[0]]), client), client)
    assert statuses(results) == {("cdn", CDN[0]): "deployed"}
    assert [(c.action, c.code) for c in emu.write_calls()] == [
        ("SetCdnDomainSSLCertificate", "Certificate.Duplicated"), ("BatchSetCdnDomainServerCertificate", None)]


# --- bulk reads and side-by-side writes ------------------------------------------------------------

def counts(emu):
    out = {}
    for c in emu.calls:
        out[c.action] = out.get(c.action, 0) + 1
    return out


PER_DOMAIN_READS = ("DescribeDomainCertificateInfo", "DescribeDcdnDomainCertificateInfo", "DescribeDomain")


def test_domain_absent_from_a_successful_https_list_is_planned_without_a_per_domain_read(emu):
    client = make_client(emu)
    other, other_key = make_cert(NAMES, 30)
    emu.add_cdn_domain("old.example.test", cert_pem=other, key_pem=other_key, cert_name="old-cert")
    specs = TargetSpecs(cdn=CDN + ["old.example.test"], dcdn=list(DCDN), apigateway=list(SPECS.apigateway))
    plan = deployer.plan(bundle(), "site", specs, client)
    assert {r.status for r in plan.results} == {"planned"}
    assert "install" in next(r.reason for r in plan.results if r.target == CDN[0])
    assert "replace old-cert" in next(r.reason for r in plan.results if r.target == "old.example.test")
    n = counts(emu)
    # CDN: a list with one HTTPS domain; DCDN: NoHttpsDomain (a successful "nothing is HTTPS")
    assert (n["DescribeCdnHttpsDomainList"], n["DescribeDcdnHttpsDomainList"], n["DescribeUserDomains"]) == (1, 1, 1)
    assert n.get("DescribeDomainCertificateInfo") == 1        # only the listed domain, for its served PEM
    assert not any(n.get(a) for a in PER_DOMAIN_READS[1:])
    # the read-only view answers from the same listings
    emu.reset_calls()
    view = {s.target: s for s in deployer.describe_targets(specs, client)}
    assert (view[CDN[0]].cert_name, view[DCDN[0]].error, view["old.example.test"].cert_name) == (None, None,
                                                                                                   "old-cert")
    assert not any(counts(emu).get(a) for a in PER_DOMAIN_READS)


@pytest.mark.parametrize("failing", [("DescribeCdnHttpsDomainList", "DescribeDcdnHttpsDomainList"),
                                     ("DescribeUserDomains",)])
def test_a_failed_listing_falls_back_to_per_domain_reads(emu, failing):
    emu.set_faults(1.0, ("internal",), None, actions=list(failing))
    client = make_client(emu, max_attempts=2)
    plan = deployer.plan(bundle(), "site", SPECS, client)
    assert statuses(plan.results) == {t: "planned" for t in ALL_TARGETS}
    n = counts(emu)
    assert n["DescribeDomainCertificateInfo"] == len(CDN)
    assert n.get("DescribeDcdnDomainCertificateInfo", 0) == (len(DCDN) if "DescribeDcdnHttpsDomainList" in failing
                                                             else 0)


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


def test_read_back_uses_the_bulk_listings(emu, monkeypatch):
    client = make_client(emu)
    plan = deployer.plan(bundle(), "site", SPECS, client)
    emu.reset_calls()
    results = deployer.apply(plan, client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    n = counts(emu)
    assert (n["DescribeCdnHttpsDomainList"], n["DescribeDcdnHttpsDomainList"], n["DescribeApiGroup"]) == (1, 1, 2)
    assert not any(n.get(a) for a in PER_DOMAIN_READS)

    # a listing that does not show the upload yet: only those targets are read one by one
    b = bundle()
    plan = deployer.plan(b, "site", SPECS, client)
    lagging = {CDN[1], "api2.example.test"}
    real_list, real_group = deployer.cdn.list_https, deployer.apigateway.read_group
    monkeypatch.setattr(deployer.cdn, "list_https", lambda c, ds, **kw: {
        d: v for d, v in real_list(c, ds, **kw).items() if d not in lagging})
    monkeypatch.setattr(deployer.apigateway, "read_group", lambda c, g: {
        d: v for d, v in real_group(c, g).items() if d not in lagging})
    emu.reset_calls()
    results = deployer.apply(plan, client)
    assert statuses(results) == {t: "deployed" for t in ALL_TARGETS}
    n = counts(emu)
    assert (n.get("DescribeDomainCertificateInfo"), n.get("DescribeDomain")) == (1, 1)
    assert not n.get("DescribeDcdnDomainCertificateInfo")
    assert emu.cdn_state(CDN[1])["serial"] == b.cert.serial_number


def test_dcdn_and_api_gateway_writes_run_alongside_the_cdn_batches(emu):
    many = ["b%02d.example.test" % i for i in range(50)]       # 5 batches, paced at 7.5 a second
    for d in many:
        emu.add_cdn_domain(d)
    client = make_client(emu)
    specs = TargetSpecs(cdn=many, dcdn=list(DCDN), apigateway=list(SPECS.apigateway))
    plan = deployer.plan(bundle(), "site", specs, client)
    emu.reset_calls()
    assert {r.status for r in deployer.apply(plan, client)} == {"deployed"}
    times = {}
    for c in emu.write_calls():
        times.setdefault(c.action, []).append(c.time)
    last_batch = max(times["BatchSetCdnDomainServerCertificate"])
    assert len(times["BatchSetCdnDomainServerCertificate"]) == 5
    assert max(times["SetDcdnDomainSSLCertificate"]) < last_batch
    assert max(times["SetDomainCertificate"]) < last_batch
