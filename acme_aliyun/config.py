"""acme.ini → typed settings. Every error names file, section and key.

Sections:
  [acme]         (or the original article's [acme-neoprime]) the CA and the account
  [cert:NAME]    one certificate each: names, challenge, key, where to deploy it
  [aliyun]       Alibaba Cloud region, endpoints, optional keys (the default account profile)
  [aliyun:NAME]  another account profile: the same keys; a certificate picks it with Account = NAME
  [notify]       optional webhook and/or email for failures
An [acme-neoprime] section that has CSRFile also defines one certificate whose
names come from the CSR, as in the article series; a CSR that cannot be read yet
is reported by the command that needs the certificate (Context.certs), not here.

Each section knows its keys (ACME_KEYS, cert_keys(), aliyun_keys(), NOTIFY_KEYS);
anything else is an error. The checks that look past one value (suggestions,
coverage, shared targets) live in config_checks.
"""

import configparser
import ipaddress
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from acme_aliyun import config_checks, ratelimits
from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import ConfigError, ini_error
from acme_aliyun.log import register_secret
from acme_aliyun.names import NameError_, normalize_domain
from acme_aliyun.kinds import KEY_TYPES

if TYPE_CHECKING:
    from acme_aliyun.probe import ProbeSettings
    from acme_aliyun.ratelimits import Limits
    from acme_aliyun.targets.base import TargetSpec

DIRECTORY_ALIASES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ACME_SECTIONS = ("acme", "acme-neoprime")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")

# --- the keys each section may hold (anything else is an error, with a suggestion) -----------
ACME_KEYS = ("ACMEDirectory", "AccountKeyFile", "Contacts", "UserAgent", "Language", "StateDir", "CABundle",
             "KeyType", "EABKeyId", "EABHMACKey", "ValidationTimeout", "ReloadCommand",
             "Parallel", "RunBudget")
CERT_BASE_KEYS = ("Domains", "CSRFile", "Challenge", "Webroot", "HTTPListen", "DNSProvider", "DNSHook", "DNSHookEnv",
                  "KeyType",
                  "ReuseKey", "Profile", "PreferredChain", "RenewBeforeDays", "KeyFile", "ChainFile",
                  "ReloadCommand")
LIMITS_KEYS = tuple(ratelimits.KEYS) + ("PublicSuffixFile",)
PROBE_KEYS = ("Resolve", "Port", "Timeout")
NOTIFY_KEYS = ("Webhook", "Format", "OnSuccess", "Timeout", "Language", "SMTP", "From", "To")


def target_keys() -> Tuple[str, ...]:
    """The [cert:*] keys that name deploy targets: one per registered target kind."""
    from acme_aliyun.targets import KINDS
    return tuple(kind.ini_key for kind in KINDS.values())


def cert_keys() -> Tuple[str, ...]:
    """Every key a [cert:NAME] section may hold: the one place that lists them."""
    return CERT_BASE_KEYS + CERT_ACCOUNT_KEYS + target_keys()


@dataclass
class AcmeSettings:
    directory_url: str
    account_key_file: str
    contacts: List[str]
    user_agent: Optional[str]
    language: Optional[str]
    state_dir: str
    ca_bundle: Optional[str]
    key_type: str
    eab_kid: Optional[str]
    eab_hmac_key: Optional[str]
    section: str
    config_path: str = ""
    validation_timeout: float = 300.0     # seconds the CA gets to validate (and issue) one order
    ca_bundle_in_ini: bool = False     # [acme] CABundle set (not only REQUESTS_CA_BUNDLE): a private CA is meant
    parallel: int = 4                   # certificates ordered side by side (acme_aliyun/parallel.py)
    run_budget: Optional[float] = None  # seconds one run may spend starting certificates (None: no limit)
    reload_command: Optional[List[str]] = None   # ReloadCommand, split (no shell): reload.py
    state_url: Optional[str] = None    # oss://bucket/prefix when the state lives in OSS (state_dir: its mirror)


