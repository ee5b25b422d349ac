"""Issue 11 acceptance 1-3: one certificate through `acme-aliyun run` to CDN (one wildcard domain),
DCDN and API Gateway groups in two regions, with the emulator strict (account-wide certificate names,
content duplicates refused): the SSL Certificates Service as the upload hub, and Upload = direct."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests import demo
from tests.aliyun_emulator import Emulator, EmulatorConfig
from tests.aliyun_emulator.testcerts import make_cert

G1 = "927d50c0f2e54b359919923d908bb015"          # cn-hangzhou ([aliyun] Region)
G2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90"          # cn-shanghai
CDN = ["www.example.test", "img.example.test", ".example.test"]
DCDN = ["static.example.test", "dyn.example.test"]
APIS = [(G1, "api.example.test"), (G2, "open.example.test")]
WRITES = {"UploadUserCertificate", "SetCdnDomainSSLCertificate", "BatchSetCdnDomainServerCertificate",
          "SetDcdnDomainSSLCertificate", "SetDomainCertificate", "DeleteUserCertificate"}


@pytest.fixture
def cloud(pebble):
    emu = Emulator(EmulatorConfig(accounts={demo.AK: demo.SECRET}, challtestsrv_url=pebble.challtestsrv.url,
                                  refuse_duplicate_content=True)).start()
    for d in CDN:
        emu.add_cdn_domain(d)
    for d in DCDN:
        emu.add_dcdn_domain(d)
    emu.add_api_group(G1, ["api.example.test"], region="cn-hangzhou")
    emu.add_api_group(G2, ["open.example.test", "shop.other.test"], region="cn-shanghai")
    emu.add_dns_zone("example.test")
    yield emu
    emu.stop()


def write_ini(folder, pebble, emu, upload="cas"):
    text = textwrap.dedent("""\
        [acme]
        ACMEDirectory = {directory}
        AccountKeyFile = account.key
        CABundle = {ca}
        StateDir = state

        [cert:site]
        Domains = example.test, *.example.test
        Challenge = dns-01
        DNSProvider = alidns
        CDN = www.example.test, img.example.test, *.example.test
        DCDN = static.example.test, dyn.example.test
        APIGateway = {g1}:api.example.test, cn-shanghai/{g2}

        [aliyun]
        Region = cn-hangzhou
        Upload = {upload}
        Endpoint = {endpoint}
        """).format(directory=pebble.directory_url, ca=pebble.ca_bundle, g1=G1, g2=G2, upload=upload,
                    endpoint=emu.endpoint)
    path = os.path.join(str(folder), "acme.ini")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def tool(ini, *args):
    r = subprocess.run([sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args), env=demo.tool_env(),
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    return r


def served_serials(emu):
    out = {("cdn", d): emu.cdn_state(d)["serial"] for d in CDN}
    out.update({("dcdn", d): emu.dcdn_state(d)["serial"] for d in DCDN})
    out.update({("apigateway", d): emu.apigw_domain_state(g, d)["serial"] for g, d in APIS})
    return out


def stored_serial(folder):
    from acme_aliyun.pki import CertBundle
    base = os.path.join(str(folder), "state", "certs", "site")
    with open(os.path.join(base, "fullchain.pem")) as fh, open(os.path.join(base, "privkey.pem")) as kh:
        return CertBundle.from_pems(fh.read(), kh.read()).cert.serial_number


def ok_uploads(emu):
    return [c for c in emu.calls if c.action == "UploadUserCertificate" and c.code is None]


def writes(emu):
    return [c for c in emu.calls if c.action in WRITES]


def test_cas_hub_deploys_once_reruns_with_no_writes_and_cleans_up_after_renewal(tmp_path, pebble, cloud):
    emu = cloud
    foreign_pem, foreign_key = make_cert(["example.test", "*.example.test"], 60)
    foreign_id = emu.add_cas_certificate(foreign_pem, foreign_key, "someone-elses-upload")
    ini = write_ini(tmp_path, pebble, emu)

    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    serial = stored_serial(tmp_path)
    assert set(served_serials(emu).values()) == {serial}
    [upload] = ok_uploads(emu)
    ours = [c for c in emu.cas_certificates() if c["serial"] == serial]
    assert len(ours) == 1 and ours[0]["source"] == "cas"
    for d in CDN:
        assert (emu.cdn_state(d)["cert_type"], str(emu.cdn_state(d)["cert_id"])) == ("cas", str(ours[0]["cert_id"]))
    for d in DCDN:
        assert (emu.dcdn_state(d)["cert_type"], str(emu.dcdn_state(d)["cert_id"])) == ("cas", str(ours[0]["cert_id"]))
    assert not [c for c in emu.calls if c.action == "BatchSetCdnDomainServerCertificate"]

    emu.reset_calls()
    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert writes(emu) == []

    r = tool(ini, "run", "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    renewed = stored_serial(tmp_path)
    assert renewed != serial
    assert set(served_serials(emu).values()) == {renewed}
    assert len(ok_uploads(emu)) == 1                       # 2 successful uploads in all
    left = {c["cert_id"]: c for c in emu.cas_certificates()}
    assert ours[0]["cert_id"] not in left                  # the first upload is deleted
    assert foreign_id in left                              # someone else's upload is kept
    assert [c["serial"] for c in left.values() if c["cert_id"] != foreign_id] == [renewed]


def test_direct_upload_has_no_name_clash_and_reruns_with_no_writes(tmp_path, pebble, cloud):
    emu = cloud
    ini = write_ini(tmp_path, pebble, emu, upload="direct")
    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    serial = stored_serial(tmp_path)
    assert set(served_serials(emu).values()) == {serial}
    assert not [c for c in emu.calls if c.product == "cas" or (c.action or "").endswith("UserCertificate")]
    assert not [c for c in writes(emu) if c.code]          # no name (or content) clash on the way
    emu.reset_calls()
    r = tool(ini, "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert writes(emu) == []
