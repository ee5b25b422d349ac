"""Where the Alibaba Cloud credentials come from: one resolver, one provider.

resolve_credentials(settings) resolves one account profile ([aliyun] or [aliyun:NAME]).
It walks the sources in a fixed order and takes the first one that is configured;
steps 1-6 are the default chain of the official Alibaba Cloud credentials library
(credentials-python / credentials-java DefaultCredentialsProvider), in its order:

0. the profile's own keys in acme.ini: AccessKeyId / AccessKeySecret
1. env ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN)
2. OIDC role (ACK RRSA): env ALIBABA_CLOUD_ROLE_ARN + ALIBABA_CLOUD_OIDC_PROVIDER_ARN +
   ALIBABA_CLOUD_OIDC_TOKEN_FILE (+ ALIBABA_CLOUD_ROLE_SESSION_NAME) -> STS AssumeRoleWithOIDC
3. the aliyun CLI's ~/.aliyun/config.json (profile ALIBABA_CLOUD_PROFILE or "current"),
   modes AK | StsToken | EcsRamRole | RamRoleArn | OIDC; any other mode is skipped;
   ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true skips the step
4. the credentials file: ALIBABA_CLOUD_CREDENTIALS_FILE, else ~/.alibabacloud/credentials.ini,
   else ~/.alibabacloud/credentials; profile ALIBABA_CLOUD_PROFILE (default "default"),
   type access_key | ecs_ram_role | ram_role_arn | oidc_role_arn
5. the ECS instance RAM role from the metadata server, unless
   ALIBABA_CLOUD_ECS_METADATA_DISABLED=true: IMDSv2 (session token) first, plain GETs when
   the token request fails (unless ALIBABA_CLOUD_IMDSV1_DISABLED=true).
   ALIBABA_CLOUD_ECS_METADATA_ENDPOINT (our own variable) replaces http://100.100.100.200
6. ALIBABA_CLOUD_CREDENTIALS_URI: a URL answering Code/AccessKeyId/AccessKeySecret/
   SecurityToken/Expiration JSON

With RoleArn in the profile, STS AssumeRole (+ ExternalId, RoleSessionName) runs on top
of what the chain found (cloud/sts.py). from_fc_context(context) builds a provider
inside Function Compute instead.

A provider's .source is a short label naming the source (never a secret); its get()
returns a Credential, refreshing temporary ones before they expire. Every secret
and token obtained is registered with log.register_secret.
"""

import configparser
import json
import logging
import os
import stat
import time
from typing import Any, Callable, List, Optional
from urllib.parse import urlsplit

import requests

from acme_aliyun.errors import ConfigError, ToolError, UsageError, ini_error
from acme_aliyun.cloud import sts
from acme_aliyun.cloud.credential_types import (REFRESH_MARGIN, Credential, CredentialProvider, _credential,
                                                make_credential, parse_expiration)
from acme_aliyun.cloud.settings import CloudSettings, is_loopback
from acme_aliyun.log import mask_key_id, register_secret

__all__ = ["Credential", "CredentialProvider", "make_credential", "parse_expiration", "mask_key_id",
           "REFRESH_MARGIN"]

logger = logging.getLogger(__name__)

METADATA_URL = "http://100.100.100.200"
METADATA_TIMEOUT = (1.0, 2.0)       # connect, read: the metadata server answers at once or not at all
METADATA_TOKEN_TTL = "21600"




# --- resolver -----------------------------------------------------------------------------

def resolve_credentials(settings: CloudSettings, clock: Callable[[], float] = time.time) -> CredentialProvider:
    """The provider of one profile's credentials: the first configured source of the chain,
    with the profile's RoleArn assumed on top; UsageError listing the sources tried.
    clock decides when the role's temporary credentials are due for refresh (tests inject it)."""
    provider = _resolve_chain(settings)
    role_arn = getattr(settings, "role_arn", None)      # a test's stand-in settings may have none
    if role_arn:
        provider = sts.assume_role_provider(
            provider, role_arn, settings, "%s+AssumeRole(%s)" % (provider.source, role_arn),
            session_name=settings.role_session_name, external_id=settings.external_id,
            duration=settings.role_duration, clock=clock)
    return provider


def _resolve_chain(settings) -> CredentialProvider:
    _warn_legacy_env()
    tried: List[str] = []
    for source in (_from_settings, _from_env, _from_oidc_env, _from_cli_config, _from_credentials_file,
                   _from_ecs_metadata, _from_credentials_uri):
        provider = source(settings, tried)
        if provider is not None:
            logger.debug("Alibaba Cloud credentials for %s from %s", _section(settings), provider.source)
            return provider
    raise UsageError("no Alibaba Cloud credentials found for %s; tried: %s" % (_section(settings), "; ".join(tried)))


