"""ALB listeners: default certificate replaced, additional (SNI) certificates kept, asynchronous jobs waited for."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.targets import alb
from tests.aliyun_emulator.products.alb import AlbAdmin
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client
from tests.targets.deploy import NAMES, bundle, run


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory(product_options={"alb": {"job_seconds": 0.3}})
    admin = AlbAdmin(e)
    admin.add_listener("lsn-default1")
    admin.add_listener("lsn-sni1")
    admin.add_listener("lsn-sh1", region="cn-shanghai")
    admin.add_listener("lsn-http1", protocol="HTTP")
    e.alb = admin
    return e


def cas_id(emu, b):
    """The global id of b in the emulator's CAS (cn-hangzhou)."""
    [c] = [c for c in emu.cas_certificates("cn-hangzhou") if c["serial"] == b.cert.serial_number]
    return "%d-cn-hangzhou" % c["cert_id"]


def test_first_deploy_reads_back_the_serial_and_a_rerun_writes_nothing(emu):
    client = make_client(emu)
    b = bundle()
    specs = targets.specs(alb="lsn-default1, lsn-sni1:additional, cn-shanghai/lsn-sh1")
    results = run(client, b, specs)
    assert {t: r.status for t, r in results.items()} == {
        "lsn-default1": "deployed", "lsn-sni1:additional": "deployed", "cn-shanghai/lsn-sh1": "deployed"}
    ident = cas_id(emu, b)
    assert emu.alb.listener("lsn-default1")["default"] == ident
    assert emu.alb.listener("cn-shanghai/lsn-sh1".split("/")[1])["default"] == ident
    assert emu.alb.listener("lsn-sni1") == {"default": "", "additional": {ident: "Associated"}, "status": "Running"}
    now = alb.KIND.read_one(client, specs["alb"][0])           # read back through CAS: the new serial
    assert now.serial == b.serial and now.cert_id == int(ident.split("-")[0])
    writes = [c for c in emu.write_calls() if c.product == "Alb"]
    assert {c.method for c in writes} == {"POST"} and all("Certificates.1.CertificateId" in c.body_keys
                                                          for c in writes)
    assert all(c.code is None for c in emu.calls)              # the jobs were waited for: no IncorrectStatus
    emu.reset_calls()
    assert {r.status for r in run(make_client(emu), b, specs).values()} == {"unchanged"}
    assert emu.write_calls() == []


def test_renewal_replaces_the_default_and_dissociates_our_superseded_additional_one(emu):
    client = make_client(emu)
    old, new = bundle(days=60), bundle(days=90)
    specs = targets.specs(alb="lsn-default1, lsn-sni1:additional")
    run(client, old, specs)
    foreign = make_cert(["other.test"], 200)                   # someone else's SNI certificate stays
    fid = "%d-cn-hangzhou" % emu.add_cas_certificate(*foreign, name="other-cert")
    emu.alb.alb.listeners["lsn-sni1"].additional[fid] = "Associated"
    results = run(client, new, specs)
    assert {r.status for r in results.values()} == {"deployed"}, results
    new_id, old_ids = cas_id(emu, new), [c for c in emu.cas_certificates() if c["serial"] == old.cert.serial_number]
    assert emu.alb.listener("lsn-default1")["default"] == new_id
    assert emu.alb.listener("lsn-sni1")["additional"] == {fid: "Associated", new_id: "Associated"}
    assert old_ids == []                                       # our superseded CAS upload is gone too
    apis = [c.action for c in emu.write_calls() if c.product == "Alb"]
    assert apis.count("DissociateAdditionalCertificatesFromListener") == 1


def test_a_write_while_the_listener_is_configuring_is_retried_after_the_job(emu):
    client = make_client(emu)
    b = bundle()
    [spec] = targets.specs(alb="lsn-default1")["alb"]
    emu.alb.alb.listeners["lsn-default1"].busy_until = __import__("time").monotonic() + 0.8   # another job runs
    results = run(client, b, {"alb": [spec]})
    assert results["lsn-default1"].status == "deployed"
    assert emu.alb.listener("lsn-default1")["default"] == cas_id(emu, b)
    assert not [c for c in emu.calls if c.code == "IncorrectStatus.Listener"]   # waited for Running first


def test_the_emulator_refuses_a_write_while_configuring(emu):
    from acme_aliyun.cloud.sdk import CloudError
    client = make_client(emu)
    b = bundle()
    ident = "%d-cn-hangzhou" % emu.add_cas_certificate(*make_cert(NAMES, 90), name="x")
    params = {"ListenerId": "lsn-sni1", "Certificates.1.CertificateId": ident}
    client.call("alb", "AssociateAdditionalCertificatesWithListener", params, write=True, region="cn-hangzhou")
    with pytest.raises(CloudError) as e:
        client.call("alb", "DissociateAdditionalCertificatesFromListener", params, write=True, region="cn-hangzhou")
    assert e.value.code == "IncorrectStatus.Listener" and "[Configuring]" in str(e.value)
    assert b is not None


