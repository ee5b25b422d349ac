"""Where the Alibaba Cloud credentials come from: one resolver, one provider.

resolve_credentials(settings) walks the sources in a fixed order and returns a
CredentialProvider for the first one that is configured:

1. acme.ini [aliyun] access_key_id / access_key_secret (/ security_token)
2. env ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN)
3. the credentials file: ALIBABA_CLOUD_CREDENTIALS_FILE or ~/.alibabacloud/credentials.ini,
   profile ALIBABA_CLOUD_PROFILE (default "default"), type access_key | ecs_ram_role | ram_role_arn
4. the aliyun CLI's ~/.aliyun/config.json (profile ALIBABA_CLOUD_PROFILE or "current"),
   modes AK | StsToken | EcsRamRole | RamRoleArn
5. the ECS instance RAM role from the metadata server (IMDSv2), unless
   ALIBABA_CLOUD_ECS_METADATA_DISABLED=true. ALIBABA_CLOUD_ECS_METADATA_ENDPOINT (our own
   variable) replaces http://100.100.100.200 as the metadata base URL, for tests.

from_fc_context(context) builds a provider inside Function Compute instead.

A provider's .source is a short label naming the source (never a secret); its get()
returns a Credential, refreshing temporary ones before they expire. Every secret
and token obtained is registered with log.register_secret.
"""

import configparser
import datetime
import json
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import requests

from acme_aliyun.errors import ConfigError, ToolError, UsageError, ini_error
from acme_aliyun.log import register_secret

logger = logging.getLogger(__name__)

REFRESH_MARGIN = 600.0              # refresh temporary credentials with less than 10 min left
METADATA_URL = "http://100.100.100.200"
METADATA_TIMEOUT = (1.0, 2.0)       # connect, read: the metadata server answers at once or not at all
METADATA_TOKEN_TTL = "21600"


@dataclass(frozen=True)
class Credential:
    """An AccessKey pair, with the STS token and expiry (epoch seconds) when temporary."""

    access_key_id: str
    access_key_secret: str
    security_token: Optional[str] = None
    expiration: Optional[float] = None

    def __repr__(self):
        return "Credential(access_key_id=%s, temporary=%s)" % (mask_key_id(self.access_key_id),
                                                              bool(self.security_token))


def mask_key_id(key_id):
    """Enough of an AccessKeyId to recognise it in a message, never the whole of it."""
    key_id = key_id or ""
    if len(key_id) >= 12:
        return "%s…%s(masked)" % (key_id[:4], key_id[-3:])
    return "%s…(masked)" % key_id[:2]


def _credential(key_id, secret, token=None, expiration=None):
    for value in (secret, token):
        register_secret(value)
    return Credential(key_id, secret, token or None, expiration)


class CredentialProvider:
    """Hands out a valid Credential; .source says where it comes from."""

    def __init__(self, source: str, fetch: Callable[[], Credential], margin: float = REFRESH_MARGIN):
        self.source = source
        self._fetch = fetch
        self._margin = margin
        self._current: Optional[Credential] = None
        self._lock = threading.Lock()

    @classmethod
    def static(cls, source, key_id, secret, token=None):
        cred = _credential(key_id, secret, token)
        return cls(source, lambda: cred)

    def get(self) -> Credential:
        with self._lock:
            cur = self._current
            if cur is None or (cur.expiration is not None and cur.expiration - time.time() < self._margin):
                self._current = cur = self._fetch()
            return cur

    def __repr__(self):
        return "CredentialProvider(%s)" % self.source


# --- resolver -----------------------------------------------------------------------------

def resolve_credentials(settings) -> CredentialProvider:
    """The provider for the first configured source; UsageError listing the sources tried."""
    _warn_legacy_env()
    tried = []
    for source in (_from_settings, _from_env, _from_credentials_file, _from_cli_config, _from_ecs_metadata):
        provider = source(settings, tried)
        if provider is not None:
            logger.debug("Alibaba Cloud credentials from %s", provider.source)
            return provider
    raise UsageError("no Alibaba Cloud credentials found; tried: " + "; ".join(tried))


def _warn_legacy_env():
    if os.environ.get("ALIYUN_ACCESS_KEY_ID") or os.environ.get("ALIYUN_ACCESS_KEY_SECRET"):
        logger.warning("ALIYUN_ACCESS_KEY_ID/ALIYUN_ACCESS_KEY_SECRET are set in the environment; "
                       "acme-aliyun ignores them (use ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)")


def _from_settings(settings, tried):
    if not (settings.access_key_id and settings.access_key_secret):
        tried.append("[aliyun] access_key_id/access_key_secret in the config (not set)")
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
    return CredentialProvider.static("config:[aliyun]", settings.access_key_id,
                                     settings.access_key_secret, settings.security_token)


def _from_env(settings, tried):
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if not (key_id and secret):
        tried.append("env ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET (not set)")
        return None
    token = os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN")
    return CredentialProvider.static("env:sts" if token else "env", key_id, secret, token)


def _profile_name():
    return os.environ.get("ALIBABA_CLOUD_PROFILE") or "default"


