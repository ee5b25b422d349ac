"""SDK layer pieces that need no server: endpoint choice, error lines, sanitising, pacing, cert names."""

import datetime
import threading
import time

import pytest

from acme_aliyun.cloud import sdk
from acme_aliyun.targets.served import Deployed, name_evidence, parse_time, unique_cert_name
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import ToolError, UsageError
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert


def test_default_endpoints():
    s = CloudSettings(region="cn-guangzhou")
    got = {p: sdk.endpoint_for(s, p, env={}) for p in ("cdn", "dcdn", "apigateway", "dns")}
    assert got == {"cdn": sdk.Endpoint("https", "cdn.aliyuncs.com"), "dcdn": sdk.Endpoint("https", "dcdn.aliyuncs.com"),
                   "apigateway": sdk.Endpoint("https", "apigateway.cn-guangzhou.aliyuncs.com"),
                   "dns": sdk.Endpoint("https", "alidns.aliyuncs.com")}
    intl = CloudSettings(international=True)
    assert sdk.endpoint_for(intl, "cdn", env={}).host == "cdn.ap-southeast-1.aliyuncs.com"


def test_endpoint_precedence():
    s = CloudSettings(endpoint="all.example.com", endpoints={"cdn": "cdn.example.com"})
    assert sdk.endpoint_for(s, "cdn", env={}).host == "cdn.example.com"        # product > all
    assert sdk.endpoint_for(s, "dcdn", env={}).host == "all.example.com"       # all > default
    env = {"ACME_ALIYUN_ENDPOINT": "127.0.0.1:9000"}
    for p in ("cdn", "dcdn", "apigateway", "dns"):                          # env > everything
        assert sdk.endpoint_for(s, p, env=env) == sdk.Endpoint("http", "127.0.0.1:9000")
    assert sdk.endpoint_for(CloudSettings(), "sts", extra={"sts": "sts.example.com"}, env={}).host == "sts.example.com"


@pytest.mark.parametrize("value,expected", [
    ("127.0.0.1:8080", ("http", "127.0.0.1:8080")),
    ("http://127.0.0.1:8080", ("http", "127.0.0.1:8080")),
    ("http://localhost:81/", ("http", "localhost:81")),
    ("http://[::1]:81", ("http", "[::1]:81")),
    ("https://127.0.0.1:8443", ("https", "127.0.0.1:8443")),
    ("cdn.example.com", ("https", "cdn.example.com")),
    ("https://cdn.example.com:8443", ("https", "cdn.example.com:8443")),
])
def test_scheme_decision(value, expected):
    ep = sdk.endpoint_for(CloudSettings(endpoints={"cdn": value}), "cdn", env={})
    assert (ep.scheme, ep.host) == expected


@pytest.mark.parametrize("value", ["http://cdn.aliyuncs.com", "http://10.0.0.1:80", "ftp://127.0.0.1",
                                   "https://cdn.example.com/path"])
def test_plain_http_refused_for_non_loopback(value):
    with pytest.raises(UsageError):
        sdk.endpoint_for(CloudSettings(endpoint=value), "dns", env={})


def test_sanitise_strips_signed_urls_and_keys():
    _, key = make_cert(["a.example.test"], 30)
    url_key = key.replace(" ", "%20").replace("\n", "%0A")
    msg = ("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: "
           "/?SSLPri=%s&AccessKeyId=LTAIsecretid&Signature=abc (Caused by x)\nsecond line" % url_key)
    out = sdk.sanitise(msg)
    assert "LTAIsecretid" not in out and "PRIVATE" not in out and "\n" not in out
    assert "Max retries exceeded" in out
    sts = "Specified signature is not matched. server string to sign is:POST&%2F&AccessKeyId%3Dtestak%26Action%3DX"
    assert "testak" not in sdk.sanitise(sts)


