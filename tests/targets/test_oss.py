"""OSS bucket custom domains (issue 13): the certificate by CAS id through oss2, read back by ListCname."""

import pytest

from acme_aliyun import deployer, targets
from tests.aliyun_emulator.products import oss as emu_oss
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client
from tests.targets.deploy import assert_refuses_uncovering_and_shorter_lived, NAMES, bundle, runner

run = runner("oss")

FILES = "site-files:files.example.test"


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    emu_oss.add_bucket(e, "site-files", "cn-hangzhou", ["files.example.test", "img.example.test"])
    emu_oss.add_bucket(e, "sh-assets", "cn-shanghai", ["static.example.test", "www.other.test"])
    return e


def cname(emu, target):
    bucket, domain = target.split("/")[-1].split(":")
    return emu_oss.cname_state(emu, bucket, domain)


def test_first_deploy_by_cas_id_reads_back_and_a_rerun_writes_nothing(emu):
    client = make_client(emu)
    b = bundle()
    out = run(client, b, FILES, "cn-shanghai/sh-assets:static.example.test")
    assert {t: r.status for t, r in out.items()} == {FILES: "deployed",
                                                     "cn-shanghai/sh-assets:static.example.test": "deployed"}
    [cas] = [c for c in emu.cas_certificates() if c["serial"] == b.cert.serial_number]
    for target in out:
        state = cname(emu, target)
        assert (state["serial"], state["cert_id"], state["cert_type"]) == (
            b.cert.serial_number, "%d-cn-hangzhou" % cas["cert_id"], "CAS")
    puts = emu.calls.of("PutCname")
    assert puts and all(c.body_keys == ("CertId", "Force") and not c.code for c in puts)
    now = served_after(client, FILES)                                  # read back by ListCname
    assert now.fingerprint and now.is_ours(None, b) and now.cert_id == cas["cert_id"]
    emu.reset_calls()
    again = run(client, b, FILES, "cn-shanghai/sh-assets:static.example.test")
    assert {r.status for r in again.values()} == {"unchanged"}
    assert emu.write_calls() == [] and not emu.calls.key_in_query()


def served_after(client, target):
    [spec] = targets.specs(oss=[target])["oss"]
    return targets.KINDS["oss"].read_one(client, spec)


def test_renewal_replaces_the_certificate_with_previous_cert_id_and_deletes_our_old_upload(emu):
    client = make_client(emu)
    old, new = bundle(60), bundle(90)
    assert run(client, old, FILES)[FILES].status == "deployed"
    old_id = cname(emu, FILES)["cert_id"]
    emu.reset_calls()
    assert run(client, new, FILES)[FILES].status == "deployed"
    assert cname(emu, FILES)["serial"] == new.cert.serial_number and cname(emu, FILES)["cert_id"] != old_id
    [put] = emu.calls.of("PutCname")
    assert put.body_keys == ("CertId", "Force", "PreviousCertId")
    assert [c["serial"] for c in emu.cas_certificates()] == [new.cert.serial_number]     # old upload gone


def test_previous_cert_id_must_match_without_force(emu):
    """The emulator's reading of EC 0018-00000209, driven through oss2 directly."""
    import oss2

    client = make_client(emu)
    run(client, bundle(60), FILES)
    other = emu.add_cas_certificate(*make_cert(NAMES, 80), name="someone-else")
    bucket = oss2.Bucket(oss2.AuthV4("testak", "testsecret"), emu.url, "site-files", region="cn-hangzhou")
    req = oss2.models.PutBucketCnameRequest("files.example.test", oss2.models.CertInfo(
        cert_id="%d-cn-hangzhou" % other, previous_cert_id="1-cn-hangzhou"))
    with pytest.raises(oss2.exceptions.OssError) as err:
        bucket.put_bucket_cname(req)
    assert err.value.details.get("EC") == "0018-00000209"
    req.cert.force = True                                           # oss2 would send 'True': refused (strict)
    with pytest.raises(oss2.exceptions.OssError):
        bucket.put_bucket_cname(req)
    req.cert.force = "true"
    bucket.put_bucket_cname(req)
    assert cname(emu, FILES)["cert_id"] == "%d-cn-hangzhou" % other


def test_a_bad_cas_id_is_certificate_invalid_cas_id(emu):
    import oss2

    bucket = oss2.Bucket(oss2.AuthV4("testak", "testsecret"), emu.url, "site-files", region="cn-hangzhou")
    for cert_id in ("99999-cn-hangzhou", "99999"):
        with pytest.raises(oss2.exceptions.OssError) as err:
            bucket.put_bucket_cname(oss2.models.PutBucketCnameRequest(
                "files.example.test", oss2.models.CertInfo(cert_id=cert_id, force="true")))
        assert (err.value.status, err.value.code) == (400, "CertificateInvalidCasId")


def test_v1_signatures_as_oss2_sends_them_are_checked(emu):
    import oss2

    good = oss2.Bucket(oss2.Auth("testak", "testsecret"), emu.url, "site-files")
    assert [c.domain for c in good.list_bucket_cname().cname] == ["files.example.test", "img.example.test"]
    for auth in (oss2.Auth("testak", "wrong"), oss2.AuthV4("testak", "wrong")):
        with pytest.raises(oss2.exceptions.OssError) as err:
            oss2.Bucket(auth, emu.url, "site-files", region="cn-hangzhou").list_bucket_cname()
        assert err.value.code == "SignatureDoesNotMatch"


