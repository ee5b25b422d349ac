"""ROA (REST) calls with a JSON body, signed with signature V3 (cloud.acs3).

Why not the legacy core: its ROA signer is V1 only (see acs3). This is the same transport
contract as CloudClient.call, for APIs shaped as METHOD /version/resource: the endpoint
comes from the registered product facts and the [aliyun] overrides (HTTPS, plain http only
for loopback), the credential from the client's provider, pacing, retries and counts from
CloudClient.run. Parameters that carry secrets go in the signed JSON body; the URL holds
only the resource path and plain listing parameters. Errors become one sanitised CloudError
line that names the resource the caller gives as `what`.
"""

import json
import threading
from typing import Any, Dict, Mapping, Optional

import requests

from acme_aliyun import netmsg
from acme_aliyun.cloud import acs3
from acme_aliyun.cloud.sdk import PRODUCTS, CloudClient, CloudError, Endpoint

_local = threading.local()


def _session(loopback: bool) -> requests.Session:
    """One session per thread; no environment proxies towards loopback (the emulator)."""
    key = "loopback" if loopback else "remote"
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if key not in sessions:
        s = requests.Session()
        s.trust_env = not loopback
        sessions[key] = s
    return sessions[key]


def call(client: CloudClient, product: str, action: str, method: str, path: str, what: str,
         query: Optional[Mapping[str, str]] = None, body: Optional[Dict[str, Any]] = None,
         write: bool = False, region: Optional[str] = None) -> Dict[str, Any]:
    """One ROA request (paced, retried); the JSON answer ({} when empty) or CloudError.

    path: the percent-encoded resource path ('/2023-03-30/custom-domains/www.example.com');
    what: the resource named in errors ('custom domain www.example.com').
    """
    ep = client.endpoint(product, region)
    data = json.dumps(body, separators=(",", ":")).encode("utf-8") if body is not None else b""

    def send(cred: Any) -> Dict[str, Any]:
        return _once(client, ep, product, action, method, path, dict(query or {}), data, what, cred)

    return client.run(product, action, write, send)


def _once(client: CloudClient, ep: Endpoint, product: str, action: str, method: str, path: str,
          query: Dict[str, str], data: bytes, what: str, cred: Any) -> Dict[str, Any]:
    facts = PRODUCTS[product]
    headers = acs3.sign(method, ep.host, path, query, data, action, facts.version, cred.access_key_id,
                        cred.access_key_secret, cred.security_token)
    url = "%s://%s%s" % (ep.scheme, ep.host, path)
    if query:
        url += "?" + acs3.canonical_query(query)
    label = "%s (%s)" % (action, what)
    try:
        resp = _session(ep.loopback).request(method, url, data=data or None, headers=headers,
                                             timeout=(client.settings.connect_timeout, client.settings.read_timeout),
                                             allow_redirects=False)
    except requests.RequestException as e:     # no answer from the server: name the cause, one line
        raise CloudError("SDK.HttpError", type(e).__name__, action=label, key_id=cred.access_key_id,
                         network="%s: %s" % (ep.host, netmsg.reason(e) or "no answer")) from None
    try:
        answer = resp.json() if resp.content else {}
    except ValueError:
        answer = None
    if resp.status_code >= 300:
        raise _error(resp, answer, label, cred.access_key_id)
    if not isinstance(answer, dict):
        raise CloudError("SDK.InvalidResponse", "answer is not a JSON object", resp.status_code, action=label)
    return answer


def _error(resp: requests.Response, answer: Any, label: str, key_id: str) -> CloudError:
    doc = answer if isinstance(answer, dict) else {}
    code = doc.get("Code") or doc.get("code") or "HTTP%d" % resp.status_code
    message = doc.get("Message") or doc.get("message") or resp.reason or ""
    request_id = (doc.get("RequestId") or doc.get("requestId") or resp.headers.get("x-acs-request-id")
                  or resp.headers.get("x-fc-request-id"))
    return CloudError(code, message, resp.status_code, request_id, label, key_id)
