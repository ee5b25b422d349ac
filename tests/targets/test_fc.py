"""Function Compute 3.0 custom domains (issue 13): certConfig inline, signed V3, routes kept."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.cloud import roa
from acme_aliyun.cloud.sdk import CloudError
from tests.aliyun_emulator.products import fc as emu_fc
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client
from tests.targets.deploy import assert_refuses_uncovering_and_shorter_lived, NAMES, bundle, runner

run = runner("fc")

ROUTES = {"routes": [{"path": "/api/*", "functionName": "api", "qualifier": "prod", "methods": ["GET"]},
                     {"path": "/*", "functionName": "web", "qualifier": "LATEST", "methods": ["GET", "POST"]}]}
CORS = {"allowOrigins": ["https://example.test"], "maxAge": 600}


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    emu_fc.add_custom_domain(e, "api.example.test", route_config=ROUTES, corsConfig=CORS)
    emu_fc.add_custom_domain(e, "web.example.test", region="cn-shanghai", protocol="HTTP")
    for i in range(3):
        emu_fc.add_custom_domain(e, "f%d.example.test" % i)
    return e


def test_first_deploy_keeps_routes_turns_on_https_and_a_rerun_writes_nothing(emu):
    client = make_client(emu)
    b = bundle()
    out = run(client, b, "api.example.test", "cn-shanghai/web.example.test")
    assert {t: r.status for t, r in out.items()} == {"api.example.test": "deployed",
                                                     "cn-shanghai/web.example.test": "deployed"}
    state = emu_fc.domain_state(emu, "api.example.test")
    assert state["serial"] == b.cert.serial_number and state["protocol"] == "HTTP,HTTPS"
    assert state["routeConfig"] == ROUTES and state["corsConfig"] == CORS       # the strict emulator clears omitted
    [spec] = targets.specs(fc=["api.example.test"])["fc"]
    assert targets.KINDS["fc"].read_one(client, spec).serial == b.serial        # read back: the served PEM's serial
    updates = emu.calls.of("UpdateCustomDomain")
    assert len(updates) == 2 and all(c.method == "PUT" and "certConfig.privateKey" in c.body_keys for c in updates)
    emu.reset_calls()
    again = run(client, b, "api.example.test", "cn-shanghai/web.example.test")
    assert {r.status for r in again.values()} == {"unchanged"} and emu.write_calls() == []


def test_renewal_replaces_the_certificate(emu):
    client = make_client(emu)
    old, new = bundle(60), bundle(90)
    assert run(client, old, "api.example.test")["api.example.test"].status == "deployed"
    assert run(client, new, "api.example.test")["api.example.test"].status == "deployed"
    state = emu_fc.domain_state(emu, "api.example.test")
    assert state["serial"] == new.cert.serial_number and state["routeConfig"] == ROUTES
    assert emu.cas_certificates() == []            # FC takes the PEM inline: nothing goes to CAS


def test_a_domain_that_does_not_exist_is_one_line_naming_it(emu):
    client = make_client(emu)
    [r] = run(client, bundle(), "nosuch.example.test").values()
    assert (r.status, r.error_code) == ("failed", "DomainNameNotFound")
    assert "custom domain nosuch.example.test" in r.reason and "\n" not in r.reason and r.request_id


def test_a_certificate_not_covering_the_domain_or_shorter_lived_is_refused(emu):
    assert_refuses_uncovering_and_shorter_lived(emu, make_client(emu), "fc", "api.example.test", "api.example.test",
                                                "UpdateCustomDomain")


def test_keys_travel_only_in_the_signed_json_body(emu):
    client = make_client(emu)
    run(client, bundle(), "api.example.test", "f0.example.test")
    assert emu.calls.of("UpdateCustomDomain") and not emu.calls.key_in_query()
    assert not [c for c in emu.calls if c.code]


def test_many_domains_are_read_by_one_listing_page_by_page(emu):
    client = make_client(emu)
    specs = ["f%d.example.test" % i for i in range(3)]
    kind = targets.KINDS["fc"]
    fc_specs = targets.specs(fc=specs)["fc"]
    import acme_aliyun.targets.fc as fc_module
    old, fc_module.PAGE_LIMIT = fc_module.PAGE_LIMIT, 1
    try:
        answer = kind.read_many(client, fc_specs)
    finally:
        fc_module.PAGE_LIMIT = old
    assert all(answer[s] is not None and answer[s].empty for s in fc_specs)
    # pages of one: api, f0, f1, f2, then it stops (web.example.test is never fetched)
    assert len(emu.calls.of("ListCustomDomains")) == 4 and not emu.calls.of("GetCustomDomain")


def test_the_emulator_refuses_a_bad_signature_a_partial_cert_config_and_clears_omitted_fields(emu):
    client = make_client(emu, secret="wrong")
    with pytest.raises(CloudError) as err:
        roa.call(client, "fc", "GetCustomDomain", "GET", "/2023-03-30/custom-domains/api.example.test", "x")
    assert err.value.code == "SignatureDoesNotMatch"
    client = make_client(emu)
    pem, key = make_cert(NAMES, 90)
    path = "/2023-03-30/custom-domains/api.example.test"
    with pytest.raises(CloudError) as err:
        roa.call(client, "fc", "UpdateCustomDomain", "PUT", path, "x", body={
            "certConfig": {"certName": "n", "certificate": pem}}, write=True)
    assert (err.value.code, err.value.http_status) == ("InvalidArgument", 400) and "privateKey" in str(err.value)
    roa.call(client, "fc", "UpdateCustomDomain", "PUT", path, "x", write=True, body={
        "protocol": "HTTPS", "certConfig": {"certName": "n", "certificate": pem, "privateKey": key}})
    assert "routeConfig" not in emu_fc.domain_state(emu, "api.example.test")      # strict: omitted is cleared
    emu_fc.add_custom_domain(emu, "api.example.test", route_config=ROUTES)
    emu_fc.fc_keep_omitted(emu)
    roa.call(client, "fc", "UpdateCustomDomain", "PUT", path, "x", write=True, body={
        "protocol": "HTTPS", "certConfig": {"certName": "n", "certificate": pem, "privateKey": key}})
    assert emu_fc.domain_state(emu, "api.example.test")["routeConfig"] == ROUTES


def test_dry_run_status_and_cloud_check(emu):
    client = make_client(emu)
    b = bundle()
    assert run(client, b, "api.example.test", dry_run=True)["api.example.test"].status == "planned"
    assert emu.write_calls() == []
    run(client, b, "api.example.test")
    [row] = deployer.describe_targets(targets.specs(fc=["api.example.test"]), client, b, "site")
    assert (row.kind, row.matches, row.cert_name) == ("fc", True, "site-%s-%s" % (
        b.not_after.strftime("%Y%m%d"), b.serial.lower()[:8]))
    report = deployer.cloud_check(client.settings, targets.specs(fc=["api.example.test", "nosuch.example.test"]),
                                  client=client)
    probes = {p.target: p for p in report.probes}
    assert probes["api.example.test"].ok and not probes["nosuch.example.test"].ok
    assert "DomainNameNotFound" in probes["nosuch.example.test"].detail


def test_fc_endpoint_is_fcv3_by_region_and_overridable():
    from acme_aliyun.cloud.sdk import endpoint_for
    from acme_aliyun.cloud.settings import CloudSettings

    assert endpoint_for(CloudSettings(), "fc", region="cn-shanghai", env={}).host == "fcv3.cn-shanghai.aliyuncs.com"
    custom = CloudSettings(endpoints={"fc": "1234.cn-hangzhou.fc.aliyuncs.com"})
    assert endpoint_for(custom, "fc", region="cn-hangzhou", env={}).host == "1234.cn-hangzhou.fc.aliyuncs.com"


def test_faults_are_retried_and_every_domain_still_gets_the_certificate(emulator_factory):  # noqa: F811
    e = emulator_factory(timeout_sleep_s=1.0)
    domains = ["f%d.example.test" % i for i in range(6)]
    for d in domains:
        emu_fc.add_custom_domain(e, d, route_config=ROUTES)
    client = make_client(e, read_timeout=0.5)
    b = bundle()
    e.set_faults(0.3, seed=3, actions=("ListCustomDomains", "GetCustomDomain", "UpdateCustomDomain"))
    out = run(client, b, *domains)
    e.set_faults(0.0)
    assert {r.status for r in out.values()} == {"deployed"}, out
    assert {c.fault for c in e.calls if c.fault} >= {"reset", "timeout"}
    for d in domains:
        state = emu_fc.domain_state(e, d)
        assert state["serial"] == b.cert.serial_number and state["routeConfig"] == ROUTES
    assert client.stats["retries"] > 0


def test_sts_credentials_sign_with_their_token(emu):
    emu.add_sts_credentials("STS.tmpkey", "tmp-secret", "token-123")
    client = make_client(emu, key_id="STS.tmpkey", secret="tmp-secret", token="token-123")
    b = bundle()
    assert run(client, b, "api.example.test")["api.example.test"].status == "deployed"
    wrong = make_client(emu, key_id="STS.tmpkey", secret="tmp-secret", token="token-999")
    [r] = run(wrong, b, "api.example.test").values()
    assert r.status == "failed" and r.error_code.startswith("InvalidSecurityToken")


def test_a_wildcard_custom_domain_is_addressed_percent_encoded(emu):
    emu_fc.add_custom_domain(emu, "*.example.test")
    client = make_client(emu)
    b = bundle()
    assert run(client, b, "*.example.test")["*.example.test"].status == "deployed"
    assert emu_fc.domain_state(emu, "*.example.test")["serial"] == b.cert.serial_number
    assert run(client, b, "*.example.test")["*.example.test"].status == "unchanged"


def test_the_standalone_emulator_config_seeds_custom_domains():
    from tests.aliyun_emulator.__main__ import build

    emu = build({"accounts": {"testak": "testsecret"},
                 "fc_custom_domains": [{"domain": "seeded.example.test", "protocol": "HTTP"}]})
    assert emu_fc.domain_state(emu, "seeded.example.test")["protocol"] == "HTTP"
