"""CDN through the real SDK: certificate writes, their checks, and what the describe calls read back."""

import datetime
import re

import pytest
from aliyunsdkcdn.request.v20180510.BatchSetCdnDomainServerCertificateRequest import (
    BatchSetCdnDomainServerCertificateRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeCdnDomainDetailRequest import DescribeCdnDomainDetailRequest
from aliyunsdkcdn.request.v20180510.DescribeCdnHttpsDomainListRequest import DescribeCdnHttpsDomainListRequest
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeUserDomainsRequest import DescribeUserDomainsRequest
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest
from cryptography import x509

from tests.aliyun_emulator.testcerts import make_cert, make_key
from tests.emulator import sdk
from tests.emulator.sdk import call, req

D1, D2, OFF = "cdn1.example.test", "cdn2.example.test", "off.example.test"
PLAIN_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture
def cdn(emu):
    emu.add_cdn_domain(D1)
    emu.add_cdn_domain(D2)
    emu.add_cdn_domain(OFF, status="offline")
    return emu


def set_cert(client, emu, domain, pem, key, name=None, **extra):
    params = dict(DomainName=domain, SSLProtocol="on", SSLPub=pem, SSLPri=key, **extra)
    if name:
        params["CertName"] = name
    return call(client, emu, req(SetCdnDomainSSLCertificateRequest, **params))


def cert_info(client, emu, domain):
    return call(client, emu, req(DescribeDomainCertificateInfoRequest, DomainName=domain))["CertInfos"]["CertInfo"][0]


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def test_set_certificate_then_describe_reads_it_back(cdn, client):
    pem, key = make_cert([D1])
    assert set(set_cert(client, cdn, D1, pem, key, "le-cdn1-1")) == {"RequestId"}
    leaf = x509.load_pem_x509_certificate(pem.encode())
    info = cert_info(client, cdn, D1)
    assert info["CertName"] == "le-cdn1-1" and info["CertType"] == "upload"
    assert info["ServerCertificateStatus"] == "on" and info["CertDomainName"] == D1
    assert info["CertOrg"] == "Let's Encrypt"
    assert info["CertExpireTime"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["CertStartTime"] == leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert x509.load_pem_x509_certificate(info["ServerCertificate"].encode()) == leaf
    assert info["ServerCertificate"].count("BEGIN CERTIFICATE") == 1      # the leaf, as stored
    state = cdn.cdn_state(D1)
    assert (state["cert_pem"], state["key_pem"], state["ssl"]) == (pem, key, "on")
    assert state["cert_id"] == info["CertId"] and state["serial"] == leaf.serial_number


def test_describe_can_show_the_stored_chain(make_emu, client):
    emu = make_emu(server_certificate="chain")
    emu.add_cdn_domain(D1)
    pem, key = make_cert([D1])
    set_cert(client, emu, D1, pem, key, "chain")
    assert cert_info(client, emu, D1)["ServerCertificate"] == pem


def test_ssl_off_turns_https_off(cdn, client):
    pem, key = make_cert([D1])
    set_cert(client, cdn, D1, pem, key, "n1")
    call(client, cdn, req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="off"))
    assert cert_info(client, cdn, D1)["ServerCertificateStatus"] == "off"
    assert cdn.cdn_state(D1)["ssl"] == "off"


def test_wildcard_certificate_covers_a_subdomain(cdn, client):
    pem, key = make_cert(["example.test", "*.example.test"])
    set_cert(client, cdn, D1, pem, key, "wild")
    assert cdn.cdn_state(D1)["cert_name"] == "wild"


def _bad_uploads():
    pem, key = make_cert([D1])
    expired_pem, expired_key = make_cert([D1], expired=True)
    other_pem, other_key = make_cert(["other.test"])
    return [
        ("key of another certificate", dict(SSLPub=pem, SSLPri=make_key()), "Certificate.MissMatch"),
        ("expired", dict(SSLPub=expired_pem, SSLPri=expired_key), "Certificate.Expired"),
        ("not a certificate", dict(SSLPub="hello", SSLPri=key), "InvalidSSLPub"),
        ("broken certificate", dict(SSLPub=pem.replace("M", "A", 5), SSLPri=key), "InvalidSSLPub"),
        ("not a key", dict(SSLPub=pem, SSLPri="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
         "InvalidSSLPri"),
        ("wrong domain", dict(SSLPub=other_pem, SSLPri=other_key), "SetDomainCertificate.ParameterError"),
        ("name too long", dict(SSLPub=pem, SSLPri=key, CertName="n" * 129), "InvalidCertName.TooLong"),
        ("no key", dict(SSLPub=pem), "SSLPri.MissingParameter"),
        ("no certificate", dict(SSLPri=key), "SSLPub.MissingParameter"),
        ("bad protocol", dict(SSLPub=pem, SSLPri=key, SSLProtocol="yes"), "InvalidSSLProtocol.ValueNotSupported"),
        ("cas without CertId", dict(CertType="cas"), "CertId.MissingParameter"),
    ]


BAD_UPLOADS = _bad_uploads()


@pytest.mark.parametrize("what, params, code", BAD_UPLOADS, ids=[case[0] for case in BAD_UPLOADS])
def test_rejected_upload_changes_nothing(cdn, client, what, params, code):
    params = dict({"DomainName": D1, "SSLProtocol": "on"}, **params)
    assert error_of(call, client, cdn, req(SetCdnDomainSSLCertificateRequest, **params)) == (400, code)
    assert cdn.cdn_state(D1)["cert_name"] is None and cdn.cdn_state(D1)["ssl"] == "off"


def test_domain_must_exist_and_be_online(cdn, client):
    pem, key = make_cert([D1, OFF, "nope.example.test"])
    assert error_of(set_cert, client, cdn, "nope.example.test", pem, key) == (404, "InvalidDomain.NotFound")
    assert error_of(set_cert, client, cdn, OFF, pem, key) == (400, "InvalidDomain.Offline")
    assert error_of(cert_info, client, cdn, "nope.example.test") == (404, "InvalidDomain.NotFound")


def test_unknown_env_is_rejected_and_staging_leaves_production_alone(cdn, client):
    prod_pem, prod_key = make_cert([D1])
    set_cert(client, cdn, D1, prod_pem, prod_key, "prod")
    staging_pem, staging_key = make_cert([D1])
    bad = req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="on", SSLPub=staging_pem,
              SSLPri=staging_key, CertName="canary")
    bad.add_query_param("Env", "qa")
    assert error_of(call, client, cdn, bad) == (400, "InvalidEnv")
    staging = req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="on", SSLPub=staging_pem,
                  SSLPri=staging_key, CertName="canary")
    staging.add_query_param("Env", "staging")
    call(client, cdn, staging)
    state = cdn.cdn_state(D1)
    assert state["cert_name"] == "prod" and state["staging"]["cert_name"] == "canary"
    assert cert_info(client, cdn, D1)["CertName"] == "prod"