def test_a_bucket_in_another_region_than_configured_is_refused_with_the_cloud_code(emu):
    client = make_client(emu, region="cn-hangzhou")
    [r] = run(client, bundle(), "sh-assets:static.example.test").values()
    assert (r.status, r.error_code) == ("failed", "AccessDenied")


def test_a_bucket_or_domain_that_does_not_exist_is_one_line_naming_it(emu):
    client = make_client(emu)
    out = run(client, bundle(), "no-such-bucket:files.example.test", "site-files:nope.example.test")
    missing, unbound = out["no-such-bucket:files.example.test"], out["site-files:nope.example.test"]
    assert (missing.status, missing.error_code) == ("failed", "NoSuchBucket")
    assert "no-such-bucket" in missing.reason and "\n" not in missing.reason
    assert unbound.status == "failed" and "nope.example.test" in unbound.reason and "site-files" in unbound.reason
    assert emu.write_calls() == []


def test_a_certificate_not_covering_the_domain_or_shorter_lived_is_refused(emu):
    assert_refuses_uncovering_and_shorter_lived(emu, make_client(emu), "oss", FILES, "files.example.test", "PutCname")


def test_direct_mode_sends_the_pem_in_the_xml_body_never_the_url(emu):
    client = make_client(emu, upload="direct")
    b = bundle()
    assert run(client, b, FILES)[FILES].status == "deployed"
    assert cname(emu, FILES)["serial"] == b.cert.serial_number
    [put] = emu.calls.of("PutCname")
    assert put.method == "POST" and "PrivateKey" in put.body_keys and "PrivateKey" not in put.query_keys
    assert not emu.calls.key_in_query()
    assert run(client, b, FILES)[FILES].status == "unchanged"


def test_dry_run_status_and_cloud_check(emu):
    client = make_client(emu)
    b = bundle()
    assert run(client, b, FILES, dry_run=True)[FILES].status == "planned" and emu.write_calls() == []
    run(client, b, FILES)
    [row] = deployer.describe_targets(targets.specs(oss=[FILES]), client, b, "site")
    assert (row.kind, row.target, row.matches) == ("oss", FILES, True)
    assert row.not_after == b.not_after.replace(microsecond=0)
    report = deployer.cloud_check(client.settings, targets.specs(oss=[FILES, "no-such-bucket:x.example.test"]),
                                  client=client)
    probes = {p.target: (p.ok, p.detail) for p in report.probes if p.kind == "oss"}
    assert probes["site-files"] == (True, "2 custom domain(s)")
    assert probes["no-such-bucket"][0] is False and "NoSuchBucket" in probes["no-such-bucket"][1]


def test_parse_refuses_bad_values():
    kind = targets.KINDS["oss"]
    for value in ("files.example.test", "Bad_Bucket:x.example.test", "b1x:", "nowhere!/b1x:x.example.test"):
        with pytest.raises(ValueError):
            kind.parse(value, targets.base.ParseDefaults())
    [spec] = kind.parse("cn-beijing/b1x:X.Example.Test", targets.base.ParseDefaults())
    assert (spec.target, spec.region, spec.scope, spec.domain) == ("cn-beijing/b1x:x.example.test", "cn-beijing",
                                                                   "b1x", "x.example.test")


def test_faults_are_retried_and_every_domain_still_gets_the_certificate(emulator_factory):  # noqa: F811
    e = emulator_factory(timeout_sleep_s=1.0)
    domains = ["o%d.example.test" % i for i in range(6)]
    emu_oss.add_bucket(e, "site-files", "cn-hangzhou", domains)
    client = make_client(e, read_timeout=0.5)
    b = bundle()
    e.set_faults(0.3, seed=3, actions=("ListCname", "PutCname"))
    out = run(client, b, *["site-files:" + d for d in domains])
    e.set_faults(0.0)
    assert {r.status for r in out.values()} == {"deployed"}, out
    assert {c.fault for c in e.calls if c.fault} >= {"reset", "timeout"}
    assert all(emu_oss.cname_state(e, "site-files", d)["serial"] == b.cert.serial_number for d in domains)
    assert client.stats["retries"] > 0


def test_sts_credentials_sign_with_their_token(emu):
    emu.add_sts_credentials("STS.tmpkey", "tmp-secret", "token-123")
    client = make_client(emu, key_id="STS.tmpkey", secret="tmp-secret", token="token-123")
    b = bundle()
    assert run(client, b, FILES)[FILES].status == "deployed"
    wrong = make_client(emu, key_id="STS.tmpkey", secret="tmp-secret", token="token-999")
    [r] = run(wrong, b, FILES).values()
    assert (r.status, r.error_code) == ("failed", "InvalidSecurityToken")


def test_the_standalone_emulator_config_seeds_buckets():
    from tests.aliyun_emulator.__main__ import build

    emu = build({"accounts": {"testak": "testsecret"},
                 "oss_buckets": [{"name": "seeded-bucket", "region": "cn-beijing", "domains": ["a.example.test"]}]})
    assert emu_oss.cname_state(emu, "seeded-bucket", "a.example.test")["cert_id"] is None
