"""SSL Certificates Service (cas 2020-04-07) through the real core SDK: upload, list, detail, delete,
the two sites, and the certificate-name registry CAS shares with CDN and DCDN uploads."""

import pytest
from aliyunsdkcdn.request.v20180510.SetCdnDomainSSLCertificateRequest import SetCdnDomainSSLCertificateRequest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkdcdn.request.v20180115.SetDcdnDomainSSLCertificateRequest import SetDcdnDomainSSLCertificateRequest
from cryptography import x509

from tests.aliyun_emulator.products.cas import serial_no
from tests.aliyun_emulator.testcerts import make_cert, make_key
from tests.emulator import sdk
from tests.emulator.sdk import call, cas, form

D1 = "cdn1.example.test"


def upload(client, emu, name, pem, key):
    return call(client, emu, cas("UploadUserCertificate", {"Cert": pem, "Key": key}, Name=name))


def listing(client, emu, **params):
    return call(client, emu, cas("ListUserCertificateOrder", **params))


def detail(client, emu, cert_id, **params):
    return call(client, emu, cas("GetUserCertificateDetail", CertId=cert_id, **params))


def error_of(fn, *args, **kwargs):
    with pytest.raises(ServerException) as info:
        fn(*args, **kwargs)
    return info.value.get_http_status(), info.value.get_error_code()


def intl_client():
    acs = sdk.client()
    acs.set_region_id("ap-southeast-1")
    return acs


def test_upload_then_detail_with_and_without_the_key(emu, client):
    pem, key = make_cert(["example.test", "*.example.test"])
    answer = upload(client, emu, "le-example", pem, key)
    assert isinstance(answer["CertId"], int) and answer["ResourceId"].startswith("cas-upload-")
    leaf = x509.load_pem_x509_certificate(pem.encode())
    full = detail(client, emu, answer["CertId"])
    assert (full["Cert"], full["Key"]) == (pem, key)                 # the default answer carries the key
    assert (full["Id"], full["Name"], full["Common"]) == (answer["CertId"], "le-example", "example.test")
    assert full["Sans"] == "example.test,*.example.test" and full["Issuer"] == "Let's Encrypt"
    assert full["CertIdentifier"] == "%d-cn-hangzhou" % answer["CertId"]
    assert full["NotAfter"] == int(leaf.not_valid_after_utc.timestamp() * 1000)
    assert full["NotBefore"] == int(leaf.not_valid_before_utc.timestamp() * 1000)
    assert full["EndDate"] == leaf.not_valid_after_utc.strftime("%Y-%m-%d") and full["Expired"] is False
    assert int(full["SerialNo"], 16) == leaf.serial_number and len(full["SerialNo"]) % 2 == 0
    filtered = detail(client, emu, answer["CertId"], CertFilter="true")
    assert "Cert" not in filtered and "Key" not in filtered and filtered["Name"] == "le-example"
    assert emu.calls.key_in_query() == []


def test_serial_number_shows_the_padding_quirk():
    assert serial_no(0x0ABC) == "0abc"
    assert serial_no(0x80) == "0080"
    assert serial_no(0x7F01) == "7f01"


@pytest.mark.parametrize("what, body, query, code", [
    ("no name", {}, {}, "MissingParameter"),
    ("name of 64 characters", {}, {"Name": "n" * 64}, "InvalidParameter"),
    ("no key", {"Key": None}, {"Name": "n"}, "MissingParameter"),
    ("key of another certificate", {"Key": "other"}, {"Name": "n"}, "Certificate.MissMatch"),
    ("not a certificate", {"Cert": "junk"}, {"Name": "n"}, "Certificate.FormatError"),
    ("not a key", {"Key": "junk"}, {"Name": "n"}, "Key.Malformed"),
])
def test_refused_uploads_store_nothing(emu, client, what, body, query, code):
    pem, key = make_cert([D1])
    parts = {"Cert": pem, "Key": key}
    parts.update({k: (make_key() if v == "other" else v) for k, v in body.items()})
    parts = {k: v for k, v in parts.items() if v is not None}
    assert error_of(call, client, emu, cas("UploadUserCertificate", parts, **query)) == (400, code)
    assert emu.cas_certificates() == []


def test_a_name_of_63_characters_is_accepted(emu, client):
    pem, key = make_cert([D1])
    upload(client, emu, "n" * 63, pem, key)
    assert [c["name"] for c in emu.cas_certificates()] == ["n" * 63]


