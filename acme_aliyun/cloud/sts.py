"""Temporary credentials from STS: AssumeRole (signed) and AssumeRoleWithOIDC (anonymous).

Why a module of its own: both role kinds turn one credential (a long-term key, another
provider's temporary key, or an OIDC token file) into a refreshing CredentialProvider,
and both need the transport (sdk.py), which itself needs credentials.py. Keeping them
here lets credentials.py stay the resolver and import this module only when a role is
configured, so the import graph has no cycle at load time.

The STS endpoint is, in order: ACME_ALIYUN_ENDPOINT, the profile's STSEndpoint, the
caller's sts_endpoint (a credentials-file key), env ALIBABA_CLOUD_STS_ENDPOINT, env
ALIBABA_CLOUD_STS_REGION (sts.REGION.aliyuncs.com), the profile's Endpoint, else
sts.aliyuncs.com. Every secret and token obtained is registered with the redactor.
"""

import json
import os
import time
from typing import Any, Callable, Dict, Optional

import requests

from acme_aliyun.cloud.credential_types import Credential, CredentialProvider, make_credential, parse_expiration
from acme_aliyun.errors import ToolError, UsageError

STS_VERSION = "2015-04-01"
DEFAULT_DURATION = 3600


def _extra_endpoint(sts_endpoint: Optional[str]) -> Dict[str, str]:
    endpoint = sts_endpoint or os.environ.get("ALIBABA_CLOUD_STS_ENDPOINT")
    if not endpoint and os.environ.get("ALIBABA_CLOUD_STS_REGION"):
        endpoint = "sts.%s.aliyuncs.com" % os.environ["ALIBABA_CLOUD_STS_REGION"].strip()
    return {"sts": endpoint} if endpoint else {}


def _from_answer(data: dict, what: str) -> Credential:
    c = data.get("Credentials") or {}
    if not (c.get("AccessKeyId") and c.get("AccessKeySecret") and c.get("SecurityToken")):
        raise ToolError("STS %s returned no credentials" % what)
    return make_credential(c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"],
                           parse_expiration(c.get("Expiration")))


def assume_role_provider(base: CredentialProvider, role_arn: str, settings: Any, label: str,
                         session_name: Optional[str] = None, external_id: Optional[str] = None,
                         duration: int = DEFAULT_DURATION, policy: Optional[str] = None,
                         sts_endpoint: Optional[str] = None,
                         clock: Callable[[], float] = time.time) -> CredentialProvider:
    """Temporary credentials of role_arn from STS AssumeRole, signed with what `base` hands out
    (a long-term key or itself temporary), refreshed before they expire."""
    from acme_aliyun.cloud.sdk import CloudClient  # the SDK layer needs credentials: import late

    client = CloudClient(settings, base, extra_endpoints=_extra_endpoint(sts_endpoint))
    params = {"RoleArn": role_arn, "RoleSessionName": session_name or "acme-aliyun",
              "DurationSeconds": str(duration), "ExternalId": external_id or None, "Policy": policy or None}

    def fetch() -> Credential:
        return _from_answer(client.call("sts", "AssumeRole", params, write=False), "AssumeRole for " + role_arn)

    return CredentialProvider(label, fetch, clock=clock)


def oidc_role_provider(role_arn: str, provider_arn: str, token_file: str, settings: Any, label: str,
                       session_name: Optional[str] = None, duration: int = DEFAULT_DURATION,
                       policy: Optional[str] = None, sts_endpoint: Optional[str] = None,
                       clock: Callable[[], float] = time.time) -> CredentialProvider:
    """Temporary credentials of role_arn from STS AssumeRoleWithOIDC (ACK RRSA). The call is not
    signed: the OIDC token, read afresh from token_file at every refresh, is the proof."""
    from acme_aliyun.cloud.sdk import endpoint_for  # the SDK layer needs credentials: import late

    ep = endpoint_for(settings, "sts", _extra_endpoint(sts_endpoint))
    session = requests.Session()
    session.trust_env = not ep.loopback          # never through a proxy to loopback

    def fetch() -> Credential:
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as e:
            raise UsageError("OIDC token file %s: %s" % (token_file, e.strerror)) from None
        form = {"Action": "AssumeRoleWithOIDC", "Version": STS_VERSION, "Format": "JSON",
                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "RoleArn": role_arn,
                "OIDCProviderArn": provider_arn, "OIDCToken": token,
                "RoleSessionName": session_name or "acme-aliyun", "DurationSeconds": str(duration)}
        if policy:
            form["Policy"] = policy
        return _from_answer(_post(session, ep, form, settings), "AssumeRoleWithOIDC for " + role_arn)

    return CredentialProvider(label, fetch, clock=clock)


def _post(session, ep, form: dict, settings) -> dict:
    """One anonymous STS request; the JSON answer, or CloudError naming the code the server sent."""
    from acme_aliyun.cloud.sdk import CloudError  # the SDK layer needs credentials: import late
    try:
        r = session.post("%s://%s/" % (ep.scheme, ep.host), data=form,
                         timeout=(settings.connect_timeout, settings.read_timeout))
    except requests.RequestException as e:
        raise CloudError("SDK.HttpError", "STS not reachable (%s)" % type(e).__name__,
                         action="AssumeRoleWithOIDC") from None
    try:
        data = json.loads(r.text)
    except ValueError:
        data = {}
    if r.status_code != 200:
        raise CloudError(data.get("Code") or "HTTP%d" % r.status_code, data.get("Message") or "",
                         r.status_code, data.get("RequestId"), action="AssumeRoleWithOIDC")
    return data
