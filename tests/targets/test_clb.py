"""CLB HTTPS listeners: the default certificate and domain extensions, as CLB server certificates."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.targets import clb
from tests.aliyun_emulator.products.clb import ClbAdmin
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client
from tests.targets.deploy import bundle, run


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    admin = ClbAdmin(e)
    admin.add_load_balancer("lb-web1", https_ports=(443, 8443), http_ports=(80,))
    admin.add_load_balancer("lb-sh1", region="cn-shanghai")
    e.clb = admin
    return e


SPECS = "lb-web1:443, lb-web1:443:www.example.test, cn-shanghai/lb-sh1:443"


def test_first_deploy_by_cas_reference_reads_back_the_serial_and_a_rerun_writes_nothing(emu):
    client = make_client(emu)
    b = bundle()
    specs = targets.specs(clb=SPECS)
    results = run(client, b, specs)
    assert {t: r.status for t, r in results.items()} == {t.strip(): "deployed" for t in SPECS.split(",")}
    [stored] = [c for c in emu.cas_certificates() if c["serial"] == b.cert.serial_number]
    for lb, domain in (("lb-web1", None), ("lb-web1", "www.example.test"), ("lb-sh1", None)):
        served = emu.clb.served(lb, 443, domain)
        assert served["serial"] == b.cert.serial_number and served["ali_id"] == stored["cert_id"]
    assert len(emu.clb.server_certificates("cn-hangzhou")) == 1           # one server certificate per region
    assert len(emu.clb.server_certificates("cn-shanghai")) == 1
    now = clb.KIND.read_one(client, specs["clb"][1])                     # the serial, read back through CAS
    assert now.serial == b.serial and now.cert_id == stored["cert_id"]
    writes = [c for c in emu.write_calls() if c.product == "Slb"]
    assert {c.method for c in writes} == {"POST"} and not emu.calls.key_in_query()
    emu.reset_calls()
    assert {r.status for r in run(make_client(emu), b, specs).values()} == {"unchanged"}
    assert emu.write_calls() == []


def test_renewal_replaces_the_certificate_and_deletes_our_superseded_server_certificate(emu):
    client = make_client(emu)
    old, new = bundle(days=60), bundle(days=90)
    specs = targets.specs(clb="lb-web1:443, lb-web1:443:www.example.test")
    run(client, old, specs)
    foreign = emu.clb.add_server_certificate(*make_cert(["other.test"], 100), name="someone-elses")
    emu.clb.bind("lb-web1", 8443, foreign)
    results = run(client, new, specs)
    assert {r.status for r in results.values()} == {"deployed"}
    assert emu.clb.served("lb-web1", 443)["serial"] == new.cert.serial_number
    assert emu.clb.served("lb-web1", 443, "www.example.test")["serial"] == new.cert.serial_number
    left = {c["name"]: c["serial"] for c in emu.clb.server_certificates()}
    assert sorted(left.values()) == sorted([new.cert.serial_number, make_serial(emu, "someone-elses")])
    assert not [c for c in emu.cas_certificates() if c["serial"] == old.cert.serial_number]   # hub clean-up
    assert not [c for c in emu.calls if c.code and c.action == "DeleteServerCertificate"]


def make_serial(emu, name):
    return next(c["serial"] for c in emu.clb.server_certificates() if c["name"] == name)


def test_a_superseded_server_certificate_still_in_use_elsewhere_is_kept(emu):
    client = make_client(emu)
    old, new = bundle(days=60), bundle(days=90)
    run(client, old, targets.specs(clb="lb-web1:443, lb-web1:8443"))
    run(client, new, targets.specs(clb="lb-web1:443"))                  # 8443 keeps the old one
    assert emu.clb.served("lb-web1", 8443)["serial"] == old.cert.serial_number
    assert [c for c in emu.calls if c.code == "CertificateAndPrivateKeyIsRefered"]


def test_direct_mode_uploads_the_pem_inline_in_the_body(emu):
    client = make_client(emu, upload="direct")
    b = bundle()
    specs = targets.specs(clb="lb-web1:443")
    assert {r.status for r in run(client, b, specs).values()} == {"deployed"}
    served = emu.clb.served("lb-web1", 443)
    assert served["ali_id"] is None and served["serial"] == b.cert.serial_number
    [upload] = [c for c in emu.write_calls() if c.action == "UploadServerCertificate"]
    assert "PrivateKey" in upload.body_keys and not emu.calls.key_in_query()
    assert not [c for c in emu.calls if c.product == "cas"]
    emu.reset_calls()
    assert {r.status for r in run(client, b, specs).values()} == {"unchanged"} and emu.write_calls() == []


def test_a_load_balancer_that_does_not_exist_is_a_one_line_error_naming_it(emu):
    client = make_client(emu)
    [r] = deployer.plan(bundle(), "site", targets.specs(clb="lb-missing9:443"), client).results
    assert r.status == "failed" and "lb-missing9" in r.reason and "\n" not in r.reason
    assert r.error_code == "InvalidLoadBalancerId.NotFound"
    [r] = deployer.plan(bundle(), "site", targets.specs(clb="lb-web1:80"), client).results
    assert r.status == "failed" and r.error_code == "ListenerNotExists" and "lb-web1:80" in r.reason


def test_a_certificate_that_does_not_cover_the_domain_is_refused(emu):
    client = make_client(emu)
    [r] = deployer.plan(bundle(), "site", targets.specs(clb="lb-web1:443:shop.other.test"), client).results
    assert r.status == "refused" and "does not cover shop.other.test" in r.reason
    foreign = emu.clb.add_server_certificate(*make_cert(["shop.other.test"], 30), name="shop")
    emu.clb.bind("lb-web1", 443, foreign)
    [r] = deployer.plan(bundle(), "site", targets.specs(clb="lb-web1:443"), client).results
    assert r.status == "refused" and "which it serves now" in r.reason and "--force" in r.reason
    assert emu.write_calls() == []


def test_a_longer_lived_certificate_is_not_replaced(emu):
    client = make_client(emu)
    run(client, bundle(days=300), targets.specs(clb="lb-web1:443"))
    [r] = deployer.plan(bundle(days=60), "site", targets.specs(clb="lb-web1:443"), client).results
    assert r.status == "refused" and "longer than this certificate" in r.reason


def test_cloud_check_and_status(emu):
    client = make_client(emu)
    specs = targets.specs(clb="lb-web1:443, lb-missing9:443")
    probes = {p.target: p for p in deployer.cloud_check(client.settings, specs, client=client).probes
              if p.kind == "clb"}
    assert probes["lb-web1:443"].ok and probes["lb-web1:443"].detail == "no certificate"
    assert not probes["lb-missing9:443"].ok
    b = bundle()
    run(client, b, targets.specs(clb="lb-web1:443"))
    [row] = deployer.describe_targets(targets.specs(clb="lb-web1:443"), client, b, "site")
    assert row.matches and row.not_after == b.not_after.replace(microsecond=0)


def test_parse():
    [a, b] = targets.specs(clb="LB-Web1:443 , cn-beijing/lb-x:8443:WWW.Example.test")["clb"]
    assert (a.target, a.domain, a.region) == ("lb-web1:443", None, "cn-hangzhou")
    assert (b.target, b.domain, b.region) == ("cn-beijing/lb-x:8443:www.example.test", "www.example.test",
                                              "cn-beijing")
    for bad in ("lb-1", "lb-1:http", "lb-1:70000", "lsn-1:443"):
        with pytest.raises(ValueError):
            targets.specs(clb=bad)


def test_the_emulator_checks_the_signature_and_the_region(emu):
    from acme_aliyun.cloud.sdk import CloudError
    bad = make_client(emu, secret="wrong-secret")
    with pytest.raises(CloudError) as e:
        bad.call("clb", "DescribeServerCertificates", {}, write=False, region="cn-hangzhou")
    assert e.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeySecret")
    with pytest.raises(CloudError) as e:
        make_client(emu).call("clb", "DescribeLoadBalancerHTTPSListenerAttribute",
                              {"LoadBalancerId": "lb-sh1", "ListenerPort": 443}, write=False, region="cn-hangzhou")
    assert e.value.code == "InvalidLoadBalancerId.NotFound"


def test_dry_run_plans_without_writing(emu):
    client = make_client(emu)
    plan = deployer.plan(bundle(), "site", targets.specs(clb="lb-web1:443, lb-web1:443:www.example.test"), client)
    assert [r.status for r in deployer.apply(plan, client, dry_run=True)] == ["planned", "planned"]
    assert emu.write_calls() == []