@dataclass
class CertSettings:
    name: str
    domains: List[str]
    challenge: str                    # http-01 | dns-01
    webroot: Optional[str] = None
    http_listen: Optional[str] = None
    dns_provider: Optional[str] = None   # alidns | hook
    dns_hook: Optional[str] = None
    dns_hook_env: List[str] = field(default_factory=list)   # our variables the hook gets (DNSHookEnv)
    key_type: str = "ec-256"
    reuse_key: bool = False
    profile: Optional[str] = None
    preferred_chain: Optional[str] = None
    renew_before_days: Optional[int] = None
    key_file: Optional[str] = None
    chain_file: Optional[str] = None
    csr_file: Optional[str] = None
    targets: "Dict[str, List[TargetSpec]]" = field(default_factory=dict)   # kind name -> specs (targets.KINDS)
    section: str = ""
    csr_error: Optional[ConfigError] = None   # raised when a command needs this certificate
    account: Optional[str] = None      # NAME of the [aliyun:NAME] profile it deploys with; None: [aliyun]
    dns_account: Optional[str] = None  # the profile whose Alibaba Cloud DNS holds its zone (dns-01)
    reload_command: Optional[List[str]] = None   # its own ReloadCommand, else [acme]'s

    @property
    def dns_profile(self) -> Optional[str]:
        """The profile the dns-01 solver uses: DNSAccount, else Account."""
        return self.dns_account or self.account


@dataclass
class NotifySettings:
    webhook: Optional[str]
    format: str = "generic"           # generic | dingtalk | feishu | wecom
    on_success: bool = False
    timeout: float = 10.0
    language: str = "en"              # en | zh-CN
    smtp: Optional[str] = None        # host:port, STARTTLS
    mail_from: Optional[str] = None
    mail_to: List[str] = field(default_factory=list)


@dataclass
class Config:
    path: str
    acme: AcmeSettings
    certs: Dict[str, CertSettings]
    cloud: CloudSettings
    notify: Optional[NotifySettings]
    limits: Optional["Limits"] = None   # [limits]: the CA's rate limits (ratelimits.Limits)
    profiles: Dict[str, CloudSettings] = field(default_factory=dict)   # NAME -> settings of [aliyun:NAME]
    probe: Optional["ProbeSettings"] = None     # [probe]: how `status --probe` reaches the edges

    def cloud_for(self, profile: Optional[str] = None) -> CloudSettings:
        """The settings of profile NAME ([aliyun:NAME]), or of [aliyun] for None."""
        return self.profiles[profile] if profile else self.cloud


class _Section:
    """Reads one section; keys match case-insensitively, and only the section's known keys exist."""

    def __init__(self, path, parser, name, known):
        self.path, self.name = path, name
        self.known = {k.lower(): k for k in known}
        self.data, self.spelled = {}, {}
        self.used = set()                       # the keys the reader asked for (lower case)
        for key, value in parser[name].items():
            if key.lower() in self.data:
                raise self.error(key, "is given twice (keys ignore case)")
            self.data[key.lower()], self.spelled[key.lower()] = value, key

    def error(self, key, message):
        return ConfigError(message, self.path, self.name, key)

    def has(self, key):
        return bool((self.data.get(key.lower()) or "").strip())

    def get(self, key, default=None, required=False):
        assert key.lower() in self.known, "%s is not a known key of [%s]" % (key, self.name)
        self.used.add(key.lower())
        value = self.data.get(key.lower())
        if value is not None:
            value = value.strip()
        if not value:
            if required:
                raise self.error(key, "is required")
            return default
        return value

    def path_value(self, key, required=False, must_exist=False, default=None):
        value = self.get(key, required=required)
        if value is None:
            if default is None:
                return None
            value = default
        full = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)),
                                             os.path.expanduser(value)))
        if must_exist and not os.path.isfile(full):
            raise self.error(key, "file %s does not exist" % full)
        return full

    def bool(self, key, default=False):
        value = self.get(key)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.error(key, "%r is not yes/no" % value)

    def number(self, key, default=None, minimum=None, maximum=None, kind=int):
        value = self.get(key)
        if value is None:
            return default
        try:
            n = kind(value)
        except ValueError:
            raise self.error(key, "%r is not a number" % value) from None
        if (minimum is not None and n < minimum) or (maximum is not None and n > maximum):
            raise self.error(key, "%s is out of range (%s to %s)" % (value, minimum, maximum))
        return n

    def choice(self, key, choices, default=None):
        value = self.get(key)
        if value is None:
            return default
        if value.lower() not in choices:
            raise self.error(key, "%r is not one of %s" % (value, ", ".join(choices)))
        return value.lower()

    def check_unknown(self):
        """Raise for the first key this section does not know, suggesting the closest known one."""
        for low in sorted(self.data):
            if low not in self.known:
                raise config_checks.unknown_key(self.path, self.name, self.spelled[low], self.known.values())


