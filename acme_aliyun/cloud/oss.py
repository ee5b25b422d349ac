"""Object Storage Service calls through the oss2 library, under the same transport rules.

Why a module of its own: OSS is neither RPC nor ROA; it has its own signature, which oss2
implements (we use V4, OSS4-HMAC-SHA256, scoped to the bucket's region). What stays ours:
the credential comes from the client's provider for each attempt (STS token included), the
endpoint from the registered product facts and the [aliyun] overrides (https://, plain http
only for loopback, where oss2 addresses the bucket in the path), pacing, retries and counts
from CloudClient.run, and errors as one sanitised CloudError line naming the bucket. oss2's
own logger (it logs canonical requests with the security token) is silenced.
"""

import logging
import threading
from typing import Any, Callable, TypeVar

import oss2
from oss2 import exceptions as oss_exceptions

from acme_aliyun import netmsg
from acme_aliyun.cloud.sdk import CloudClient, CloudError, Endpoint

T = TypeVar("T")

_oss_logger = logging.getLogger("oss2")
_oss_logger.handlers[:] = []
_oss_logger.propagate = False
_oss_logger.disabled = True
_local = threading.local()


def _session(loopback: bool) -> oss2.Session:
    """One oss2 session (connection pool) per thread; no environment proxies towards loopback."""
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    if loopback not in sessions:
        s = oss2.Session()
        s.session.trust_env = not loopback
        sessions[loopback] = s
    return sessions[loopback]


def _auth(cred: Any) -> Any:
    if cred.security_token:
        return oss2.StsAuth(cred.access_key_id, cred.access_key_secret, cred.security_token,
                            auth_version=oss2.AUTH_VERSION_4)
    return oss2.AuthV4(cred.access_key_id, cred.access_key_secret)


def bucket(client: CloudClient, ep: Endpoint, cred: Any, name: str, region: str) -> oss2.Bucket:
    """An oss2 Bucket on this endpoint, signed V4 for `region`."""
    proxies = {"http": None, "https": None} if ep.loopback else None
    return oss2.Bucket(_auth(cred), "%s://%s" % (ep.scheme, ep.host), name, region=region,
                       session=_session(ep.loopback), connect_timeout=client.settings.read_timeout,
                       proxies=proxies)


def call(client: CloudClient, product: str, action: str, region: str, name: str,
         op: Callable[[oss2.Bucket], T], write: bool = False) -> T:
    """op(bucket) once per attempt (paced, retried); its result or CloudError naming the bucket."""
    ep = client.endpoint(product, region)
    label = "%s (bucket %s)" % (action, name)

    def send(cred: Any) -> T:
        try:
            return op(bucket(client, ep, cred, name, region))
        except oss_exceptions.OssError as e:
            raise _error(e, label, cred.access_key_id, ep.host) from None

    return client.run(product, action, write, send)


def _error(e: "oss_exceptions.OssError", label: str, key_id: str, host: str) -> CloudError:
    status = e.status if isinstance(e.status, int) and e.status > 0 else None
    if status is None:      # oss2's ClientError / RequestError: no answer from the server; name the cause
        network = "%s: %s" % (host, netmsg.reason(e) or "no answer")
        return CloudError("SDK.HttpError", type(e).__name__, action=label, key_id=key_id, network=network)
    details = getattr(e, "details", {}) or {}
    ec = details.get("EC")
    message = (e.message or "") + (" (EC %s)" % ec if ec else "")
    return CloudError(e.code or "HTTP%d" % status, message, status, e.request_id or None, label, key_id)