def _section(settings) -> str:
    return getattr(settings, "section", None) or "[aliyun]"


def _warn_legacy_env():
    if os.environ.get("ALIYUN_ACCESS_KEY_ID") or os.environ.get("ALIYUN_ACCESS_KEY_SECRET"):
        logger.warning("ALIYUN_ACCESS_KEY_ID/ALIYUN_ACCESS_KEY_SECRET are set in the environment; "
                       "acme-aliyun ignores them (use ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)")


def _from_settings(settings, tried):
    section = _section(settings)
    if not (settings.access_key_id and settings.access_key_secret):
        tried.append("%s AccessKeyId/AccessKeySecret in the config (not set)" % section)
        return None
    path = settings.config_file
    if path:
        try:
            st = os.stat(path)
            # root:acme-aliyun 0640 (install-ecs.sh) is fine: the group is the service's own
            if st.st_mode & stat.S_IRWXO or (st.st_mode & stat.S_IRWXG and st.st_gid != os.getegid()):
                logger.warning("%s holds an AccessKeySecret and is readable by group/others; "
                               "chmod 600 it", path)
        except OSError:
            pass
    return CredentialProvider.static("config:" + section, settings.access_key_id,
                                     settings.access_key_secret, settings.security_token)


def _from_env(settings, tried):
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if not (key_id and secret):
        tried.append("env ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (not set)")
        return None
    token = os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN")
    return CredentialProvider.static("env:sts" if token else "env", key_id, secret, token)