def load(path: str) -> "Config":
    """Read and validate acme.ini; raises ConfigError naming file, section and key."""
    path = os.path.abspath(path)
    parser = _read(path)
    acme_names = _acme_section(path, parser)
    defaults = _account_profiles(path, parser)      # target defaults come from here
    cloud = defaults.cloud
    sec = _Section(path, parser, acme_names[0], ACME_KEYS + tuple(k for k in cert_keys() if k != "Domains"))
    acme = _acme(sec)
    certs = {}
    if sec.has("CSRFile"):
        cert = _article_cert(sec, acme, defaults)
        certs[cert.name] = cert
    else:
        _no_article_keys(sec)
    sec.check_unknown()
    notify, probe = None, None
    limits = ratelimits.Limits()
    for name in parser.sections():
        lower = name.lower()
        if lower in ACME_SECTIONS or _is_profile_section(lower):
            continue
        if lower.startswith("cert:"):
            s = _Section(path, parser, name, cert_keys())
            cert = _cert(s, name[5:].strip(), acme, defaults)
            if cert.name in certs:
                raise ConfigError("certificate %r is defined twice" % cert.name, path, name)
            certs[cert.name] = cert
        elif lower == "notify":
            s = _Section(path, parser, name, NOTIFY_KEYS)
            notify = _notify(s)
        elif lower == "limits":
            s = _Section(path, parser, name, LIMITS_KEYS)
            limits = ratelimits.from_section(s)
        elif lower == "probe":
            s = _Section(path, parser, name, PROBE_KEYS)
            probe = _probe(s)
        else:
            raise config_checks.unknown_section(path, name)
        s.check_unknown()
    _cross_checks(path, list(certs.values()))
    return Config(path=path, acme=acme, certs=certs, cloud=cloud, notify=notify, profiles=defaults.profiles,
                  limits=limits, probe=probe)


def _acme_section(path, parser):
    """The names of the [acme] (or [acme-neoprime]) section: exactly one must be there."""
    acme_names = [s for s in parser.sections() if s.lower() in ACME_SECTIONS]
    if not acme_names:
        raise ConfigError("missing section [acme] (or [acme-neoprime])", path)
    if len(acme_names) > 1:
        raise ConfigError("both [acme] and [acme-neoprime] are present; keep one", path)
    return acme_names


def _probe(sec):
    from acme_aliyun.probe import ProbeSettings, parse_resolve
    try:
        resolve = parse_resolve(sec.get("Resolve", ""))
    except ValueError as e:
        raise sec.error("Resolve", str(e)) from None
    return ProbeSettings(resolve=resolve, port=sec.number("Port", 443, 1, 65535),
                         timeout=sec.number("Timeout", 5.0, 0.1, 120, kind=float))


def _read(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True, default_section="\x00none")
    parser.optionxform = str        # keep the user's spelling for messages; _Section ignores case
    try:
        with open(path, encoding="utf-8-sig") as fh:      # -sig: Windows Notepad's byte order mark
            parser.read_file(fh)
    except FileNotFoundError:
        raise ConfigError("file does not exist", path) from None
    except PermissionError:
        from acme_aliyun.perms import permission_error
        raise ConfigError(permission_error(path, "read")) from None
    except OSError as e:
        raise ConfigError("cannot read: %s" % e.strerror, path) from None
    except (UnicodeDecodeError, configparser.Error) as e:
        raise ConfigError("not a valid ini file: %s" % ini_error(e), path) from None
    return parser


