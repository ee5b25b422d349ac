"""Security Token Service, Sts 2015-04-01: AssumeRole (signed) and AssumeRoleWithOIDC (anonymous).

Roles are seeded with ``Emulator.add_role``. A role is in the emulator's one account; any caller
that passes authentication may assume it (the emulator models no trust policy beyond ExternalId and
the OIDC provider). Each answer mints a new STS credential that the authenticator accepts, with the
SecurityToken, until ``Expiration``; after that every call with it is InvalidSecurityToken.Expired.
Expiry runs on the emulator's STS clock (``Emulator.advance_sts_clock``), so tests age tokens without
sleeping.

Facts: parameters, the 900 s minimum and 3600 s default of DurationSeconds, the role's
MaxSessionDuration as the maximum, RoleSessionName required for AssumeRole (2-64 of letters, digits
and ``.@-_``), the OIDCToken 4-20000 characters, and the answer shape are [doc]. Codes
InvalidParameter.RoleSessionName and InvalidParameter.PolicyGrammar are [doc] (STS error FAQ);
EntityNotExist.Role, InvalidParameter.DurationSeconds, NoPermission for a wrong ExternalId and the
AuthenticationFail.* codes of AssumeRoleWithOIDC are [assumed].
"""

import re
import secrets
from datetime import datetime, timezone

from ..errors import ApiError
from .base import Action, Product, iso_z

_SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")
DEFAULT_DURATION = 3600


def _role(ctx, params):
    arn = params.require("RoleArn")
    role = ctx.state.roles.get(arn)
    if role is None:
        raise ApiError("EntityNotExist.Role", "The specified Role not exists: %s" % arn)
    return role


def _duration(ctx, params, role):
    duration = params.integer("DurationSeconds", DEFAULT_DURATION)
    if duration < ctx.config.sts_min_duration_s or duration > role.max_session_s:
        raise ApiError("InvalidParameter.DurationSeconds",
                       "The parameter DurationSeconds must be between %d and %d."
                       % (ctx.config.sts_min_duration_s, role.max_session_s))
    return duration


def _session_name(params, required):
    name = params.require("RoleSessionName") if required else params.get("RoleSessionName", "oidc-session")
    if not _SESSION_NAME.match(name):
        raise ApiError("InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.")
    return name


def _policy(params):
    policy = params.get("Policy")
    if policy is not None and (len(policy) > 1024 or not policy.lstrip().startswith("{")):
        raise ApiError("InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.")


def _mint(ctx, role, session, duration, action):
    """A new STS credential for the role, known to the authenticator until it expires."""
    key_id = "STS.NT" + secrets.token_hex(10)
    secret = secrets.token_urlsafe(24)
    token = "CAIS" + secrets.token_urlsafe(60)
    expires_at = ctx.auth.now() + duration
    ctx.auth.add_sts(key_id, secret, token, duration)
    ctx.state.sts_issued.append({"action": action, "role_arn": role.arn, "session": session,
                                 "access_key_id": key_id, "expires_at": expires_at})
    assumed = role.arn.replace(":role/", ":assumed-role/") + "/" + session
    return {
        "AssumedRoleUser": {"Arn": assumed, "AssumedRoleId": "3%s:%s" % (secrets.token_hex(8), session)},
        "Credentials": {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token,
                        "Expiration": iso_z(datetime.fromtimestamp(expires_at, timezone.utc))},
    }


def assume_role(ctx, params):
    role = _role(ctx, params)
    session = _session_name(params, required=True)
    duration = _duration(ctx, params, role)
    _policy(params)
    if role.external_id is not None and params.get("ExternalId") != role.external_id:
        raise ApiError("NoPermission", "You are not authorized to do this action. The ExternalId does not match.")
    return _mint(ctx, role, session, duration, "AssumeRole")


def assume_role_with_oidc(ctx, params):
    provider = params.require("OIDCProviderArn")
    token = params.require("OIDCToken")
    role = _role(ctx, params)
    if not 4 <= len(token) <= 20000:
        raise ApiError("InvalidParameter.OIDCToken", "The OIDCToken must be 4 to 20000 characters long.")
    if role.oidc_provider_arn is None or provider != role.oidc_provider_arn:
        raise ApiError("AuthenticationFail.OIDCProvider",
                       "The role does not trust the OIDC provider %s." % provider)
    if token != role.oidc_token:
        raise ApiError("AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
    session = _session_name(params, required=False)
    duration = _duration(ctx, params, role)
    _policy(params)
    result = _mint(ctx, role, session, duration, "AssumeRoleWithOIDC")
    result["OIDCTokenInfo"] = {"Issuer": "emulator", "Subject": "system:serviceaccount:acme"}
    return result


PRODUCT = Product(
    code="Sts", version="2015-04-01", host="sts.aliyuncs.com", dotted_missing=False,
    actions={
        "AssumeRole": Action("AssumeRole", assume_role),
        "AssumeRoleWithOIDC": Action("AssumeRoleWithOIDC", assume_role_with_oidc, anonymous=True),
    },
)