def test_duplicate_name_and_duplicate_content_are_refused(emu, client):
    pem, key = make_cert([D1])
    other_pem, other_key = make_cert([D1])
    upload(client, emu, "taken", pem, key)
    with pytest.raises(ServerException) as info:
        upload(client, emu, "taken", other_pem, other_key)
    assert (info.value.get_error_code(), info.value.get_error_msg()) == ("NameRepeat", "名称重复，请重新输入。")
    assert error_of(upload, client, emu, "taken", pem, key) == (400, "NameRepeat")
    assert error_of(upload, client, emu, "again", pem, key) == (400, "CertificateContent.Duplicated")
    assert [c["name"] for c in emu.cas_certificates()] == ["taken"]


def test_duplicate_content_can_be_accepted(make_emu, client):
    emu = make_emu(refuse_duplicate_content=False)
    pem, key = make_cert([D1])
    first, second = upload(client, emu, "one", pem, key), upload(client, emu, "two", pem, key)
    assert first["CertId"] != second["CertId"]


def test_listing_shows_uploads_only_when_asked(emu, client):
    pem, key = make_cert(["shop.example.test"])
    cert_id = upload(client, emu, "my-name", pem, key)["CertId"]
    default = listing(client, emu)                       # OrderType CPACK: packages, not uploads
    assert (default["TotalCount"], default["CertificateOrderList"]) == (0, [])
    for order_type in ("UPLOAD", "CERT"):
        page = listing(client, emu, OrderType=order_type)
        assert page["TotalCount"] == 1 and page["ShowSize"] == 50 and page["CurrentPage"] == 1
    item = listing(client, emu, OrderType="UPLOAD")["CertificateOrderList"][0]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    assert (item["CertificateId"], item["Name"], item["CommonName"], item["Upload"]) == \
        (cert_id, "my-name", "shop.example.test", True)
    assert item["StartDate"] == leaf.not_valid_before_utc.strftime("%Y-%m-%d") and item["Expired"] is False
    assert item["Sha2"] == detail(client, emu, cert_id)["CertSha2"] and item["SerialNo"].lstrip("0")
    assert error_of(listing, client, emu, OrderType="NOPE") == (400, "InvalidParameter")


def test_keyword_matches_domain_and_resource_id_not_the_name(emu, client):
    pem, key = make_cert(["shop.example.test"])
    answer = upload(client, emu, "zebra", pem, key)
    for keyword, hits in (("shop", 1), ("EXAMPLE.test", 1), (answer["ResourceId"], 1), ("zebra", 0)):
        assert listing(client, emu, OrderType="UPLOAD", Keyword=keyword)["TotalCount"] == hits, keyword


def test_expired_certificates_only_with_status_expired(emu, client):
    old_pem, old_key = make_cert(["old.example.test"], expired=True)
    soon_pem, soon_key = make_cert(["soon.example.test"], days=10)
    emu.add_cas_certificate(old_pem, old_key, "old")
    upload(client, emu, "soon", soon_pem, soon_key)
    names = lambda **p: [i["Name"] for i in listing(client, emu, OrderType="UPLOAD", **p)["CertificateOrderList"]]
    assert names() == ["soon"] and names(Status="WILLEXPIRED") == ["soon"] and names(Status="ISSUED") == []
    assert names(Status="EXPIRED") == ["old"]
    assert error_of(upload, client, emu, "old-again", old_pem, old_key) == (400, "Certificate.Expired")


def test_pages(emu, client):
    for i in range(5):
        pem, key = make_cert(["p%d.example.test" % i])
        upload(client, emu, "p%d" % i, pem, key)
    second = listing(client, emu, OrderType="UPLOAD", ShowSize=2, CurrentPage=2)
    assert [i["Name"] for i in second["CertificateOrderList"]] == ["p2", "p3"] and second["TotalCount"] == 5
    assert listing(client, emu, OrderType="UPLOAD", ShowSize=2, CurrentPage=4)["CertificateOrderList"] == []
    assert error_of(listing, client, emu, OrderType="UPLOAD", ShowSize=101) == (400, "InvalidParameter")


