"""Unit tests for acme_aliyun.protocol.jose, anchored on published RFC test vectors.

Vectors (copied verbatim from the RFCs):
  * RFC 7638 section 3.1  - RSA JWK and its SHA-256 thumbprint.
  * RFC 7515 appendix A.2 - RS256 key, JWS Signing Input and signature.
  * RFC 7515 appendix A.3 - ES256 key, JWS Signing Input and signature.
"""

import base64
import hashlib
import hmac
import json
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from acme_aliyun.protocol.jose import alg_for, b64u, b64u_decode, eab_jws, jwk, jws, sign_bytes, thumbprint


def _int(text):
    """Big-endian integer from a base64url string (independent of jose.b64u_decode)."""
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


# --------------------------------------------------------------------------- RFC 7638 section 3.1

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn"
    "64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9"
    "1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_E = "AQAB"
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# --------------------------------------------------------------------------- RFC 7515 appendix A.2 (RS256)

RFC7515_A2 = {
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
         "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
         "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    "e": "AQAB",
    "d": "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0"
         "BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT"
         "CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
    "p": "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG"
         "BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
    "q": "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA"
         "-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
    "dp": "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb"
          "34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
    "dq": "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-ky"
          "NlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
    "qi": "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU"
          "W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U",
}
RFC7515_A2_SIGNING_INPUT = (
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
RFC7515_A2_SIGNATURE = (
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQ"
    "jbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEs"
    "qtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)

# --------------------------------------------------------------------------- RFC 7515 appendix A.3 (ES256)

RFC7515_A3 = {
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
RFC7515_A3_SIGNING_INPUT = (
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
RFC7515_A3_SIGNATURE = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"


# --------------------------------------------------------------------------- helpers

def _rfc7638_public_key():
    return rsa.RSAPublicNumbers(_int(RFC7638_E), _int(RFC7638_N)).public_key()


def _rfc7515_a2_private_key():
    k = {name: _int(value) for name, value in RFC7515_A2.items()}
    public = rsa.RSAPublicNumbers(k["e"], k["n"])
    return rsa.RSAPrivateNumbers(k["p"], k["q"], k["d"], k["dp"], k["dq"], k["qi"], public).private_key()


def _rfc7515_a3_private_key():
    public = ec.EllipticCurvePublicNumbers(_int(RFC7515_A3["x"]), _int(RFC7515_A3["y"]), ec.SECP256R1())
    return ec.EllipticCurvePrivateNumbers(_int(RFC7515_A3["d"]), public).private_key()


def _verify_raw_ecdsa(public_key, raw, data, hash_cls):
    """Verify a JOSE raw r||s ECDSA signature; raises InvalidSignature on mismatch."""
    half = len(raw) // 2
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_cls()))


def _verify_jws_signature(key, protected, payload, signature):
    data = ("%s.%s" % (protected, payload)).encode("ascii")
    sig = b64u_decode(signature)
    if isinstance(key, rsa.RSAPrivateKey):
        key.public_key().verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        size = {"secp256r1": 32, "secp384r1": 48}[key.curve.name]
        assert len(sig) == 2 * size
        hash_cls = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384}[key.curve.name]
        _verify_raw_ecdsa(key.public_key(), sig, data, hash_cls)


def _decode_json(segment):
    return json.loads(b64u_decode(segment))


# --------------------------------------------------------------------------- b64u

@pytest.mark.parametrize("length", range(6))
def test_b64u_round_trip_short_lengths_without_padding(length):
    data = bytes(range(0xF0, 0xF0 + length))
    encoded = b64u(data)
    assert "=" not in encoded
    assert encoded == base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    assert len(encoded) == -(-length * 4 // 3)  # ceil(4n/3)
    assert b64u_decode(encoded) == data
    assert b64u_decode(encoded.encode("ascii")) == data


def test_b64u_uses_url_safe_alphabet_and_accepts_text():
    assert b64u(b"\xfb\xff\xbf") == "-_-_"
    assert b64u_decode("-_-_") == b"\xfb\xff\xbf"
    assert b64u("{}") == "e30"
    assert b64u("\u00e9") == b64u("\u00e9".encode("utf-8")) == "w6k"


def test_b64u_decode_accepts_already_padded_input():
    assert b64u_decode("e30=") == b"{}"
    assert b64u_decode("YQ==") == b"a"


# --------------------------------------------------------------------------- RFC 7638 thumbprint

def test_rfc7638_jwk_of_public_key_has_exactly_required_members():
    assert jwk(_rfc7638_public_key()) == {"e": RFC7638_E, "kty": "RSA", "n": RFC7638_N}


def test_rsa_jwk_integers_take_their_minimal_length():
    """RFC 7518 §6.3.1: e and n are the minimal big-endian octets; an exponent of 3 is the one octet 0x03."""
    pub = rsa.RSAPublicNumbers(3, int.from_bytes(b64u_decode(RFC7638_N), "big")).public_key()
    assert jwk(pub) == {"e": "Aw", "kty": "RSA", "n": RFC7638_N}


def test_rfc7638_thumbprint_of_key_and_of_dict():
    assert thumbprint(_rfc7638_public_key()) == RFC7638_THUMBPRINT
    assert thumbprint({"kty": "RSA", "n": RFC7638_N, "e": RFC7638_E}) == RFC7638_THUMBPRINT


def test_rfc7638_thumbprint_ignores_optional_members():
    decorated = {"kty": "RSA", "n": RFC7638_N, "e": RFC7638_E, "alg": "RS256", "kid": "2011-04-29", "use": "sig"}
    assert thumbprint(decorated) == RFC7638_THUMBPRINT


def test_ec_thumbprint_uses_canonical_member_order():
    canonical = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (RFC7515_A3["x"], RFC7515_A3["y"])
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).decode().rstrip("=")
    assert thumbprint(_rfc7515_a3_private_key()) == expected
    assert thumbprint({"y": RFC7515_A3["y"], "x": RFC7515_A3["x"], "kty": "EC", "crv": "P-256", "kid": "k"}) == expected


# --------------------------------------------------------------------------- RFC 7515 A.2 (RS256)

def test_rfc7515_a2_rs256_signature_matches_published_value():
    key = _rfc7515_a2_private_key()
    assert alg_for(key) == "RS256"
    assert jwk(key) == {"e": "AQAB", "kty": "RSA", "n": RFC7515_A2["n"]}
    assert b64u(sign_bytes(key, RFC7515_A2_SIGNING_INPUT.encode("ascii"))) == RFC7515_A2_SIGNATURE


# --------------------------------------------------------------------------- RFC 7515 A.3 (ES256)

def _rfc7515_a3_public_key():
    """From the RFC's x and y alone, so the check does not lean on the private key object we sign with."""
    return ec.EllipticCurvePublicNumbers(_int(RFC7515_A3["x"]), _int(RFC7515_A3["y"]), ec.SECP256R1()).public_key()


def test_rfc7515_a3_es256_signed_by_our_jose_code_verifies():
    """Our sign_bytes over the RFC's JWS Signing Input verifies with the RFC's public key, by the same
    raw r||s reading that accepts the RFC's own published signature (so the reader is the RFC's)."""
    public_key, data = _rfc7515_a3_public_key(), RFC7515_A3_SIGNING_INPUT.encode("ascii")
    key = _rfc7515_a3_private_key()
    assert alg_for(key) == "ES256"
    sig = sign_bytes(key, data)
    assert len(sig) == 64
    _verify_raw_ecdsa(public_key, sig, data, hashes.SHA256)
    _verify_raw_ecdsa(public_key, b64u_decode(RFC7515_A3_SIGNATURE), data, hashes.SHA256)
    with pytest.raises(InvalidSignature):
        _verify_raw_ecdsa(public_key, sig, data + b"x", hashes.SHA256)
    with pytest.raises(InvalidSignature):
        _verify_raw_ecdsa(public_key, sig[32:] + sig[:32], data, hashes.SHA256)     # s||r is not JOSE


def test_rfc7515_a3_key_signs_a_whole_jws_that_verifies():
    key = _rfc7515_a3_private_key()
    out = jws(key, {"iss": "joe"}, "https://ca.example/new-order", nonce="n1", kid="https://ca.example/acct/1")
    assert _decode_json(out["protected"])["alg"] == "ES256"
    _verify_raw_ecdsa(_rfc7515_a3_public_key(), b64u_decode(out["signature"]),
                      ("%s.%s" % (out["protected"], out["payload"])).encode("ascii"), hashes.SHA256)


def test_rfc7515_a3_jwk():
    assert jwk(_rfc7515_a3_private_key()) == {
        "crv": "P-256", "kty": "EC", "x": RFC7515_A3["x"], "y": RFC7515_A3["y"],
    }


def test_es256_pads_short_r_and_s_to_32_bytes():
    # r or s below 2**248 happens with probability ~1/128 per signature; bounded loop.
    key = _rfc7515_a3_private_key()
    data = b"padding"
    for _ in range(4000):
        sig = sign_bytes(key, data)
        assert len(sig) == 64
        if sig[0] == 0 or sig[32] == 0:
            _verify_raw_ecdsa(key.public_key(), sig, data, hashes.SHA256)
            return
    pytest.fail("no signature with a short r or s in 4000 tries")


# --------------------------------------------------------------------------- ES384 (P-384)

def test_es384_signature_is_96_raw_bytes_and_verifies():
    key = ec.generate_private_key(ec.SECP384R1())
    data = b"es384 signing input"
    assert alg_for(key) == "ES384"
    sig = sign_bytes(key, data)
    assert len(sig) == 96
    _verify_raw_ecdsa(key.public_key(), sig, data, hashes.SHA384)
    with pytest.raises(InvalidSignature):
        _verify_raw_ecdsa(key.public_key(), sig, data + b"!", hashes.SHA384)


def test_p384_jwk_keeps_leading_zero_bytes():
    for _ in range(5000):
        key = ec.generate_private_key(ec.SECP384R1())
        if key.public_key().public_numbers().x < 1 << (47 * 8):
            break
    else:
        pytest.fail("no P-384 key with a short x in 5000 tries")
    nums = key.public_key().public_numbers()
    j = jwk(key)
    assert set(j) == {"crv", "kty", "x", "y"}
    assert j["crv"] == "P-384" and j["kty"] == "EC"
    x, y = b64u_decode(j["x"]), b64u_decode(j["y"])
    assert len(x) == 48 and len(y) == 48
    assert x[0] == 0
    assert int.from_bytes(x, "big") == nums.x and int.from_bytes(y, "big") == nums.y
    assert jwk(key.public_key()) == j


# --------------------------------------------------------------------------- unsupported keys

@pytest.mark.parametrize("make_key,message", [
    pytest.param(ed25519.Ed25519PrivateKey.generate, r"unsupported key type for JWS: Ed25519\w*", id="ed25519"),
    pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()),
                 r"unsupported EC curve for JWS: secp521r1 \(use P-256 or P-384\)", id="p521"),
])
def test_unsupported_keys_raise_value_error(make_key, message):
    key = make_key()
    with pytest.raises(ValueError) as err:
        alg_for(key)
    assert re.fullmatch(message, str(err.value)), str(err.value)
    with pytest.raises(ValueError) as err:
        jwk(key)
    assert re.fullmatch(message, str(err.value)), str(err.value)


