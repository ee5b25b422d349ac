"""Issue 11 item 3: our superseded CAS uploads are deleted only once the renewal reached every target,
never while a target failed, never one a target still serves, never someone else's."""

import pytest

from acme_aliyun import deployer, targets
from acme_aliyun.pki import CertBundle
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client

NAMES = ["example.test", "*.example.test"]
CDN = ["a.example.test", "b.example.test"]
DCDN = ["d.example.test"]
SPECS = targets.specs(cdn=CDN, dcdn=DCDN)


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    e = emulator_factory()
    for d in CDN:
        e.add_cdn_domain(d)
    for d in DCDN:
        e.add_dcdn_domain(d)
    return e


def bundle(days):
    return CertBundle.from_pems(*make_cert(NAMES, days))


def deploy(client, b, specs=SPECS):
    return {r.target: r.status for r in deployer.apply(deployer.plan(b, "site", specs, client), client)}


def serials(emu):
    return sorted(c["serial"] for c in emu.cas_certificates())


def test_old_upload_kept_while_a_target_failed_then_deleted(emu):
    client = make_client(emu, max_attempts=1)
    old, new = bundle(60), bundle(90)
    assert set(deploy(client, old).values()) == {"deployed"}
    emu.fail_domain(DCDN[0], "DomainInSafeMode", 400)
    assert deploy(client, new)[DCDN[0]] == "failed"
    assert serials(emu) == sorted([old.cert.serial_number, new.cert.serial_number])   # nothing deleted
    emu.heal_domain(DCDN[0])
    assert set(deploy(client, new).values()) == {"deployed", "unchanged"}
    assert serials(emu) == [new.cert.serial_number]


def test_old_upload_a_target_outside_the_plan_still_serves_is_kept(emu):
    client = make_client(emu)
    old, new = bundle(60), bundle(90)
    deploy(client, old)
    assert set(deploy(client, new, targets.specs(cdn=CDN[:1])).values()) == {"deployed"}
    # b.example.test and d.example.test still serve the old upload: the CAS refuses, we keep it
    assert serials(emu) == sorted([old.cert.serial_number, new.cert.serial_number])


def test_nothing_is_deleted_in_direct_mode(emu):
    client = make_client(emu, upload="direct")
    old, new = bundle(60), bundle(90)
    deploy(client, old)
    assert set(deploy(client, new).values()) == {"deployed"}
    assert not [c for c in emu.calls if c.action in ("ListUserCertificateOrder", "DeleteUserCertificate")]