def test_a_listener_that_does_not_exist_is_a_one_line_error_naming_it(emu):
    client = make_client(emu)
    [r] = deployer.plan(bundle(), "site", targets.specs(alb="lsn-missing9"), client).results
    assert r.status == "failed" and "lsn-missing9" in r.reason and "\n" not in r.reason
    assert r.error_code == "ResourceNotFound.Listener"
    [r] = deployer.plan(bundle(), "site", targets.specs(alb="lsn-http1"), client).results
    assert r.status == "refused" and "HTTP listener" in r.reason


def test_a_certificate_that_does_not_cover_the_served_names_is_refused_unless_forced(emu):
    client = make_client(emu)
    served = make_cert(["shop.other.test"], 30)
    emu.alb.alb.listeners["lsn-default1"].default_cert = "%d-cn-hangzhou" % emu.add_cas_certificate(
        *served, name="shop")
    specs = targets.specs(alb="lsn-default1")
    [r] = deployer.plan(bundle(), "site", specs, client).results
    assert r.status == "refused" and "does not cover shop.other.test" in r.reason and "--force" in r.reason
    assert [x.status for x in deployer.plan(bundle(), "site", specs, client, force=True).results] == ["planned"]


def test_a_longer_lived_certificate_is_not_replaced(emu):
    client = make_client(emu)
    longer = bundle(days=300)
    run(client, longer, targets.specs(alb="lsn-default1"))
    [r] = deployer.plan(bundle(days=60), "site", targets.specs(alb="lsn-default1"), client).results
    assert r.status == "refused" and "longer than this certificate" in r.reason


def test_cloud_check_probes_each_listener(emu):
    client = make_client(emu)
    report = deployer.cloud_check(client.settings, targets.specs(alb="lsn-default1, lsn-missing9"), client=client)
    probes = {p.target: p for p in report.probes if p.kind == "alb"}
    assert probes["lsn-default1"].ok and not probes["lsn-missing9"].ok


def test_parse_errors_name_the_value():
    for bad in ("lb-123", "lsn-1:extra", "Bad Region/lsn-1"):
        with pytest.raises(ValueError) as e:
            targets.specs(alb=bad)
        assert repr(bad.split(",")[0]) in str(e.value) or bad in str(e.value)


def test_the_wait_for_a_job_is_bounded(emulator_factory, monkeypatch):
    e = emulator_factory(product_options={"alb": {"job_seconds": 30}})
    AlbAdmin(e).add_listener("lsn-slow1")
    monkeypatch.setattr(alb, "JOB_WAIT", 0.6)
    client = make_client(e)
    [r] = deployer.apply(deployer.plan(bundle(), "site", targets.specs(alb="lsn-slow1"), client), client)
    assert r.status == "failed" and r.error_code == "JobTimeout" and "lsn-slow1" in r.reason


def test_direct_mode_without_a_cas_reference_is_a_clear_failure(emu):
    client = make_client(emu, upload="direct")
    [r] = deployer.apply(deployer.plan(bundle(), "site", targets.specs(alb="lsn-default1"), client), client)
    assert r.status == "failed" and r.error_code == "CasReferenceRequired"
    assert not [c for c in emu.write_calls() if c.product == "Alb"]


def test_cas_refuses_to_delete_a_certificate_a_listener_uses(emu):
    from acme_aliyun.cloud.sdk import CloudError
    client = make_client(emu)
    cert_id = emu.add_cas_certificate(*make_cert(NAMES, 90), name="in-use")
    emu.alb.alb.listeners["lsn-default1"].default_cert = "%d-cn-hangzhou" % cert_id
    with pytest.raises(CloudError) as e:
        client.call("cas", "DeleteUserCertificate", {"CertId": cert_id}, write=True, region="cn-hangzhou")
    assert e.value.code == "CertificateInUse"


def test_dry_run_plans_without_writing(emu):
    client = make_client(emu)
    plan = deployer.plan(bundle(), "site", targets.specs(alb="lsn-default1, lsn-sni1:additional"), client)
    assert [r.status for r in deployer.apply(plan, client, dry_run=True)] == ["planned", "planned"]
    assert emu.write_calls() == []


def test_the_plan_reads_each_listener_once(emu):
    """ALB has no listing: read_many reads each listener as read_one would, so the plan trusts that
    reading and does not read a listener that serves another certificate a second time."""
    client = make_client(emu)
    old = bundle()
    run(client, old, targets.specs(alb="lsn-default1, lsn-sni1"))
    emu.alb.wait_idle()
    emu.reset_calls()
    plan = deployer.plan(bundle(), "site", targets.specs(alb="lsn-default1, lsn-sni1"), client)
    assert [r.status for r in plan.results] == ["planned", "planned"], plan.results
    assert len(emu.calls.of("GetListenerAttribute")) == 2
