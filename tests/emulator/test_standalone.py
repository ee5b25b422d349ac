"""``python -m tests.aliyun_emulator``: JSON config, endpoint line, port file, clean stop on SIGTERM."""

import json
import os
import signal
import subprocess
import sys

import pytest
from aliyunsdkcdn.request.v20180510.DescribeDomainCertificateInfoRequest import (
    DescribeDomainCertificateInfoRequest,
)
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcloudapi.request.v20160714.DescribeApiGroupRequest import DescribeApiGroupRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.aliyun_emulator.__main__ import build
from tests.aliyun_emulator.testcerts import make_cert
from tests.emulator import sdk
from tests.emulator.sdk import GROUP, call, cas, req

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Endpoint:
    """What sdk.call needs of an emulator: its endpoint."""

    def __init__(self, endpoint):
        self.endpoint = endpoint


def test_runs_from_a_json_config_until_sigterm(tmp_path):
    pem, key = make_cert(["old.example.test"])
    config = {
        "accounts": {sdk.AK: sdk.SECRET},
        "cdn_domains": ["cdn1.example.test",
                        {"domain": "old.example.test", "cert_pem": pem, "key_pem": key, "cert_name": "old"}],
        "api_groups": [{"group_id": GROUP, "domains": ["api.example.test"], "region": "cn-hangzhou"}],
        "dns_zones": ["example.test"],
        "fail_domains": [{"domain": "cdn1.example.test", "code": "InternalError", "http_status": 500}],
        "latency_ms": 1,
        "qps_limits": {"DescribeApiGroup": 1},
    }
    (tmp_path / "emu.json").write_text(json.dumps(config))
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "tests.aliyun_emulator", "--config", str(tmp_path / "emu.json"),
                             "--port-file", str(port_file)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("endpoint 127.0.0.1:")
        endpoint = _Endpoint(line.split()[1])
        assert port_file.read_text().strip() == endpoint.endpoint.rsplit(":", 1)[1]
        client = sdk.client()
        info = call(client, endpoint, req(DescribeDomainCertificateInfoRequest, DomainName="old.example.test"))
        assert info["CertInfos"]["CertInfo"][0]["CertName"] == "old"
        call(client, endpoint, req(DescribeApiGroupRequest, GroupId=GROUP))
        with pytest.raises(ServerException) as throttled:
            call(client, endpoint, req(DescribeApiGroupRequest, GroupId=GROUP))
        assert throttled.value.get_error_code() == "Throttling.User"
        with pytest.raises(ServerException) as failing:
            call(client, endpoint, req(SetCdnDomainSSLCertificateRequest, DomainName="cdn1.example.test",
                                       SSLProtocol="off"))
        assert (failing.value.get_http_status(), failing.value.get_error_code()) == (500, "InternalError")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_unknown_config_keys_are_an_error():
    with pytest.raises(ValueError, match="cdn_domain"):
        build({"cdn_domain": ["typo.example.test"]})


def test_config_seeds_cas_certificates_wildcard_domains_and_issue_11_switches():
    pem, key = make_cert(["*.wild.example.test"])
    spec = json.loads(json.dumps({
        "accounts": {sdk.AK: sdk.SECRET},
        "cdn_domains": ["*.wild.example.test"],
        "cas_certificates": [{"cert_pem": pem, "key_pem": key, "name": "theirs", "site": "ap-southeast-1"}],
        "refuse_duplicate_content": True, "batch_refuses_cas": True, "page_size_cap": 1, "listing_lag": 1,
    }))
    emu = build(spec).start()
    try:
        client = sdk.client()
        client.set_region_id("ap-southeast-1")
        page = call(client, emu, cas("ListUserCertificateOrder", OrderType="UPLOAD"))
        assert [i["Name"] for i in page["CertificateOrderList"]] == ["theirs"] and page["ShowSize"] == 1
        cert_id = page["CertificateOrderList"][0]["CertificateId"]
        call(client, emu, req(SetCdnDomainSSLCertificateRequest, DomainName=".wild.example.test", SSLProtocol="on",
                              CertType="cas", CertId=cert_id, CertRegion="ap-southeast-1"))
        assert emu.cdn_state(".wild.example.test")["cert_name"] == "theirs"
        assert emu.config.listing_lag == 1 and emu.config.page_size_cap == 1
    finally:
        emu.stop()