def test_each_site_holds_its_own_certificates(emu, client):
    pem, key = make_cert([D1])
    intl = intl_client()
    cert_id = upload(intl, emu, "intl", pem, key)["CertId"]
    assert detail(intl, emu, cert_id, CertFilter="true")["CertIdentifier"] == "%d-ap-southeast-1" % cert_id
    assert error_of(detail, client, emu, cert_id) == (404, "NotFound")
    assert listing(client, emu, OrderType="UPLOAD")["TotalCount"] == 0
    assert listing(intl, emu, OrderType="UPLOAD")["TotalCount"] == 1
    assert [c["site"] for c in emu.cas_certificates()] == ["ap-southeast-1"]
    # names and content are account-wide across the sites unless cas_names_per_site
    assert error_of(upload, client, emu, "intl", *make_cert([D1])) == (400, "NameRepeat")


def test_names_per_site_switch(make_emu, client):
    emu = make_emu(cas_names_per_site=True)
    pem, key = make_cert([D1])
    upload(intl_client(), emu, "same", pem, key)
    upload(client, emu, "same", pem, key)
    assert sorted(c["site"] for c in emu.cas_certificates()) == ["ap-southeast-1", "cn-hangzhou"]


def test_delete(emu, client):
    pem, key = make_cert([D1])
    cert_id = upload(client, emu, "gone", pem, key)["CertId"]
    assert set(call(client, emu, cas("DeleteUserCertificate", CertId=cert_id))) == {"RequestId"}
    assert emu.cas_certificates() == []
    assert error_of(call, client, emu, cas("DeleteUserCertificate", CertId=cert_id)) == (404, "NotFound")
    upload(client, emu, "gone", pem, key)                 # name and content are free again


def _cdn_upload(client, emu, name, pem, key):
    return call(client, emu, form(SetCdnDomainSSLCertificateRequest, {"SSLPub": pem, "SSLPri": key},
                                  DomainName=D1, SSLProtocol="on", CertName=name))


def test_cdn_and_dcdn_uploads_land_in_cas_and_share_its_names(emu, client):
    emu.add_cdn_domain(D1)
    emu.add_dcdn_domain("d1.example.test")
    pem, key = make_cert([D1, "d1.example.test"])
    upload(client, emu, "cas-name", pem, key)
    other_pem, other_key = make_cert([D1, "d1.example.test"])
    assert error_of(_cdn_upload, client, emu, "cas-name", other_pem, other_key) == (400, "Certificate.Duplicated")
    assert error_of(_cdn_upload, client, emu, "new-name", pem, key) == (400, "CertificateContent.Duplicated")
    _cdn_upload(client, emu, "cdn-name", other_pem, other_key)
    third_pem, third_key = make_cert(["d1.example.test"])
    dcdn = form(SetDcdnDomainSSLCertificateRequest, {"SSLPub": third_pem, "SSLPri": third_key},
                DomainName="d1.example.test", SSLProtocol="on", CertName="cdn-name")
    assert error_of(call, client, emu, dcdn) == (400, "Certificate.Duplicated")
    assert error_of(upload, client, emu, "cdn-name", third_pem, third_key) == (400, "NameRepeat")
    uploads = {i["Name"]: i for i in listing(client, emu, OrderType="UPLOAD")["CertificateOrderList"]}
    assert set(uploads) == {"cas-name", "cdn-name"}
    assert str(uploads["cdn-name"]["CertificateId"]) == emu.cdn_state(D1)["cert_id"]


def test_a_certificate_a_domain_serves_cannot_be_deleted(make_emu, client):
    for strict in (True, False):
        emu = make_emu(cas_refuse_delete_in_use=strict)
        emu.add_cdn_domain(D1)
        pem, key = make_cert([D1])
        _cdn_upload(client, emu, "served", pem, key)
        cert_id = emu.cas_certificates()[0]["cert_id"]
        delete = cas("DeleteUserCertificate", CertId=cert_id)
        if strict:
            assert error_of(call, client, emu, delete) == (400, "CertificateInUse")
            assert len(emu.cas_certificates()) == 1
        else:
            call(client, emu, delete)
            assert emu.cas_certificates() == [] and emu.cdn_state(D1)["cert_pem"] == pem


def test_list_is_limited_to_ten_calls_a_second(emu, client):
    codes = []
    for _ in range(11):
        try:
            listing(client, emu, OrderType="UPLOAD")
            codes.append(None)
        except ServerException as exc:
            codes.append(exc.get_error_code())
    assert codes == [None] * 10 + ["Throttling.User"]