def _no_article_keys(sec):
    """Certificate keys in [acme] only make sense with the article's CSRFile."""
    for key in cert_keys():
        if key.lower() not in (k.lower() for k in ACME_KEYS) and key.lower() in sec.data:
            raise sec.error(sec.spelled[key.lower()], "applies only with CSRFile here; "
                                                      "put it in a [cert:NAME] section")


def _cross_checks(path, certs):
    """What no single key shows: KeyFile/ChainFile folders, target coverage, shared targets."""
    for cert in certs:
        for key, file in (("KeyFile", cert.key_file), ("ChainFile", cert.chain_file)):
            if file and not os.path.isdir(os.path.dirname(file)):
                raise ConfigError("folder %s does not exist (create it first)" % os.path.dirname(file),
                                  path, cert.section, key)
        config_checks.check_coverage(path, cert, config_checks.target_entries(cert.targets))
    config_checks.check_shared_targets(path, certs)


def _directory_url(sec):
    """ACMEDirectory: an https URL or an alias; plain http only on loopback (a local test CA)."""
    raw = sec.get("ACMEDirectory", required=True)
    url = DIRECTORY_ALIASES.get(raw.lower(), raw)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise sec.error("ACMEDirectory", "%r is not an https URL (or letsencrypt / letsencrypt-staging)" % raw)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise sec.error("ACMEDirectory", "%r uses plain http; ACME requires https (plain http only on "
                                         "loopback: 127.0.0.0/8, ::1, localhost)" % raw)
    return url


def _contacts(sec):
    """Contacts: mailto: addresses separated by semicolons."""
    contacts = []
    for item in (sec.get("Contacts") or "").split(";"):
        item = item.strip()
        if not item:
            continue
        if not item.lower().startswith("mailto:"):
            raise sec.error("Contacts", "%r must start with mailto:" % item)
        addr = item[7:]
        if not _EMAIL.match(addr):
            raise sec.error("Contacts", "%r is not an email address (write mailto:name@example.com)" % item)
        contacts.append("mailto:" + addr)
    return contacts


def _eab(sec):
    """(EABKeyId, EABHMACKey): both or neither, the key base64url text."""
    eab_kid, eab_key = sec.get("EABKeyId"), sec.get("EABHMACKey")
    if bool(eab_kid) != bool(eab_key):
        raise sec.error("EABKeyId" if not eab_kid else "EABHMACKey",
                        "EABKeyId and EABHMACKey go together; set both or neither")
    if eab_key and not re.match(r"^[A-Za-z0-9_-]+=*$", eab_key):
        raise sec.error("EABHMACKey", "is not base64url text")
    return eab_kid, eab_key


