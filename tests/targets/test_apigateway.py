"""API Gateway custom domains: groups belong to a region; each region's calls carry its RegionId."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client

HZ = "927d50c0f2e54b359919923d908bb015"
SH = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    e.add_api_group(HZ, ["api.example.test"], region="cn-hangzhou")
    e.add_api_group(SH, ["open.example.test", "shop.other.test"], region="cn-shanghai")
    return e


def bundle():
    return CertBundle.from_pems(*make_cert(["example.test", "*.example.test"], 90))


def test_groups_in_two_regions_are_each_served_from_their_region(emu):
    client = make_client(emu)
    specs = targets.specs(apigateway=["%s:api.example.test" % HZ, "cn-shanghai/%s" % SH])
    b = bundle()
    results = {r.target: r.status for r in deployer.apply(deployer.plan(b, "site", specs, client), client)}
    assert results == {"%s:api.example.test" % HZ: "deployed", "cn-shanghai/%s:open.example.test" % SH: "deployed"}
    assert emu.apigw_domain_state(SH, "open.example.test")["serial"] == b.cert.serial_number
    assert emu.apigw_domain_state(SH, "shop.other.test")["serial"] in (None, "")    # not covered: left alone
    assert not [c for c in emu.calls if c.code]
    writes = [c for c in emu.write_calls()]
    assert {c.method for c in writes} == {"POST"} and all("CertificatePrivateKey" in c.body_keys for c in writes)


def test_a_group_looked_up_in_the_wrong_region_is_a_failure_with_the_cloud_code(emu):
    client = make_client(emu, region="cn-hangzhou")
    specs = targets.specs(apigateway=[SH + ":open.example.test"])        # no prefix: [aliyun] Region
    [r] = deployer.plan(bundle(), "site", specs, client).results
    assert (r.status, r.error_code) == ("failed", "NotFoundApiGroup") and r.request_id
    [r] = deployer.plan(bundle(), "site", targets.specs(
        targets.base.ParseDefaults(region="cn-shanghai"), apigateway=[SH + ":open.example.test"]), client).results
    assert r.status == "planned"


def test_cloud_check_probes_each_group_in_its_region(emu):
    client = make_client(emu)
    report = deployer.cloud_check(client.settings, targets.specs(apigateway=[HZ, "cn-shanghai/" + SH]),
                                  client=client)
    assert [(p.target, p.ok, p.detail) for p in report.probes] == [
        (HZ, True, "1 custom domain(s)"), ("cn-shanghai/" + SH, True, "2 custom domain(s)")]
