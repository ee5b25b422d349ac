"""Alibaba Cloud signature V3 (ACS3-HMAC-SHA256) for ROA requests the legacy core cannot sign.

Why our own: the legacy core signs ROA with V1 (`acs AK:HMAC-SHA1`), and Function Compute 3.0
documents only V3; whether it still accepts V1 is unconfirmed, so we take the documented
scheme. Written from the public description of the V3 request structure:

  CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQueryString \\n CanonicalHeaders \\n
                     SignedHeaders \\n hex(sha256(body))
  StringToSign     = "ACS3-HMAC-SHA256" \\n hex(sha256(CanonicalRequest))
  Authorization    = ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<names>,Signature=<hex hmac>

Signed headers are host, content-type and every x-acs-* header, lower case and sorted. The
path and query are percent-encoded per RFC 3986 (only A-Z a-z 0-9 - _ . ~ kept; the path
keeps its slashes). The body is signed through x-acs-content-sha256, so a JSON body carrying
a certificate and key is covered by the signature and never needs to be in the URL.
"""

import datetime
import hashlib
import hmac
import uuid
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"


def encode(text: str, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding (the path keeps '/')."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join("%s=%s" % (encode(k), encode(str(v))) for k, v in sorted(query.items()))


def _signed(headers: Mapping[str, str]) -> Dict[str, str]:
    low = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    return {k: v for k, v in sorted(low.items()) if k in ("host", "content-type") or k.startswith("x-acs-")}


def canonical_request(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                      body_hash: str) -> Tuple[str, str]:
    """(canonical request, signed header names) for an already-encoded path."""
    signed = _signed(headers)
    names = ";".join(signed)
    lines = "".join("%s:%s\n" % kv for kv in signed.items())
    return "\n".join([method.upper(), path or "/", canonical_query(query), lines, names, body_hash]), names


def signature(secret: str, canonical: str) -> str:
    to_sign = "%s\n%s" % (ALGORITHM, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(method: str, host: str, path: str, query: Mapping[str, str], body: bytes, action: str, version: str,
         key_id: str, secret: str, token: Optional[str] = None, content_type: str = "application/json",
         now: Optional[datetime.datetime] = None) -> Dict[str, str]:
    """The headers for one request (Authorization included); `path` already percent-encoded."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "accept": "application/json",
    }
    if body:
        headers["content-type"] = content_type
    if token:
        headers["x-acs-security-token"] = token
    canonical, names = canonical_request(method, path, query, headers, headers["x-acs-content-sha256"])
    headers["authorization"] = "%s Credential=%s,SignedHeaders=%s,Signature=%s" % (
        ALGORITHM, key_id, names, signature(secret, canonical))
    return headers
