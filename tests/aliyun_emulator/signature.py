"""RPC signature V1 (HMAC-SHA1, SignatureVersion 1.0), both sides.

The server side is the reference's verifier: every parameter except Signature (query and form body,
blank values kept, so SignatureType="" counts) is sorted, RFC 3986 percent-encoded and joined, and
``StringToSign = METHOD & %2F & pct(canonical query)``; key = AccessKeySecret + "&".
``sign_params`` is the client side, for tests that craft raw requests the SDK would not send.
"""

import base64
import datetime
import hashlib
import hmac
import uuid
from urllib.parse import quote

SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def percent_encode(text):
    """RFC 3986: unreserved A-Za-z0-9-_.~ kept, everything else %XY of the UTF-8 bytes."""
    return quote(text, safe="-_.~")


def string_to_sign(method, params):
    """The StringToSign of ``params`` (a dict of str; a "Signature" entry is ignored)."""
    canonical = "&".join(percent_encode(k) + "=" + percent_encode(v)
                         for k, v in sorted(params.items()) if k != "Signature")
    return method.upper() + "&" + percent_encode("/") + "&" + percent_encode(canonical)


def compute_signature(to_sign, secret):
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(method, params, secret):
    """(matches, string_to_sign) for the Signature carried in ``params``."""
    to_sign = string_to_sign(method, params)
    return hmac.compare_digest(compute_signature(to_sign, secret), params.get("Signature", "")), to_sign


def sign_params(method, params, access_key_id, secret, timestamp=None, nonce=None, security_token=None):
    """A copy of ``params`` with the common parameters and a valid Signature added, as the SDK does.

    timestamp: a datetime (UTC) to sign with instead of now; nonce: instead of a fresh one.
    """
    when = timestamp or datetime.datetime.now(datetime.timezone.utc)
    signed = dict(params)
    signed.update({
        "Format": "JSON",
        "AccessKeyId": access_key_id,
        "SignatureMethod": SIGNATURE_METHOD,
        "SignatureVersion": SIGNATURE_VERSION,
        "SignatureType": "",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": when.strftime(TIMESTAMP_FORMAT),
    })
    if security_token is not None:
        signed["SecurityToken"] = security_token
    signed["Signature"] = compute_signature(string_to_sign(method, signed), secret)
    return signed