def test_cloud_error_lines():
    e = sdk.CloudError("InvalidAccessKeySecret", "The AccessKeySecret is incorrect.", 400, "RID",
                       "DescribeApiGroup", key_id="LTAI5tAbCdEfGhIjKlMn")
    assert str(e) == ("Alibaba Cloud rejected the AccessKeySecret for key id LTAI…lMn(masked) "
                      "(InvalidAccessKeySecret)")
    assert isinstance(e, ToolError) and e.exit_code == 1
    e = sdk.CloudError("InvalidDomain.NotFound", "The domain provided does not belong to you.", 404, "RID2",
                       "DescribeDomainCertificateInfo")
    assert str(e) == ("DescribeDomainCertificateInfo: InvalidDomain.NotFound: The domain provided does not "
                      "belong to you. (HTTP 404, RequestId RID2)")
    # a request that carried a private key: code and request id only (issue 12, item 3)
    e = sdk.CloudError("InvalidDomain.NotFound", "The domain provided does not belong to you.", 404, "RID2",
                       "SetCdnDomainSSLCertificate", withhold=True)
    assert str(e) == "SetCdnDomainSSLCertificate: InvalidDomain.NotFound (HTTP 404, RequestId RID2)"
    assert sdk.carries_key({"SSLPub": "-----BEGIN CERTIFICATE-----", "SSLPri": "-----BEGIN EC PRIVATE KEY-----"})
    assert not sdk.carries_key({"CertType": "cas", "CertId": 7, "SSLPri": None})


def test_retryable_codes():
    def err(code, status=400):
        return sdk.CloudError(code, "m", status)
    for code in ("Throttling", "Throttling.User", "ServiceUnavailable", "InternalError", "ServiceBusy"):
        assert sdk.retryable("cdn", err(code))
    assert sdk.retryable("cdn", sdk.CloudError("SDK.HttpError", "reset"))
    assert sdk.retryable("cdn", err("Whatever", 502))
    assert sdk.retryable("dns", err("LastOperationNotFinished"))
    assert not sdk.retryable("cdn", err("LastOperationNotFinished"))
    for code in ("InvalidParameter", "Certificate.MissMatch", "InvalidAccessKeySecret", "Forbidden.RAM"):
        assert not sdk.retryable("cdn", err(code))


def test_pacer_keeps_under_the_limit_across_threads():
    pacer = sdk.Pacer({"X": 50})
    stamps, lock = [], threading.Lock()

    def worker():
        for _ in range(15):
            pacer.wait("X")
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    # 60 calls at 37.5/s after a burst of 7.5: about 1.4 s, and no 1 s window above 45
    assert stamps[-1] - stamps[0] >= 1.3
    assert max(sum(1 for s in stamps if t0 <= s < t0 + 1.0) for t0 in stamps) <= 45


def test_unique_cert_name_and_evidence():
    full, key = make_cert(["a.example.test"], 30)
    b = CertBundle.from_pems(full, key)
    name = unique_cert_name("my cert/*.example", b)
    assert name == "my-cert-.example-%s-%s" % (b.not_after.strftime("%Y%m%d"), b.serial[:8])
    assert len(unique_cert_name("x" * 300, b)) == 63       # CAS names: at most 63 characters
    assert name_evidence(unique_cert_name("other", b), b)
    assert not name_evidence("other-20200101-deadbeef", b)
    d = Deployed("other-name", b.not_after)
    assert not d.is_ours(name, b)
    assert Deployed(unique_cert_name("other", b), b.not_after).is_ours(name, b)
    assert Deployed.from_pem(full).is_ours("irrelevant", b)
    assert not Deployed(name, ssl_on=False).is_ours(name, b)


def test_parse_time_formats():
    utc = datetime.timezone.utc
    assert parse_time("2018-06-03T22:03:39Z") == datetime.datetime(2018, 6, 3, 22, 3, 39, tzinfo=utc)
    assert parse_time("2018-11-26 14:45:09") == datetime.datetime(2018, 11, 26, 14, 45, 9, tzinfo=utc)
    assert parse_time(1577808000000) == datetime.datetime(2019, 12, 31, 16, 0, tzinfo=utc)
    assert parse_time("") is None and parse_time("garbage") is None