def _from_credentials_file(settings, tried):
    path = os.environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE") or os.path.expanduser(
        "~/.alibabacloud/credentials.ini")
    profile = _profile_name()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        tried.append("credentials file %s (missing)" % path)
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        raise ConfigError("cannot read it: %s" % ini_error(e), file=path) from None
    if not parser.has_section(profile):
        tried.append("credentials file %s (no profile [%s])" % (path, profile))
        return None
    sec = parser[profile]

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
        base = _credential(need("access_key_id"), need("access_key_secret"))
        return ram_role_arn_provider(base, need("role_arn"), sec.get("role_session_name"),
                                     settings, label, sts_endpoint=sec.get("sts_endpoint"),
                                     policy=sec.get("policy"))
    raise ConfigError("unsupported credential type %r (use access_key, ecs_ram_role or ram_role_arn)" % kind,
                      file=path, section=profile, key="type")


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

    def need(key):
        if not prof.get(key):
            raise ConfigError("profile %s: missing %s" % (name, key), file=path)
        return prof[key]

    mode = prof.get("mode") or "AK"
    label = "aliyun-cli:%s:%s" % (name, mode)
    if mode == "AK":
        return CredentialProvider.static(label, need("access_key_id"), need("access_key_secret"))
    if mode == "StsToken":
        return CredentialProvider.static(label, need("access_key_id"), need("access_key_secret"),
                                         need("sts_token"))
    if mode == "EcsRamRole":
        return EcsRamRoleProvider(prof.get("ram_role_name") or settings.ram_role, label)
    if mode == "RamRoleArn":
        base = _credential(need("access_key_id"), need("access_key_secret"))
        return ram_role_arn_provider(base, need("ram_role_arn"), prof.get("ram_session_name"), settings,
                                     label, duration=int(prof.get("expired_seconds") or 3600))
    raise ConfigError("profile %s: unsupported mode %r (use AK, StsToken, EcsRamRole or RamRoleArn)"
                      % (name, mode), file=path)


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


# --- ECS instance RAM role ------------------------------------------------------------------

class _Metadata:
    """The ECS metadata server, IMDSv2: a session token first, then the token on every GET."""

    def __init__(self):
        self.base = (os.environ.get("ALIBABA_CLOUD_ECS_METADATA_ENDPOINT") or METADATA_URL).rstrip("/")
        if "://" not in self.base:
            self.base = "http://" + self.base
        self.session = requests.Session()
        self.session.trust_env = False   # never through a proxy

    def _token(self):
        r = self.session.put(self.base + "/latest/api/token", timeout=METADATA_TIMEOUT,
                             headers={"X-aliyun-ecs-metadata-token-ttl-seconds": METADATA_TOKEN_TTL})
        if r.status_code != 200:
            if os.environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", "").lower() == "true":
                raise ToolError("ECS metadata server refused a session token (HTTP %d)" % r.status_code)
            return None
        register_secret(r.text.strip())
        return r.text.strip()

    def get(self, path):
        try:
            token = self._token()
            headers = {"X-aliyun-ecs-metadata-token": token} if token else {}
            r = self.session.get(self.base + path, headers=headers, timeout=METADATA_TIMEOUT)
        except requests.RequestException as e:
            raise ToolError("ECS metadata server not reachable (%s)" % type(e).__name__) from None
        if r.status_code != 200:
            raise ToolError("ECS metadata %s: HTTP %d" % (path, r.status_code))
        return r.text


class EcsRamRoleProvider(CredentialProvider):
    """Temporary credentials of the instance RAM role (discovered when role is None)."""

    def __init__(self, role=None, label=None):
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
                           _parse_expiration(data.get("Expiration")))


def _parse_expiration(text):
    if not text:
        return None
    dt = datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    return dt.timestamp()


# --- RAM role ARN (STS AssumeRole) ------------------------------------------------------------

def ram_role_arn_provider(base: Credential, role_arn, session_name, settings, label,
                          sts_endpoint=None, duration=3600, policy=None) -> CredentialProvider:
    """Temporary credentials from STS AssumeRole, signed with the long-term key `base`.

    The STS endpoint is the profile's sts_endpoint, else env ALIBABA_CLOUD_STS_ENDPOINT,
    else [aliyun] endpoint, else sts.aliyuncs.com (ACME_ALIYUN_ENDPOINT overrides all).
    """
    from acme_aliyun.cloud.sdk import CloudClient  # the SDK layer needs credentials: import late

    endpoint = sts_endpoint or os.environ.get("ALIBABA_CLOUD_STS_ENDPOINT")
    client = CloudClient(settings, CredentialProvider("%s(base)" % label, lambda: base),
                         extra_endpoints={"sts": endpoint} if endpoint else None)
    params = {"RoleArn": role_arn, "RoleSessionName": session_name or "acme-aliyun",
              "DurationSeconds": str(duration), "Policy": policy or None}

    def fetch():
        data = client.call("sts", "AssumeRole", params, write=False)
        c = data.get("Credentials") or {}
        if not (c.get("AccessKeyId") and c.get("AccessKeySecret") and c.get("SecurityToken")):
            raise ToolError("STS AssumeRole for %s returned no credentials" % role_arn)
        return _credential(c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"],
                           _parse_expiration(c.get("Expiration")))

    return CredentialProvider(label, fetch)


# --- Function Compute ---------------------------------------------------------------------------

def from_fc_context(context) -> CredentialProvider:
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
