"""The SSL Certificates Service as the upload hub (targets/cas.py) against the strict emulator:
find before upload, names, duplicates resolved by finding the upload, foreign certificates left alone."""

import pytest

from acme_aliyun.pki import CertBundle
from acme_aliyun.targets import cas
from acme_aliyun.targets.served import unique_cert_name
from tests.aliyun_emulator.testcerts import make_cert
from tests.cloud.emuhelp import make_client

NAMES = ["example.test", "*.example.test"]


def bundle(days=90):
    return CertBundle.from_pems(*make_cert(NAMES, days))


@pytest.fixture
def emu(emulator_factory):  # noqa: F811
    return emulator_factory()


def uploads_ok(emu):
    return [c for c in emu.calls if c.action == "UploadUserCertificate" and c.code is None]


def test_upload_once_under_a_63_character_name_then_found(emu):
    client = make_client(emu)
    b = bundle()
    ref = cas.ensure(client, b, "a-very-long-certificate-name-" * 4)
    assert len(ref.name) <= 63 and ref.name == unique_cert_name("a-very-long-certificate-name-" * 4, b)
    assert ref.region == "cn-hangzhou"
    [stored] = emu.cas_certificates()
    assert (stored["cert_id"], stored["serial"], stored["name"]) == (ref.cert_id, b.cert.serial_number, ref.name)
    again = cas.ensure(client, b, "other-base")          # found by serial and fingerprint: no second upload
    assert again.cert_id == ref.cert_id and len(uploads_ok(emu)) == 1
    assert [c.action for c in emu.calls].count("UploadUserCertificate") == 1


def test_an_upload_under_someone_elses_name_is_found_not_duplicated(emu):
    b = bundle()
    theirs = emu.add_cas_certificate(b.fullchain_pem, b.key_pem, "uploaded-by-hand")
    ref = cas.ensure(make_client(emu), b, "site")
    assert (ref.cert_id, ref.name) == (theirs, "uploaded-by-hand")
    assert not [c for c in emu.calls if c.action == "UploadUserCertificate"]


def test_a_foreign_certificate_under_our_name_is_a_failure(emu):
    b = bundle()
    other = bundle()
    emu.add_cas_certificate(other.fullchain_pem, other.key_pem, unique_cert_name("site", b))
    cas.FIND_DELAY, delay = 0.0, cas.FIND_DELAY
    try:
        with pytest.raises(cas.CasError) as e:
            cas.ensure(make_client(emu), b, "site")
    finally:
        cas.FIND_DELAY = delay
    assert "taken by another certificate" in str(e.value)
    assert len(emu.cas_certificates()) == 1


def test_serials_with_a_leading_zero_match():
    assert cas._serial("00ab12") == cas._serial("AB12") == "ab12"


def test_paging_advances_by_the_items_received(emulator_factory):  # noqa: F811
    emu = emulator_factory(page_size_limits={"ListUserCertificateOrder": 100})
    for i in range(7):
        b = bundle()
        emu.add_cas_certificate(b.fullchain_pem, b.key_pem, "seed-%d" % i)
    client = make_client(emu)
    cas.SHOW_SIZE, size = 3, cas.SHOW_SIZE
    try:
        listed = list(cas.uploads(client))
    finally:
        cas.SHOW_SIZE = size
    assert len(listed) == 7 and len({e.cert_id for e in listed}) == 7
    assert len([c for c in emu.calls if c.action == "ListUserCertificateOrder"]) == 3


def test_superseded_are_ours_by_name_and_serial_and_delete_spares_served(emu):
    client = make_client(emu)
    old, new = bundle(), bundle(days=91)
    old_ref = cas.ensure(client, old, "site")
    new_ref = cas.ensure(client, new, "site")
    foreign = bundle()
    emu.add_cas_certificate(foreign.fullchain_pem, foreign.key_pem, "site-manual")
    found = cas.superseded(client, "site", new)
    assert [e.cert_id for e in found] == [old_ref.cert_id]
    assert cas.delete(client, found, {old_ref.cert_id}, set()) == []          # still served: kept
    assert cas.delete(client, found, set(), set()) == [old_ref.cert_id]
    assert {c["cert_id"] for c in emu.cas_certificates()} >= {new_ref.cert_id}
    assert "site-manual" in {c["name"] for c in emu.cas_certificates()}


def test_write_probe_uploads_and_deletes_a_throwaway(emu):
    client = make_client(emu)
    detail = cas.probe_write(client, cas.throwaway_bundle(), "acme-aliyun-check-1")
    assert "uploaded and deleted" in detail and emu.cas_certificates() == []


def test_international_site_goes_to_ap_southeast_1(emu):
    client = make_client(emu, international=True)
    ref = cas.ensure(client, bundle(), "site")
    assert ref.region == "ap-southeast-1"
    assert [c["site"] for c in emu.cas_certificates()] == ["ap-southeast-1"]
