"""WAF 3.0 protected domains: ModifyDomainCert with the CAS id, read back by DescribeDomainDetail."""

import pytest

from acme_aliyun import deployer, targets
from tests.aliyun_emulator.products import waf as emu_waf
from tests.cloud.emuhelp import make_client
from tests.targets.deploy import assert_refuses_uncovering_and_shorter_lived, bundle, runner

run = runner("waf")


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    emu_waf.add_waf_domain(e, "www.example.test")
    emu_waf.add_waf_domain(e, "plain.example.test", https_ports=())
    emu_waf.add_waf_domain(e, "intl.example.test", region="ap-southeast-1")
    return e


def test_first_deploy_reads_back_and_a_rerun_writes_nothing(emu):
    client = make_client(emu, region="cn-shanghai")            # a mainland region: WAF cn-hangzhou
    b = bundle()
    assert run(client, b, "www.example.test")["www.example.test"].status == "deployed"
    [cas] = emu.cas_certificates()
    state = emu_waf.waf_domain_state(emu, "www.example.test")
    assert (state["serial"], state["cert_id"]) == (b.cert.serial_number, "%d-cn-hangzhou" % cas["cert_id"])
    [spec] = targets.specs(waf=["www.example.test"])["waf"]
    assert targets.KINDS["waf"].read_one(client, spec).cert_id == cas["cert_id"]
    assert len(emu.calls.of("DescribeInstance")) == 1                 # once per client and region
    emu.reset_calls()
    assert run(client, b, "www.example.test")["www.example.test"].status == "unchanged"
    assert emu.write_calls() == [] and not emu.calls.key_in_query() and not emu.calls.of("DescribeInstance")


def test_renewal_replaces_the_certificate_and_deletes_our_old_upload(emu):
    client = make_client(emu)
    old, new = bundle(60), bundle(90)
    run(client, old, "www.example.test")
    assert run(client, new, "www.example.test")["www.example.test"].status == "deployed"
    assert emu_waf.waf_domain_state(emu, "www.example.test")["serial"] == new.cert.serial_number
    assert [c["serial"] for c in emu.cas_certificates()] == [new.cert.serial_number]


def test_a_domain_that_does_not_exist_or_does_not_listen_on_https(emu):
    client = make_client(emu)
    out = run(client, bundle(), "nosuch.example.test", "plain.example.test")
    missing, plain = out["nosuch.example.test"], out["plain.example.test"]
    assert (missing.status, missing.error_code) == ("failed", "Waf.Pullin.DomainNotExist")
    assert "nosuch.example.test" in missing.reason and "\n" not in missing.reason
    assert (plain.status, plain.error_code) == ("failed", "Waf.Pullin.MustListenHTTPS")


def test_a_certificate_not_covering_the_domain_or_shorter_lived_is_refused(emu):
    assert_refuses_uncovering_and_shorter_lived(emu, make_client(emu), "waf", "www.example.test", "www.example.test",
                                                "ModifyDomainCert")


def test_the_international_region_needs_the_certificate_in_its_cas_site(emu):
    client = make_client(emu)
    r = run(client, bundle(), "ap-southeast-1/intl.example.test")["ap-southeast-1/intl.example.test"]
    assert (r.status, r.error_code) == ("failed", "CertRegionMismatch")
    client = make_client(emu, cert_region="ap-southeast-1")
    b = bundle()
    assert run(client, b, "ap-southeast-1/intl.example.test")["ap-southeast-1/intl.example.test"].status == "deployed"
    state = emu_waf.waf_domain_state(emu, "intl.example.test", "ap-southeast-1")
    assert state["serial"] == b.cert.serial_number and state["cert_id"].endswith("-ap-southeast-1")


def test_direct_mode_is_refused_for_waf(emu):
    client = make_client(emu, upload="direct")
    [r] = run(client, bundle(), "www.example.test").values()
    assert (r.status, r.error_code) == ("failed", "CasReferenceRequired")


def test_parse():
    kind = targets.KINDS["waf"]
    d = targets.base.ParseDefaults
    assert [s.region for s in kind.parse("a.example.test", d("cn-beijing"))] == ["cn-hangzhou"]
    assert [s.region for s in kind.parse("a.example.test", d("eu-central-1"))] == ["ap-southeast-1"]
    with pytest.raises(ValueError):
        kind.parse("cn-shanghai/a.example.test", d())


def test_dry_run_status_and_cloud_check(emu):
    client = make_client(emu)
    b = bundle()
    assert run(client, b, "www.example.test", dry_run=True)["www.example.test"].status == "planned"
    assert emu.write_calls() == []
    run(client, b, "www.example.test")
    [row] = deployer.describe_targets(targets.specs(waf=["www.example.test"]), client, b, "site")
    assert (row.kind, row.matches) == ("waf", True)
    report = deployer.cloud_check(client.settings, targets.specs(waf=["www.example.test", "nosuch.example.test"]),
                                  client=client)
    probes = {p.target: p for p in report.probes if p.kind == "waf"}
    assert probes["www.example.test"].ok and not probes["nosuch.example.test"].ok


def test_many_domains_at_once_ask_for_the_instance_once(emulator_factory):  # noqa: F811
    """Reads of many domains run side by side: the first one asks DescribeInstance, the others wait
    for its answer instead of each asking (the bench's 20 WAF domains made 12 lookups)."""
    e = emulator_factory()
    names = ["w%02d.example.test" % i for i in range(20)]
    for n in names:
        emu_waf.add_waf_domain(e, n)
    client = make_client(e)
    b = bundle()
    out = run(client, b, *names)
    assert {r.status for r in out.values()} == {"deployed"}
    assert all(emu_waf.waf_domain_state(e, n)["serial"] == b.cert.serial_number for n in names)
    assert len(e.calls.of("DescribeInstance")) == 1


def test_the_bulk_read_reads_each_domain_so_it_runs_beside_the_other_kinds(emu):
    """WAF has no listing that carries the certificate: read_many reads every domain itself (the
    deployer runs each kind's read_many side by side, and reads what it leaves out only after all
    of them), and the plan trusts that reading instead of reading again."""
    client = make_client(emu)
    b = bundle()
    run(client, b, "www.example.test")
    specs = targets.specs(waf=["www.example.test", "nosuch.example.test"])["waf"]
    answer = targets.KINDS["waf"].read_many(client, specs)
    [cas] = emu.cas_certificates()
    assert answer[specs[0]].cert_id == cas["cert_id"] and cas["serial"] == b.cert.serial_number
    assert getattr(answer[specs[1]], "code", None) == "Waf.Pullin.DomainNotExist"
    emu.reset_calls()
    plan = deployer.plan(bundle(), "site", targets.specs(waf=["www.example.test"]), client)
    assert [r.status for r in plan.results] == ["planned"], plan.results
    assert len(emu.calls.of("DescribeDomainDetail")) == 1