def _from_oidc_env(settings, tried):
    names = ("ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    role, provider_arn, token_file = (os.environ.get(n, "").strip() for n in names)
    if not (role and provider_arn and token_file):
        tried.append("OIDC role env ALIBABA_CLOUD_ROLE_ARN/_OIDC_PROVIDER_ARN/_OIDC_TOKEN_FILE (not set)")
        return None
    return sts.oidc_role_provider(role, provider_arn, token_file, settings, "oidc-role:" + role,
                                  session_name=os.environ.get("ALIBABA_CLOUD_ROLE_SESSION_NAME"))


def _profile_name():
    return os.environ.get("ALIBABA_CLOUD_PROFILE") or "default"


def _credentials_file_paths():
    if os.environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE"):
        return [os.environ["ALIBABA_CLOUD_CREDENTIALS_FILE"]]
    return [os.path.expanduser("~/.alibabacloud/credentials.ini"), os.path.expanduser("~/.alibabacloud/credentials")]


def _from_credentials_file(settings, tried):
    paths = _credentials_file_paths()
    path = next((p for p in paths if os.path.exists(p)), None)
    if path is None:
        tried.append("credentials file %s (missing)" % " or ".join(paths))
        return None
    profile = _profile_name()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        raise ConfigError("cannot read it: %s" % ini_error(e), file=path) from None
    if not parser.has_section(profile):
        tried.append("credentials file %s (no profile [%s])" % (path, profile))
        return None
    return _file_profile(parser[profile], path, profile, settings)


def _file_profile(sec, path, profile, settings):
    """The provider one profile of the credentials file describes (ConfigError when it is incomplete)."""
    def need(key):
        value = sec.get(key, "").strip()
        if not value:
            raise ConfigError("missing %s" % key, file=path, section=profile, key=key)
        return value

    kind = sec.get("type", "access_key").strip()
    label = "credentials-file:%s:%s" % (profile, kind)
    if kind == "access_key":
        return CredentialProvider.static(label, need("access_key_id"), need("access_key_secret"))
    if kind == "ecs_ram_role":
        return EcsRamRoleProvider(sec.get("role_name") or settings.ram_role, label)
    if kind == "ram_role_arn":
        base = CredentialProvider.static(label + "(base)", need("access_key_id"), need("access_key_secret"))
        return sts.assume_role_provider(base, need("role_arn"), settings, label,
                                        session_name=sec.get("role_session_name"), policy=sec.get("policy"),
                                        external_id=sec.get("external_id"), sts_endpoint=sec.get("sts_endpoint"))
    if kind == "oidc_role_arn":
        return sts.oidc_role_provider(need("role_arn"), need("oidc_provider_arn"), need("oidc_token_file_path"),
                                      settings, label, session_name=sec.get("role_session_name"),
                                      policy=sec.get("policy"), sts_endpoint=sec.get("sts_endpoint"))
    raise ConfigError("unsupported credential type %r (use access_key, ecs_ram_role, ram_role_arn or "
                      "oidc_role_arn)" % kind, file=path, section=profile, key="type")


def _from_cli_config(settings, tried):
    path = os.path.expanduser("~/.aliyun/config.json")
    if os.environ.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() == "true":
        tried.append("aliyun CLI config (disabled)")
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            conf = json.load(fh)
    except FileNotFoundError:
        tried.append("aliyun CLI %s (missing)" % path)
        return None
    except (OSError, ValueError) as e:
        raise ConfigError("cannot read it: %s" % (getattr(e, "strerror", None) or e), file=path) from None
    name = os.environ.get("ALIBABA_CLOUD_PROFILE") or conf.get("current") or "default"
    prof = next((p for p in conf.get("profiles") or [] if p.get("name") == name), None)
    if prof is None:
        tried.append("aliyun CLI %s (no profile %s)" % (path, name))
        return None
    mode = prof.get("mode") or "AK"
    if mode not in CLI_MODES:
        logger.debug("aliyun CLI profile %s: mode %s is not supported; trying the next source", name, mode)
        tried.append("aliyun CLI %s (profile %s: mode %s not supported)" % (path, name, mode))
        return None
    return _cli_profile(prof, mode, path, name, settings)


CLI_MODES = ("AK", "StsToken", "EcsRamRole", "RamRoleArn", "OIDC")


def _cli_profile(prof, mode, path, name, settings):
    """The provider of one aliyun CLI profile in a supported mode."""
    def need(key):
        if not prof.get(key):
            raise ConfigError("profile %s: missing %s" % (name, key), file=path)
        return str(prof[key])

    label = "aliyun-cli:%s:%s" % (name, mode)
    duration = int(prof.get("expired_seconds") or sts.DEFAULT_DURATION)
    if mode == "AK":
        return CredentialProvider.static(label, need("access_key_id"), need("access_key_secret"))
    if mode == "StsToken":
        return CredentialProvider.static(label, need("access_key_id"), need("access_key_secret"),
                                         need("sts_token"))
    if mode == "EcsRamRole":
        return EcsRamRoleProvider(prof.get("ram_role_name") or settings.ram_role, label)
    if mode == "RamRoleArn":
        base = CredentialProvider.static(label + "(base)", need("access_key_id"), need("access_key_secret"))
        return sts.assume_role_provider(base, need("ram_role_arn"), settings, label,
                                        session_name=prof.get("ram_session_name"), duration=duration,
                                        external_id=prof.get("external_id"), policy=prof.get("policy"))
    return sts.oidc_role_provider(need("ram_role_arn"), need("oidc_provider_arn"), need("oidc_token_file"),
                                  settings, label, session_name=prof.get("role_session_name"), duration=duration,
                                  policy=prof.get("policy"))


def _from_ecs_metadata(settings, tried):
    if os.environ.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "").lower() == "true":
        tried.append("ECS metadata (disabled)")
        return None
    role = settings.ram_role or os.environ.get("ALIBABA_CLOUD_ECS_METADATA")
    try:
        provider = EcsRamRoleProvider(role)
        provider.get()
    except ToolError as e:
        tried.append("ECS metadata (%s)" % e)
        return None
    return provider


def _from_credentials_uri(settings, tried):
    uri = os.environ.get("ALIBABA_CLOUD_CREDENTIALS_URI", "").strip()
    if not uri:
        tried.append("env ALIBABA_CLOUD_CREDENTIALS_URI (not set)")
        return None
    provider = UriProvider(uri)
    try:
        provider.get()
    except ToolError as e:
        tried.append("credentials URI (%s)" % e)
        return None
    return provider


# --- ECS instance RAM role ------------------------------------------------------------------

def _imdsv1_disabled():
    return os.environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", "").lower() == "true"


class _Metadata:
    """The ECS metadata server: IMDSv2 (a session token, sent on every GET) when the server
    hands one out; plain GETs (IMDSv1) when the token request fails, unless forbidden."""

    def __init__(self):
        self.base = (os.environ.get("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT") or METADATA_URL).rstrip("/")
        if "://" not in self.base:
            self.base = "http://" + self.base
        self.session = requests.Session()
        self.session.trust_env = False   # never through a proxy

    def _token(self):
        try:
            r = self.session.put(self.base + "/latest/api/token", timeout=METADATA_TIMEOUT,
                                 headers={"X-aliyun-ecs-metadata-token-ttl-seconds": METADATA_TOKEN_TTL})
            failure = None if r.status_code == 200 else "HTTP %d" % r.status_code
        except requests.RequestException as e:
            failure = type(e).__name__
        if failure:
            if _imdsv1_disabled():
                raise ToolError("ECS metadata server gave no session token (%s) and "
                                "ALIBABA_CLOUD_IMDSV1_DISABLED forbids plain mode" % failure)
            logger.debug("ECS metadata: no session token (%s); plain mode", failure)
            return None
        register_secret(r.text.strip())
        return r.text.strip()

    def get(self, path):
        token = self._token()
        headers = {"X-aliyun-ecs-metadata-token": token} if token else {}
        try:
            r = self.session.get(self.base + path, headers=headers, timeout=METADATA_TIMEOUT)
        except requests.RequestException as e:
            raise ToolError("ECS metadata server not reachable (%s)" % type(e).__name__) from None
        if r.status_code != 200:
            raise ToolError("ECS metadata %s: HTTP %d" % (path, r.status_code))
        return r.text