def test_cert_name_is_unique_per_account_whatever_the_content(cdn, client):
    cdn.add_dcdn_domain("d1.example.test")
    pem1, key1 = make_cert([D1, D2, "d1.example.test"])
    pem2, key2 = make_cert([D1, D2, "d1.example.test"])
    set_cert(client, cdn, D1, pem1, key1, "shared")
    assert error_of(set_cert, client, cdn, D2, pem2, key2, "shared") == (400, "Certificate.Duplicated")
    dcdn_req = req(SetDcdnDomainSSLCertificateRequest, DomainName="d1.example.test", SSLProtocol="on",
                   SSLPub=pem2, SSLPri=key2, CertName="shared")
    assert error_of(call, client, cdn, dcdn_req) == (400, "Certificate.Duplicated")
    # the same certificate under the same name is no exception (no document supports one)
    assert error_of(set_cert, client, cdn, D2, pem1, key1, "shared") == (400, "Certificate.Duplicated")
    assert cdn.cdn_state(D2)["cert_name"] is None and cdn.dcdn_state("d1.example.test")["cert_name"] is None
    assert [c["name"] for c in cdn.cas_certificates()] == ["shared"]


def test_same_content_under_a_new_name_is_refused_unless_switched_off(make_emu, client):
    strict = make_emu()
    strict.add_cdn_domain(D1)
    pem, key = make_cert([D1])
    set_cert(client, strict, D1, pem, key, "first")
    assert error_of(set_cert, client, strict, D1, pem, key, "second") == (400, "CertificateContent.Duplicated")
    assert strict.cdn_state(D1)["cert_name"] == "first"
    relaxed = make_emu(refuse_duplicate_content=False)
    relaxed.add_cdn_domain(D1)
    set_cert(client, relaxed, D1, pem, key, "first")
    set_cert(client, relaxed, D1, pem, key, "second")
    assert [c["name"] for c in relaxed.cas_certificates()] == ["first", "second"]