def test_coordinates_and_signature_halves_keep_their_leading_zero_bytes():
    """_int_bytes pads to the curve size: a P-256 y or s below 2**248 still takes 32 bytes."""
    for _ in range(5000):
        key = ec.generate_private_key(ec.SECP256R1())
        if key.public_key().public_numbers().y < 1 << (31 * 8):
            break
    else:
        pytest.fail("no P-256 key with a short y in 5000 tries")
    y = b64u_decode(jwk(key)["y"])
    assert len(y) == 32 and y[0] == 0
    key = _rfc7515_a3_private_key()
    for _ in range(4000):
        sig = sign_bytes(key, b"short s")
        assert len(sig) == 64
        if sig[32] == 0:
            return
    pytest.fail("no signature with a short s in 4000 tries")


# --------------------------------------------------------------------------- jws()

URL = "https://acme.example/acme/new-order"
NONCE = "oFvnlFP1wIhRlYS2jTaXbA"
KID = "https://acme.example/acme/acct/evOfKhNU60wg"

_KEYS = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
}


@pytest.fixture(scope="module", params=sorted(_KEYS))
def account_key(request):
    return _KEYS[request.param]()


def test_jws_with_jwk_header(account_key):
    out = jws(account_key, {"identifiers": [{"type": "dns", "value": "example.com"}]}, URL, nonce=NONCE)
    assert set(out) == {"protected", "payload", "signature"}
    assert _decode_json(out["protected"]) == {
        "alg": alg_for(account_key), "nonce": NONCE, "url": URL, "jwk": jwk(account_key),
    }
    assert _decode_json(out["payload"]) == {"identifiers": [{"type": "dns", "value": "example.com"}]}
    # compact JSON (no spaces), as every JOSE part we send
    assert b" " not in b64u_decode(out["protected"]) and b" " not in b64u_decode(out["payload"])
    _verify_jws_signature(account_key, out["protected"], out["payload"], out["signature"])


