"""JOSE for ACME: base64url, JWK (RFC 7517), thumbprint (RFC 7638), JWS flattened JSON (RFC 7515).

ACME uses RS256 for RSA keys, ES256 for P-256 and ES384 for P-384; ECDSA
signatures are the raw r||s concatenation (RFC 7518 §3.4), not DER.
"""

import base64
import hashlib
import hmac
import json
from typing import Any, Dict, Optional, Tuple, Type, Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
Jwk = Dict[str, str]


def b64u(data: Union[bytes, str]) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64u_decode(text: Union[bytes, str]) -> bytes:
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _int_bytes(n: int, length: Optional[int] = None) -> bytes:
    length = length or max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(length, "big")


_EC: Dict[str, Tuple[str, int, str, Type[hashes.HashAlgorithm]]] = {"secp256r1": ("P-256", 32, "ES256", hashes.SHA256), "secp384r1": ("P-384", 48, "ES384", hashes.SHA384)}


def _curve(pub: Any) -> Tuple[str, int, str, Type[hashes.HashAlgorithm]]:
    try:
        return _EC[pub.curve.name]
    except KeyError:
        raise ValueError("unsupported EC curve for JWS: %s (use P-256 or P-384)" % pub.curve.name) from None


def jwk(key: Any) -> Jwk:
    """Public JWK of a private (or public) key, with only the required members."""
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"e": b64u(_int_bytes(nums.e)), "kty": "RSA", "n": b64u(_int_bytes(nums.n))}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv, size, _, _ = _curve(pub)
        ec_nums = pub.public_numbers()
        return {"crv": crv, "kty": "EC", "x": b64u(_int_bytes(ec_nums.x, size)), "y": b64u(_int_bytes(ec_nums.y, size))}
    raise ValueError("unsupported key type for JWS: %s" % type(pub).__name__)


def thumbprint(key_or_jwk: Any) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    j = key_or_jwk if isinstance(key_or_jwk, dict) else jwk(key_or_jwk)
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[j["kty"]]
    canon = json.dumps({k: j[k] for k in required}, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canon.encode("utf-8")).digest())


def alg_for(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _curve(key)[2]
    raise ValueError("unsupported key type for JWS: %s" % type(key).__name__)


def sign_bytes(key: Any, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    _, size, _, hash_cls = _curve(key)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_cls())))
    return _int_bytes(r, size) + _int_bytes(s, size)


def encode_payload(payload: Any) -> str:
    """"" for POST-as-GET, otherwise compact JSON."""
    if payload is None:
        return ""
    return b64u(json.dumps(payload, separators=(",", ":")))


def jws(key: Any, payload: Any, url: str, nonce: Optional[str] = None, kid: Optional[str] = None) -> Dict[str, str]:
    """Flattened JWS. With kid the header names the account; without it, embeds the jwk.

    nonce=None leaves the nonce out (the inner JWS of a key change).
    """
    protected: Dict[str, Any] = {"alg": alg_for(key), "url": url}
    if nonce is not None:
        protected["nonce"] = nonce
    if kid:
        protected["kid"] = kid
    else:
        protected["jwk"] = jwk(key)
    p64 = b64u(json.dumps(protected, separators=(",", ":")))
    pl64 = encode_payload(payload)
    sig = sign_bytes(key, ("%s.%s" % (p64, pl64)).encode("ascii"))
    return {"protected": p64, "payload": pl64, "signature": b64u(sig)}


def eab_jws(account_key: Any, eab_kid: str, eab_hmac_key_b64u: str, url: str) -> Dict[str, str]:
    """RFC 8555 §7.3.4 externalAccountBinding: HS256 over the account JWK, no nonce."""
    protected = b64u(json.dumps({"alg": "HS256", "kid": eab_kid, "url": url}, separators=(",", ":")))
    payload = b64u(json.dumps(jwk(account_key), separators=(",", ":")))
    mac = hmac.new(b64u_decode(eab_hmac_key_b64u), ("%s.%s" % (protected, payload)).encode("ascii"),
                   hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64u(mac)}