def test_omitted_cert_name_is_generated_or_required(make_emu, client):
    pem, key = make_cert([D1])
    generous = make_emu()
    generous.add_cdn_domain(D1)
    set_cert(client, generous, D1, pem, key)
    assert generous.cdn_state(D1)["cert_name"].startswith("cert-")
    strict = make_emu(cert_name_required=True)
    strict.add_cdn_domain(D1)
    assert error_of(set_cert, client, strict, D1, pem, key) == (404, "CertName.MissingParameter")


def test_domain_coverage_check_can_be_off_and_then_shows_mismatch(make_emu, client):
    emu = make_emu(cert_codes={"cdn": {"domain": None}})
    emu.add_cdn_domain(D1)
    pem, key = make_cert(["other.test"])
    set_cert(client, emu, D1, pem, key, "odd")
    listing = call(client, emu, req(DescribeCdnHttpsDomainListRequest))
    assert listing["CertInfos"]["CertInfo"][0]["CertStatus"] == "mismatch"


def batch(client, emu, domains, pem, key, name, **extra):
    return call(client, emu, req(BatchSetCdnDomainServerCertificateRequest, DomainName=",".join(domains),
                                 SSLProtocol="on", SSLPub=pem, SSLPri=key, CertName=name, **extra))


def test_batch_sets_every_domain_atomically(cdn, client):
    pem, key = make_cert([D1, D2])
    assert set(batch(client, cdn, [D1, D2], pem, key, "both")) == {"RequestId"}
    assert cdn.cdn_state(D1)["cert_name"] == cdn.cdn_state(D2)["cert_name"] == "both"
    assert cdn.write_calls()[-1].targets == (D1, D2)
    pem2, key2 = make_cert([D1, D2, "nope.example.test"])
    assert error_of(batch, client, cdn, [D1, "nope.example.test"], pem2, key2, "n2") == (404, "InvalidDomain.NotFound")
    assert cdn.cdn_state(D1)["cert_pem"] == pem


def test_batch_domain_limit(cdn, client):
    pem, key = make_cert([D1])
    names = ["d%d.example.test" % i for i in range(11)]
    assert error_of(batch, client, cdn, names, pem, key, "many") == (400, "InvalidParameter")


def test_batch_force_set_replaces_a_named_certificate(cdn, client):
    pem1, key1 = make_cert([D1])
    pem2, key2 = make_cert([D1])
    batch(client, cdn, [D1], pem1, key1, "named")
    assert error_of(batch, client, cdn, [D1], pem2, key2, "named") == (400, "Certificate.Duplicated")
    single = req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="on", SSLPub=pem2, SSLPri=key2,
                 CertName="named")
    single.add_query_param("ForceSet", "1")                   # the single-domain call has no ForceSet
    assert error_of(call, client, cdn, single) == (400, "Certificate.Duplicated")
    batch(client, cdn, [D1], pem2, key2, "named", ForceSet="1")
    assert cdn.cdn_state(D1)["cert_pem"] == pem2
    assert [c["name"] for c in cdn.cas_certificates()] == ["named"]     # replaced, not added