def _acme(sec):
    url = _directory_url(sec)
    contacts = _contacts(sec)
    eab_kid, eab_key = _eab(sec)
    ca_bundle = sec.path_value("CABundle", must_exist=True)
    ca_bundle_in_ini, ca_bundle = ca_bundle is not None, ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or None
    user_agent = sec.get("UserAgent")
    if user_agent and not re.match(r"^[\x21-\x7e][\x20-\x7e]*$", user_agent):
        raise sec.error("UserAgent", "must be printable ASCII")
    language = sec.get("Language")
    if language and not re.match(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*(\s*,\s*[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*"
                                 r"(;q=[01](\.\d+)?)?)*$", language):
        raise sec.error("Language", "%r is not a language tag such as en or zh-CN" % language)
    return AcmeSettings(
        directory_url=url,
        account_key_file=sec.path_value("AccountKeyFile", required=True),
        contacts=contacts,
        user_agent=user_agent,
        language=language,
        state_dir=_state_dir(sec),
        ca_bundle=ca_bundle,
        key_type=sec.choice("KeyType", KEY_TYPES, default="ec-256"),
        eab_kid=eab_kid,
        eab_hmac_key=eab_key,
        section=sec.name,
        config_path=sec.path,
        validation_timeout=sec.number("ValidationTimeout", default=300, minimum=1, maximum=86400),
        ca_bundle_in_ini=ca_bundle_in_ini,
        parallel=sec.number("Parallel", default=4, minimum=1, maximum=64),
        run_budget=sec.number("RunBudget", default=None, minimum=1, kind=float),
        reload_command=reload_command(sec),
    )


def _state_dir(sec) -> str:
    """StateDir: a folder (relative to the ini), or oss://bucket/prefix (state_oss.py)."""
    value = sec.get("StateDir")
    if value and value.lower().startswith("oss://"):
        from acme_aliyun.state_oss import parse_url
        try:
            parse_url(value)
        except ValueError as e:
            raise sec.error("StateDir", str(e)) from None
        return value
    return sec.path_value("StateDir", default="state")


def reload_command(sec: Any) -> Optional[List[str]]:
    """ReloadCommand as an argument list (shlex rules, no shell), or None."""
    import shlex
    value = sec.get("ReloadCommand")
    if value is None:
        return None
    try:
        argv = shlex.split(value)
    except ValueError as e:
        raise sec.error("ReloadCommand", "cannot be split into words: %s" % e) from None
    if not argv:
        raise sec.error("ReloadCommand", "is empty")
    return argv


def _loopback(host):
    """localhost, 127.0.0.0/8 or ::1: the only places a plain-http ACME directory is allowed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _domains(sec, key, raw, allow_wildcard=True):
    out = []
    for item in raw.split(","):
        if not item.strip():
            if raw.strip():
                raise sec.error(key, "has an empty entry (check the commas)")
            continue
        shape = config_checks.value_shape(item)
        if shape:
            raise sec.error(key, shape)
        try:
            name = normalize_domain(item, allow_wildcard=allow_wildcard)
        except NameError_ as e:
            raise sec.error(key, str(e)) from None
        if name not in out:
            out.append(name)
    return out


def _challenge_settings(sec, cert):
    cert.challenge = sec.choice("Challenge", ("http-01", "dns-01"), default=cert.challenge)
    cert.webroot = sec.path_value("Webroot")
    listen = sec.get("HTTPListen")
    if listen:
        cert.http_listen = _listen(sec, listen)
    cert.dns_provider = sec.choice("DNSProvider", ("alidns", "hook"))
    _dns_hook(sec, cert)
    if cert.challenge == "http-01":
        _http01(sec, cert)
    else:
        _dns01(sec, cert)


def _dns_hook(sec, cert):
    """DNSHook (a command line) and DNSHookEnv (the variable names it is given)."""
    hook = sec.get("DNSHook")
    if hook:
        try:
            shlex.split(hook)
        except ValueError as e:
            raise sec.error("DNSHook", "cannot be parsed as a command: %s" % e) from None
        cert.dns_hook = hook
    names = (sec.get("DNSHookEnv") or "").replace(",", " ").split()
    bad = [n for n in names if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n)]
    if bad:
        raise sec.error("DNSHookEnv", "%r is not an environment variable name" % bad[0])
    cert.dns_hook_env = names


def _http01(sec, cert):
    if cert.webroot and cert.http_listen:
        raise sec.error("Webroot", "set Webroot or HTTPListen, not both")
    if not cert.webroot and not cert.http_listen:
        cert.http_listen = ":80"
    if any(d.startswith("*.") for d in cert.domains):
        raise sec.error("Challenge", "wildcard names need dns-01")


def _dns01(sec, cert):
    if cert.dns_provider is None:
        cert.dns_provider = "hook" if cert.dns_hook else None
    if cert.dns_provider is None:
        raise sec.error("DNSProvider", "dns-01 needs DNSProvider = alidns or hook")
    if cert.dns_provider == "hook" and not cert.dns_hook:
        raise sec.error("DNSHook", "DNSProvider = hook needs a DNSHook command")


def _listen(sec, value):
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise sec.error("HTTPListen", "%r is not host:port (e.g. :80 or 127.0.0.1:8080)" % value)
    return value


def _cert_common(sec, cert, acme, defaults):
    cert.key_type = sec.choice("KeyType", KEY_TYPES, default=acme.key_type)
    cert.reuse_key = sec.bool("ReuseKey", False)
    cert.profile = sec.get("Profile")
    cert.preferred_chain = sec.get("PreferredChain")
    cert.renew_before_days = sec.number("RenewBeforeDays", minimum=1, maximum=365)
    cert.key_file = sec.path_value("KeyFile")
    cert.chain_file = sec.path_value("ChainFile")
    cert.reload_command = reload_command(sec) or acme.reload_command
    cert.account, cert.dns_account = defaults.pick(sec)
    cert.targets = _targets(sec, defaults.target_defaults(cert.account))
    _challenge_settings(sec, cert)


def _targets(sec, defaults):
    """Every registered kind's ini key, parsed by the kind; only kinds with targets are kept."""
    from acme_aliyun.targets import KINDS
    out = {}
    for kind in KINDS.values():
        raw = sec.get(kind.ini_key) or ""
        for item in [i for i in raw.split(",") if i.strip()]:
            shape = config_checks.value_shape(item)
            if shape:
                raise sec.error(kind.ini_key, shape)
        try:
            specs = kind.parse(raw, defaults)
        except ValueError as e:
            raise sec.error(kind.ini_key, str(e)) from None
        if specs:
            out[kind.name] = specs
    return out


def _cert(sec, name, acme, defaults):
    if not _CERT_NAME.match(name):
        raise ConfigError("certificate name %r: use letters, digits, '.', '_' or '-'" % name, sec.path, sec.name)
    csr_file = sec.path_value("CSRFile")
    raw = sec.get("Domains", required=not csr_file)
    domains = _domains(sec, "Domains", raw) if raw else []
    cert = CertSettings(name=name, domains=domains, challenge="http-01", csr_file=csr_file, section=sec.name)
    if csr_file:
        _csr_later(sec, cert)
    if len(cert.domains) > 100:
        raise sec.error("Domains", "%d names; a certificate holds at most 100" % len(cert.domains))
    _cert_common(sec, cert, acme, defaults)
    return cert


def _csr_later(sec, cert):
    """Names from the CSR when it can be read now; else keep the error for the command that needs it
    (the article writes acme.ini before the CSR exists)."""
    try:
        if not os.path.isfile(cert.csr_file):
            raise sec.error("CSRFile", "file %s does not exist" % cert.csr_file)
        cert.domains = _csr_domains(sec, cert.csr_file, cert.domains)
    except ConfigError as e:
        cert.csr_error = e


def _csr_domains(sec, csr_file, domains):
    from acme_aliyun.pki import KeyFileError, csr_names, load_csr
    try:
        names = csr_names(load_csr(csr_file))
    except KeyFileError as e:
        raise sec.error("CSRFile", str(e)) from None
    try:
        from_csr = [normalize_domain(n) for n in names]
    except NameError_ as e:
        raise sec.error("CSRFile", str(e)) from None
    if domains and sorted(domains) != sorted(set(from_csr)):
        raise sec.error("Domains", "names differ from the CSR's (%s)" % ", ".join(from_csr))
    return list(dict.fromkeys(from_csr))


def _article_cert(sec, acme, defaults):
    """[acme-neoprime] CSRFile + ChainFile: one certificate named after the CSR file."""
    csr_file = sec.path_value("CSRFile")
    base = os.path.basename(csr_file)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", base[:-4] if base.lower().endswith(".csr") else base) or "default"
    cert = CertSettings(name=name, domains=[], challenge="http-01", csr_file=csr_file, section=sec.name)
    _csr_later(sec, cert)
    _cert_common(sec, cert, acme, defaults)
    return cert


def _aliyun(sec):
    s = CloudSettings(config_file=sec.path)
    s.region = sec.get("Region", "cn-hangzhou")
    if not re.match(r"^[a-z]{2,4}(-[a-z0-9]+)+$", s.region):
        raise sec.error("Region", "%r is not a region id such as cn-hangzhou" % s.region)
    s.international = sec.bool("International", False)
    s.cert_region = sec.choice("CertRegion", ("cn-hangzhou", "ap-southeast-1"),
                               default="ap-southeast-1" if s.international else "cn-hangzhou")
    s.upload = sec.choice("Upload", ("cas", "direct"), default="cas")
    s.endpoint = _endpoint(sec, "Endpoint")
    for product, key in _endpoint_keys():
        value = _endpoint(sec, key)
        if value is not None:
            s.endpoints[product] = value
    s.access_key_id = sec.get("AccessKeyId")
    s.access_key_secret = sec.get("AccessKeySecret")
    if bool(s.access_key_id) != bool(s.access_key_secret):
        raise sec.error("AccessKeySecret" if s.access_key_id else "AccessKeyId",
                        "AccessKeyId and AccessKeySecret go together")
    s.ram_role = sec.get("RamRole")
    _role_keys(sec, s)
    s.connect_timeout = sec.number("ConnectTimeout", 5.0, 0.1, 120, kind=float)
    s.read_timeout = sec.number("ReadTimeout", 20.0, 0.1, 600, kind=float)
    s.dns_ttl = sec.number("DNSTTL", 600, 1, 86400)
    s.dns_wait = sec.bool("DNSWait", False)
    s.dns_wait_timeout = sec.number("DNSWaitTimeout", 300.0, 1, 3600, kind=float)
    return s


def _endpoint_keys():
    """(product key, [aliyun] key) for every per-product endpoint override."""
    from acme_aliyun.targets import KINDS, cas
    return [(k.facts.key, k.endpoint_key) for k in KINDS.values()] + [(cas.KEY, "CASEndpoint"),
                                                                        ("dns", "DNSEndpoint"), ("sts", "STSEndpoint")]


def _endpoint(sec, key):
    value = sec.get(key)
    if value is not None:
        _check_endpoint(sec, key, value)
    return value


# --- account profiles: [aliyun] and [aliyun:NAME] ----------------------------------------------
# The keys an [aliyun] or [aliyun:NAME] section may hold: ALIYUN_KEYS plus one endpoint key per
# product (aliyun_keys(); the deploy kinds name theirs); and what a certificate says about them.
ALIYUN_KEYS = ("Region", "International", "CertRegion", "Upload", "Endpoint", "AccessKeyId", "AccessKeySecret",
               "RamRole", "RoleArn", "ExternalId", "RoleSessionName", "ConnectTimeout", "ReadTimeout", "DNSTTL",
               "DNSWait", "DNSWaitTimeout")
CERT_ACCOUNT_KEYS = ("Account", "DNSAccount")


def aliyun_keys() -> tuple:
    """Every key of an [aliyun] / [aliyun:NAME] section."""
    return ALIYUN_KEYS + tuple(key for _, key in _endpoint_keys())


_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ROLE_ARN = re.compile(r"^acs:ram::[0-9*]+:role/\S+$")
_SESSION_NAME = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")


def _is_profile_section(lower):
    return lower == "aliyun" or lower.startswith("aliyun:")


def _role_keys(sec, s):
    """RoleArn (+ ExternalId, RoleSessionName): STS AssumeRole on top of the profile's credentials."""
    s.role_arn = sec.get("RoleArn")
    if s.role_arn and not _ROLE_ARN.match(s.role_arn):
        raise sec.error("RoleArn", "%r is not a RAM role ARN such as acs:ram::123456789012:role/acme" % s.role_arn)
    s.external_id = sec.get("ExternalId")
    s.role_session_name = sec.get("RoleSessionName")
    if s.role_session_name and not _SESSION_NAME.match(s.role_session_name):
        raise sec.error("RoleSessionName", "use 2 to 64 letters, digits or . @ _ -")
    for key in ("ExternalId", "RoleSessionName"):
        if sec.get(key) and not s.role_arn:
            raise sec.error(key, "only applies with RoleArn")


class _Accounts:
    """The default profile ([aliyun]) and the named ones ([aliyun:NAME]), as config.load reads them."""

    def __init__(self, path, cloud, profiles):
        self.path, self.cloud, self.profiles = path, cloud, profiles

    def pick(self, sec):
        """(Account, DNSAccount) of a certificate section; ConfigError naming the key for an unknown NAME."""
        chosen = []
        for key in CERT_ACCOUNT_KEYS:
            name = sec.get(key)
            if name is not None and name not in self.profiles:
                known = ", ".join("[aliyun:%s]" % n for n in self.profiles) or "none"
                raise sec.error(key, "no [aliyun:%s] section (account profiles: %s)" % (name, known))
            chosen.append(name)
        return chosen[0], chosen[1]

    def target_defaults(self, account):
        return _target_defaults(self.profiles[account] if account else self.cloud)


def _account_profiles(path, parser) -> "_Accounts":
    """Read [aliyun] and every [aliyun:NAME]: each stands alone (nothing is inherited from [aliyun],
    so a second account never borrows the first one's keys) and takes every key of ALIYUN_KEYS."""
    cloud, profiles = CloudSettings(config_file=path), {}
    for name in parser.sections():
        lower = name.lower()
        if not _is_profile_section(lower):
            continue
        s = _Section(path, parser, name, aliyun_keys())
        profile = name.split(":", 1)[1].strip() if ":" in name else ""
        if ":" in name and not _PROFILE_NAME.match(profile):
            raise ConfigError("profile name %r: use letters, digits, '.', '_' or '-'" % profile, path, name)
        settings = _aliyun(s)
        settings.profile = profile
        register_secret(settings.access_key_secret)     # masked from the start, like [aliyun]'s
        if not profile:
            cloud = settings
        elif profile in profiles:
            raise ConfigError("account profile %r is defined twice" % profile, path, name)
        else:
            profiles[profile] = settings
        s.check_unknown()
    return _Accounts(path, cloud, profiles)


def _target_defaults(cloud):
    from acme_aliyun.targets.base import ParseDefaults
    return ParseDefaults(region=cloud.region)


def _check_endpoint(sec, key, value):
    parts = urlsplit(value if "://" in value else "//" + value)
    if parts.scheme not in ("", "http", "https") or not parts.hostname:
        raise sec.error(key, "%r is not host[:port] or an http(s) URL" % value)
    try:
        parts.port
    except ValueError:
        raise sec.error(key, "%r has a bad port" % value) from None


def _notify(sec):
    url = sec.get("Webhook")
    smtp = sec.get("SMTP")
    if not url and not smtp:
        raise sec.error("Webhook", "is required (or SMTP = host:port for email)")
    if url:
        _check_webhook(sec, url)
    s = NotifySettings(
        webhook=url,
        format=sec.choice("Format", ("generic", "dingtalk", "feishu", "wecom"), default="generic"),
        on_success=sec.bool("OnSuccess", False),
        timeout=sec.number("Timeout", 10.0, 1, 120, kind=float),
        language="zh-CN" if sec.choice("Language", ("en", "zh-cn"), default="en") == "zh-cn" else "en",
    )
    if smtp:
        _smtp_settings(sec, s, smtp)
    return s


def _check_webhook(sec, url):
    """An http(s) URL; plain http only on loopback. Its tokens are masked in every message from here on."""
    from acme_aliyun.notify import is_loopback_host, mask_webhook_url, register_webhook_secrets
    register_webhook_secrets(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise sec.error("Webhook", "%s is not an http(s) URL" % mask_webhook_url(url)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise sec.error("Webhook", "%s is not an http(s) URL" % mask_webhook_url(url))
    if parts.scheme == "http" and not is_loopback_host(host):
        raise sec.error("Webhook", "%s uses plain http: the message and the token in the URL would cross the "
                                   "network in clear; use https" % mask_webhook_url(url))


def _smtp_settings(sec, s, smtp):
    host, sep, port = smtp.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise sec.error("SMTP", "%r is not host:port (e.g. smtp.example.com:587)" % smtp)
    s.smtp = smtp
    s.mail_from = sec.get("From", required=True)
    s.mail_to = [a.strip() for a in sec.get("To", required=True).split(",") if a.strip()]
    for key, addr in [("From", s.mail_from)] + [("To", a) for a in s.mail_to]:
        if not _EMAIL.match(addr):
            raise sec.error(key, "%r is not an email address" % addr)