class EcsRamRoleProvider(CredentialProvider):
    """Temporary credentials of the instance RAM role (discovered when role is None)."""

    def __init__(self, role: Optional[str] = None, label: Optional[str] = None) -> None:
        super().__init__(label or "ecs-ram-role:%s" % (role or "?"), self._load)
        self.role = role
        self._fixed_label = bool(label)
        self._md = _Metadata()

    def _load(self):
        if not self.role:
            names = self._md.get("/latest/meta-data/ram/security-credentials/").split()
            if not names:
                raise ToolError("ECS metadata: this instance has no RAM role attached")
            self.role = names[0]
            if not self._fixed_label:
                self.source = "ecs-ram-role:%s" % self.role
        text = self._md.get("/latest/meta-data/ram/security-credentials/" + self.role)
        try:
            data = json.loads(text)
        except ValueError:
            raise ToolError("ECS metadata: credentials of role %s are not JSON" % self.role) from None
        if data.get("Code") != "Success" or not all(data.get(k) for k in ("AccessKeyId", "AccessKeySecret",
                                                                          "SecurityToken")):
            raise ToolError("ECS metadata: role %s: %s" % (self.role, data.get("Code") or "no credentials"))
        return _credential(data["AccessKeyId"], data["AccessKeySecret"], data["SecurityToken"],
                           parse_expiration(data.get("Expiration")))


# --- ALIBABA_CLOUD_CREDENTIALS_URI ---------------------------------------------------------------

class UriProvider(CredentialProvider):
    """Temporary credentials from a URL (a sidecar or credential service), fetched again before expiry."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError("ALIBABA_CLOUD_CREDENTIALS_URI is not an http(s) URL")
        host = parts.hostname + (":%d" % parts.port if parts.port else "")
        self._uri, self._shown = uri, "%s://%s%s" % (parts.scheme, host, parts.path)   # no query, no user info
        super().__init__("credentials-uri:" + self._shown, self._load)
        self._session = requests.Session()
        self._session.trust_env = not is_loopback(host)

    def _load(self):
        try:
            r = self._session.get(self._uri, timeout=(2.0, 5.0))
        except requests.RequestException as e:
            raise ToolError("%s not reachable (%s)" % (self._shown, type(e).__name__)) from None
        if r.status_code != 200:
            raise ToolError("%s: HTTP %d" % (self._shown, r.status_code))
        try:
            data = json.loads(r.text)
        except ValueError:
            raise ToolError("%s: the answer is not JSON" % self._shown) from None
        keys = ("AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration")
        if not isinstance(data, dict) or data.get("Code") != "Success" or not all(data.get(k) for k in keys):
            code = data.get("Code") if isinstance(data, dict) else None
            raise ToolError("%s: %s" % (self._shown, code or "no credentials in the answer"))
        return _credential(data["AccessKeyId"], data["AccessKeySecret"], data["SecurityToken"],
                           parse_expiration(data["Expiration"]))


# --- Function Compute ---------------------------------------------------------------------------

def from_fc_context(context: Any) -> CredentialProvider:
    """Credentials of the function's role: context.credentials, else the env FC injects.

    Python 3.12 runtimes have no context.credentials; they put the role's keys in
    ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/ALIBABA_CLOUD_SECURITY_TOKEN.
    """
    creds = getattr(context, "credentials", None)
    key_id = getattr(creds, "access_key_id", None)
    secret = getattr(creds, "access_key_secret", None)
    if key_id and secret:
        return CredentialProvider.static("fc-context", key_id, secret, getattr(creds, "security_token", None))
    tried: List[str] = ["Function Compute context.credentials (absent)"]
    provider = _from_env(None, tried)
    if provider is None:
        raise UsageError("no Alibaba Cloud credentials in Function Compute; tried: %s. "
                         "Give the function a role." % "; ".join(tried))
    provider.source = "fc-" + provider.source
    return provider