def test_jws_with_kid_header_has_no_jwk(account_key):
    out = jws(account_key, {"status": "deactivated"}, URL, nonce=NONCE, kid=KID)
    assert _decode_json(out["protected"]) == {"alg": alg_for(account_key), "nonce": NONCE, "url": URL, "kid": KID}
    _verify_jws_signature(account_key, out["protected"], out["payload"], out["signature"])


def test_jws_without_nonce_omits_it(account_key):
    out = jws(account_key, {"account": KID}, URL)
    header = _decode_json(out["protected"])
    assert "nonce" not in header
    assert header == {"alg": alg_for(account_key), "url": URL, "jwk": jwk(account_key)}
    _verify_jws_signature(account_key, out["protected"], out["payload"], out["signature"])


def test_jws_post_as_get_has_empty_payload(account_key):
    out = jws(account_key, None, URL, nonce=NONCE, kid=KID)
    assert out["payload"] == ""
    _verify_jws_signature(account_key, out["protected"], "", out["signature"])


def test_jws_empty_object_payload(account_key):
    out = jws(account_key, {}, URL, nonce=NONCE, kid=KID)
    assert out["payload"] == "e30"
    _verify_jws_signature(account_key, out["protected"], "e30", out["signature"])


def test_jws_signature_does_not_verify_for_other_payload():
    key = _rfc7515_a2_private_key()
    out = jws(key, {"a": 1}, URL, nonce=NONCE, kid=KID)
    with pytest.raises(InvalidSignature):
        _verify_jws_signature(key, out["protected"], b64u('{"a":2}'), out["signature"])