def test_https_domain_list(cdn, client):
    list_req = req(DescribeCdnHttpsDomainListRequest)
    assert error_of(call, client, cdn, list_req) == (400, "NoHttpsDomain")
    pem, key = make_cert([D1, D2])
    batch(client, cdn, [D1, D2], pem, key, "pair")
    old_pem, old_key = make_cert(["old.example.test"], expired=True)
    cdn.add_cdn_domain("old.example.test", cert_pem=old_pem, key_pem=old_key, cert_name="old")
    listing = call(client, cdn, req(DescribeCdnHttpsDomainListRequest))
    infos = {i["DomainName"]: i for i in listing["CertInfos"]["CertInfo"]}
    assert listing["TotalCount"] == 3 and set(infos) == {D1, D2, "old.example.test"}
    leaf = x509.load_pem_x509_certificate(pem.encode())
    assert infos[D1]["CertExpireTime"] == leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S")
    assert all(PLAIN_TIME.match(infos[D1][k]) for k in ("CertStartTime", "CertExpireTime", "CertUpdateTime"))
    assert (infos[D1]["CertName"], infos[D1]["CertCommonName"], infos[D1]["CertStatus"]) == ("pair", D1, "ok")
    assert infos["old.example.test"]["CertStatus"] == "expired"
    second = call(client, cdn, req(DescribeCdnHttpsDomainListRequest, PageSize=1, PageNumber=2))
    assert [i["DomainName"] for i in second["CertInfos"]["CertInfo"]] == [D2] and second["TotalCount"] == 3
    keyword = call(client, cdn, req(DescribeCdnHttpsDomainListRequest, Keyword="cdn2"))
    assert [i["DomainName"] for i in keyword["CertInfos"]["CertInfo"]] == [D2]
    too_big = req(DescribeCdnHttpsDomainListRequest, PageSize=501)
    assert error_of(call, client, cdn, too_big) == (400, "InvalidParameter")


def test_user_domains_and_domain_detail(cdn, client):
    page = call(client, cdn, req(DescribeUserDomainsRequest, PageSize=2))
    assert page["TotalCount"] == 3 and len(page["Domains"]["PageData"]) == 2
    assert page["Domains"]["PageData"][0]["DomainName"] == D1
    prefix = call(client, cdn, req(DescribeUserDomainsRequest, DomainName="off", DomainSearchType="pre_match"))
    assert [d["DomainName"] for d in prefix["Domains"]["PageData"]] == [OFF]
    offline = call(client, cdn, req(DescribeUserDomainsRequest, DomainStatus="offline"))
    assert [d["DomainStatus"] for d in offline["Domains"]["PageData"]] == ["offline"]
    detail = call(client, cdn, req(DescribeCdnDomainDetailRequest, DomainName=D1))["GetDomainDetailModel"]
    assert (detail["DomainName"], detail["DomainStatus"], detail["ServerCertificateStatus"]) == (D1, "online", "off")


def test_call_log_holds_no_secrets(cdn, client):
    pem, key = make_cert([D1])
    set_cert(client, cdn, D1, pem, key, "secretive")
    logged = repr(cdn.calls)
    assert "SSLPri" in logged                                   # the parameter name is recorded ...
    assert key.splitlines()[1] not in logged                    # ... never its value
    assert pem.splitlines()[1] not in logged and sdk.SECRET not in logged


def test_gmt_times_are_utc_iso(cdn, client):
    data = call(client, cdn, req(DescribeUserDomainsRequest, DomainName=D1, DomainSearchType="full_match"))
    created = data["Domains"]["PageData"][0]["GmtCreated"]
    parsed = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - parsed).total_seconds()) < 60
