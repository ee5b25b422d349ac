"""QPS limits, injected faults and failing domains, seen through the real SDK."""

import time

import pytest
from aliyunsdkalidns.request.v20150109.AddDomainRecordRequest import AddDomainRecordRequest
from aliyunsdkalidns.request.v20150109.DescribeDomainsRequest import DescribeDomainsRequest
from aliyunsdkcdn.request.v20180510.BatchSetCdnDomainServerCertificateRequest import (
    BatchSetCdnDomainServerCertificateRequest,
)
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

from tests.aliyun_emulator import DEFAULT_QPS
from tests.aliyun_emulator.products import PRODUCTS
from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator.sdk import call, req

D1, D2 = "cdn1.example.test", "cdn2.example.test"
PEM, KEY = make_cert([D1, D2])


def set_cert(client, emu, domain=D1, name="le", pair=(PEM, KEY)):
    return call(client, emu, req(SetCdnDomainSSLCertificateRequest, DomainName=domain, SSLProtocol="on",
                                 SSLPub=pair[0], SSLPri=pair[1], CertName=name))


def outcome(fn, *args):
    """None on success, else (HTTP status, code)."""
    try:
        fn(*args)
    except ServerException as exc:
        return exc.get_http_status(), exc.get_error_code()
    return None


def test_every_action_has_a_default_qps_limit():
    """config.DEFAULT_QPS, or the limits a product module declares with its actions (products added
    later keep their facts in their own module); never both."""
    actions = {name for product in PRODUCTS.values() for name in product.actions}
    declared = {name for product in PRODUCTS.values() for name in product.qps}
    assert actions == set(DEFAULT_QPS) | declared and not set(DEFAULT_QPS) & declared


def test_qps_limit_per_action_in_a_sliding_second(make_emu, client):
    emu = make_emu(qps_limits={"DescribeDomains": 3})
    emu.add_cdn_domain(D1)
    describe = lambda: call(client, emu, req(DescribeDomainsRequest))  # noqa: E731
    assert [outcome(describe) for _ in range(4)] == [None, None, None, (400, "Throttling.User")]
    with pytest.raises(ServerException) as info:
        describe()
    assert info.value.get_error_msg() == "Request was denied due to user flow control."
    assert call(client, emu, req(DescribeDomainCertificateInfoRequest, DomainName=D1))   # other action unaffected
    assert len(emu.throttled_calls()) == 2
    time.sleep(1.05)
    assert outcome(describe) is None


def test_default_limit_applies_to_rejected_calls_too(emu, client):
    batch = req(BatchSetCdnDomainServerCertificateRequest, DomainName="nope.example.test", SSLProtocol="off")
    results = [outcome(call, client, emu, batch) for _ in range(DEFAULT_QPS["BatchSetCdnDomainServerCertificate"] + 1)]
    assert results[:-1] == [(404, "InvalidDomain.NotFound")] * 10 and results[-1] == (400, "Throttling.User")


def test_qps_enforcement_can_be_switched_off(make_emu, client):
    emu = make_emu(qps_limits={"DescribeDomains": 1}, enforce_qps=False)
    assert all(call(client, emu, req(DescribeDomainsRequest)) for _ in range(3))


@pytest.mark.parametrize("kind, status, code", [("throttling", 400, "Throttling.User"),
                                                ("unavailable", 503, "ServiceUnavailable"),
                                                ("internal", 500, "InternalError")])
def test_answered_faults_change_nothing(make_emu, client, kind, status, code):
    emu = make_emu(fault_rate=1.0, fault_kinds=(kind,))
    emu.add_cdn_domain(D1)
    assert outcome(set_cert, client, emu) == (status, code)
    assert emu.cdn_state(D1)["cert_name"] is None
    assert (emu.calls[-1].fault, emu.calls[-1].http_status, emu.calls[-1].code) == (kind, status, code)


def test_reset_fault_drops_the_connection(make_emu, client):
    emu = make_emu(fault_rate=1.0, fault_kinds=("reset",))
    emu.add_cdn_domain(D1)
    with pytest.raises(ClientException) as info:
        set_cert(client, emu)
    assert info.value.get_error_code() == "SDK.HttpError"
    assert "reset" in info.value.get_error_msg().lower()
    assert emu.cdn_state(D1)["cert_name"] is None
    assert (emu.calls[-1].fault, emu.calls[-1].http_status) == ("reset", None)


def test_timeout_fault_outlasts_a_short_read_timeout(make_emu, client):
    emu = make_emu(fault_rate=1.0, fault_kinds=("timeout",), timeout_sleep_s=5)
    emu.add_cdn_domain(D1)
    request = req(SetCdnDomainSSLCertificateRequest, DomainName=D1, SSLProtocol="on", SSLPub=PEM, SSLPri=KEY)
    request.set_read_timeout(0.3)
    started = time.monotonic()
    with pytest.raises(ClientException) as info:
        call(client, emu, request)
    assert info.value.get_error_code() == "SDK.HttpError" and time.monotonic() - started < 2
    assert emu.cdn_state(D1)["cert_name"] is None


def test_faults_are_seeded_and_can_target_actions(make_emu, client):
    runs = []
    for _ in range(2):
        emu = make_emu(fault_rate=0.5, fault_kinds=("throttling", "internal"), fault_seed=7, enforce_qps=False)
        runs.append([outcome(call, client, emu, req(DescribeDomainsRequest)) for _ in range(20)])
    assert runs[0] == runs[1] and None in runs[0] and len(set(runs[0])) == 3
    emu.add_dns_zone("example.test")
    emu.set_faults(rate=1.0, kinds=("internal",), seed=1, actions=("AddDomainRecord",))
    assert outcome(call, client, emu, req(DescribeDomainsRequest)) is None
    add = req(AddDomainRecordRequest, DomainName="example.test", RR="x", Type="TXT", Value="v")
    assert outcome(call, client, emu, add) == (500, "InternalError")
    emu.set_faults(rate=0.0)
    assert outcome(call, client, emu, add) is None


def test_failing_domain_fails_every_write_to_it(emu, client):
    emu.add_cdn_domain(D1)
    emu.add_cdn_domain(D2)
    emu.add_dns_zone("example.test")
    emu.fail_domain(D1, code="InternalError", http_status=500)
    emu.fail_domain("example.test", code="ServiceUnavailable", http_status=503)
    assert outcome(set_cert, client, emu, D1) == (500, "InternalError")
    batch = req(BatchSetCdnDomainServerCertificateRequest, DomainName=D2 + "," + D1, SSLProtocol="on",
                SSLPub=PEM, SSLPri=KEY, CertName="le")
    assert outcome(call, client, emu, batch) == (500, "InternalError")
    assert outcome(call, client, emu, req(DescribeDomainCertificateInfoRequest, DomainName=D1)) is None
    add = req(AddDomainRecordRequest, DomainName="example.test", RR="x", Type="TXT", Value="v")
    assert outcome(call, client, emu, add) == (503, "ServiceUnavailable")
    assert outcome(set_cert, client, emu, D2) is None and emu.cdn_state(D1)["cert_name"] is None
    emu.heal_domain(D1)
    assert outcome(set_cert, client, emu, D1, "le-2", make_cert([D1])) is None   # names and content: one use