# --------------------------------------------------------------------------- eab_jws()

EAB_KID = "kid-1"
EAB_URL = "https://acme.example/acme/new-account"
EAB_KEY = bytes([0xFB, 0xFF, 0xBF]) + bytes(range(28))  # 31 bytes: padded form ends in "=", has '-' and '_'


def test_eab_jws_header_payload_and_mac():
    account_key = _rfc7515_a3_private_key()
    key_b64u = b64u(EAB_KEY)
    assert "-" in key_b64u and "_" in key_b64u
    out = eab_jws(account_key, EAB_KID, key_b64u, EAB_URL)
    assert set(out) == {"protected", "payload", "signature"}
    assert _decode_json(out["protected"]) == {"alg": "HS256", "kid": EAB_KID, "url": EAB_URL}
    assert _decode_json(out["payload"]) == jwk(account_key)
    # compact JSON (no spaces), as every JOSE part we send
    assert b" " not in b64u_decode(out["protected"]) and b" " not in b64u_decode(out["payload"])
    expected = hmac.new(EAB_KEY, ("%s.%s" % (out["protected"], out["payload"])).encode("ascii"),
                        hashlib.sha256).digest()
    assert b64u_decode(out["signature"]) == expected
    assert "=" not in out["signature"]


def test_eab_jws_accepts_padded_and_unpadded_hmac_key():
    account_key = _rfc7515_a2_private_key()
    padded = base64.urlsafe_b64encode(EAB_KEY).decode("ascii")
    assert padded.endswith("=")
    unpadded = padded.rstrip("=")
    assert eab_jws(account_key, EAB_KID, padded, EAB_URL) == eab_jws(account_key, EAB_KID, unpadded, EAB_URL)
    other = eab_jws(account_key, EAB_KID, b64u(EAB_KEY[:-1]), EAB_URL)
    assert other["signature"] != eab_jws(account_key, EAB_KID, unpadded, EAB_URL)["signature"]
