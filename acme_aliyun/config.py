"""acme.ini → typed settings. Every check lives here; every error names file, section and key.

Sections:
  [acme]         (or the original article's [acme-neoprime]) the CA and the account
  [cert:NAME]    one certificate each: names, challenge, key, where to deploy it
  [aliyun]       Alibaba Cloud region, endpoints, optional keys
  [notify]       optional webhook for failures
An [acme-neoprime] section that has CSRFile also defines one certificate whose
names come from the CSR, as in the article series.
"""

import configparser
import logging
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional
from urllib.parse import urlsplit

from acme_aliyun.cloud.settings import CloudSettings
from acme_aliyun.errors import ConfigError, ini_error
from acme_aliyun.names import NameError_, normalize_domain
from acme_aliyun.keytypes import KEY_TYPES

log = logging.getLogger(__name__)

DIRECTORY_ALIASES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ACME_SECTIONS = ("acme", "acme-neoprime")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_GROUP_ID = re.compile(r"^[0-9a-f]{32}$")
_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")


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
    ca_bundle_in_ini: bool = False     # [acme] CABundle set (not only REQUESTS_CA_BUNDLE): a private CA is meant


@dataclass
class Targets:
    """Where a certificate goes: CDN and DCDN domains, API Gateway "GroupId:domain" or "GroupId"."""

    cdn: List[str] = field(default_factory=list)
    dcdn: List[str] = field(default_factory=list)
    apigateway: List[str] = field(default_factory=list)     # "GroupId:domain" or "GroupId"

    def __bool__(self):
        return bool(self.cdn or self.dcdn or self.apigateway)


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
    targets: Targets = field(default_factory=Targets)
    section: str = ""


@dataclass
class NotifySettings:
    webhook: str
    format: str = "generic"           # generic | dingtalk | feishu
    on_success: bool = False
    timeout: float = 10.0


@dataclass
class Config:
    path: str
    acme: AcmeSettings
    certs: Dict[str, CertSettings]
    cloud: CloudSettings
    notify: Optional[NotifySettings]
    warnings: List[str] = field(default_factory=list)


class _Section:
    """Reads one section, remembering which keys were used so the rest can be warned about."""

    def __init__(self, path, parser, name):
        self.path, self.name, self.data = path, name, parser[name]
        self.used = set()

    def error(self, key, message):
        return ConfigError(message, self.path, self.name, key)

    def get(self, key, default=None, required=False):
        self.used.add(key.lower())
        value = self.data.get(key)
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

    def unknown_keys(self):
        return sorted(k for k in self.data.keys() if k.lower() not in self.used)


def load(path):
    """Read and validate acme.ini; raises ConfigError naming file, section and key."""
    path = os.path.abspath(path)
    parser = configparser.ConfigParser(interpolation=None, strict=True, default_section="\x00none")
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        raise ConfigError("file does not exist", path) from None
    except OSError as e:
        raise ConfigError("cannot read: %s" % e.strerror, path) from None
    except (UnicodeDecodeError, configparser.Error) as e:
        raise ConfigError("not a valid ini file: %s" % ini_error(e), path) from None
    warnings = []
    acme_names = [s for s in parser.sections() if s.lower() in ACME_SECTIONS]
    if not acme_names:
        raise ConfigError("missing section [acme] (or [acme-neoprime])", path)
    if len(acme_names) > 1:
        raise ConfigError("both [acme] and [acme-neoprime] are present; keep one", path)
    sec = _Section(path, parser, acme_names[0])
    acme = _acme(sec)
    certs = {}
    if sec.get("CSRFile"):
        cert = _article_cert(sec, acme)
        certs[cert.name] = cert
    warnings += _unknown(sec)
    cloud = CloudSettings(config_file=path)
    notify = None
    for name in parser.sections():
        lower = name.lower()
        if lower in ACME_SECTIONS:
            continue
        s = _Section(path, parser, name)
        if lower.startswith("cert:"):
            cert = _cert(s, name[5:].strip(), acme)
            if cert.name in certs:
                raise ConfigError("certificate %r is defined twice" % cert.name, path, name)
            certs[cert.name] = cert
        elif lower == "aliyun":
            cloud = _aliyun(s)
        elif lower == "notify":
            notify = _notify(s)
        else:
            warnings.append("%s: unknown section [%s] ignored" % (path, name))
            continue
        warnings += _unknown(s)
    for w in warnings:
        log.warning("%s", w)
    return Config(path=path, acme=acme, certs=certs, cloud=cloud, notify=notify, warnings=warnings)


def _unknown(sec):
    return ["%s: [%s] unknown key %s ignored" % (sec.path, sec.name, k) for k in sec.unknown_keys()]


def _acme(sec):
    raw = sec.get("ACMEDirectory", required=True)
    url = DIRECTORY_ALIASES.get(raw.lower(), raw)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise sec.error("ACMEDirectory", "%r is not an https URL (or letsencrypt / letsencrypt-staging)" % raw)
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise sec.error("ACMEDirectory", "%r uses plain http; ACME requires https" % raw)
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
    eab_kid, eab_key = sec.get("EABKeyId"), sec.get("EABHMACKey")
    if bool(eab_kid) != bool(eab_key):
        raise sec.error("EABKeyId" if not eab_kid else "EABHMACKey",
                        "EABKeyId and EABHMACKey go together; set both or neither")
    if eab_key and not re.match(r"^[A-Za-z0-9_-]+=*$", eab_key):
        raise sec.error("EABHMACKey", "is not base64url text")
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
        state_dir=sec.path_value("StateDir", default="state"),
        ca_bundle=ca_bundle,
        key_type=sec.choice("KeyType", KEY_TYPES, default="ec-256"),
        eab_kid=eab_kid,
        eab_hmac_key=eab_key,
        section=sec.name,
        config_path=sec.path,
        ca_bundle_in_ini=ca_bundle_in_ini,
    )


def _domains(sec, key, raw, allow_wildcard=True):
    out = []
    for item in raw.split(","):
        if not item.strip():
            if raw.strip():
                raise sec.error(key, "has an empty entry (check the commas)")
            continue
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
    if cert.challenge == "http-01":
        if cert.webroot and cert.http_listen:
            raise sec.error("Webroot", "set Webroot or HTTPListen, not both")
        if not cert.webroot and not cert.http_listen:
            cert.http_listen = ":80"
        if any(d.startswith("*.") for d in cert.domains):
            raise sec.error("Challenge", "wildcard names need dns-01")
    else:
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


def _cert_common(sec, cert, acme):
    cert.key_type = sec.choice("KeyType", KEY_TYPES, default=acme.key_type)
    cert.reuse_key = sec.bool("ReuseKey", False)
    cert.profile = sec.get("Profile")
    cert.preferred_chain = sec.get("PreferredChain")
    cert.renew_before_days = sec.number("RenewBeforeDays", minimum=1, maximum=365)
    cert.key_file = sec.path_value("KeyFile")
    cert.chain_file = sec.path_value("ChainFile")
    cert.targets = Targets(
        cdn=_domains(sec, "CDN", sec.get("CDN") or "", allow_wildcard=True),
        dcdn=_domains(sec, "DCDN", sec.get("DCDN") or "", allow_wildcard=True),
        apigateway=_apigateway(sec, sec.get("APIGateway") or ""),
    )
    _challenge_settings(sec, cert)


def _apigateway(sec, raw):
    out = []
    for item in [i.strip() for i in raw.split(",") if i.strip()]:
        group, _, domain = item.partition(":")
        group = group.strip().lower()
        if not _GROUP_ID.match(group):
            raise sec.error("APIGateway", "%r: the GroupId must be 32 hex characters" % item)
        if domain.strip():
            try:
                domain = normalize_domain(domain, allow_wildcard=True)
            except NameError_ as e:
                raise sec.error("APIGateway", str(e)) from None
            out.append("%s:%s" % (group, domain))
        else:
            out.append(group)
    return out


def _cert(sec, name, acme):
    if not _CERT_NAME.match(name):
        raise ConfigError("certificate name %r: use letters, digits, '.', '_' or '-'" % name, sec.path, sec.name)
    csr_file = sec.path_value("CSRFile", must_exist=True)
    raw = sec.get("Domains", required=not csr_file)
    domains = _domains(sec, "Domains", raw) if raw else []
    if csr_file:
        domains = _csr_domains(sec, csr_file, domains)
    if len(domains) > 100:
        raise sec.error("Domains", "%d names; a certificate holds at most 100" % len(domains))
    cert = CertSettings(name=name, domains=domains, challenge="http-01", csr_file=csr_file, section=sec.name)
    _cert_common(sec, cert, acme)
    return cert


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


def _article_cert(sec, acme):
    """[acme-neoprime] CSRFile + ChainFile: one certificate named after the CSR file."""
    csr_file = sec.path_value("CSRFile", must_exist=True)
    base = os.path.basename(csr_file)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", base[:-4] if base.lower().endswith(".csr") else base) or "default"
    cert = CertSettings(name=name, domains=_csr_domains(sec, csr_file, []), challenge="http-01",
                        csr_file=csr_file, section=sec.name)
    _cert_common(sec, cert, acme)
    return cert


def _aliyun(sec):
    s = CloudSettings(config_file=sec.path)
    s.region = sec.get("Region", "cn-hangzhou")
    if not re.match(r"^[a-z]{2,4}(-[a-z0-9]+)+$", s.region):
        raise sec.error("Region", "%r is not a region id such as cn-hangzhou" % s.region)
    s.international = sec.bool("International", False)
    s.cert_region = sec.choice("CertRegion", ("cn-hangzhou", "ap-southeast-1"),
                               default="ap-southeast-1" if s.international else None)
    for key, attr in (("Endpoint", "endpoint"), ("CDNEndpoint", "cdn_endpoint"), ("DCDNEndpoint", "dcdn_endpoint"),
                      ("APIGatewayEndpoint", "apigateway_endpoint"), ("DNSEndpoint", "dns_endpoint")):
        value = sec.get(key)
        if value is not None:
            _check_endpoint(sec, key, value)
        setattr(s, attr, value)
    s.access_key_id = sec.get("AccessKeyId")
    s.access_key_secret = sec.get("AccessKeySecret")
    if bool(s.access_key_id) != bool(s.access_key_secret):
        raise sec.error("AccessKeySecret" if s.access_key_id else "AccessKeyId",
                        "AccessKeyId and AccessKeySecret go together")
    s.ram_role = sec.get("RamRole")
    s.connect_timeout = sec.number("ConnectTimeout", 5.0, 0.1, 120, kind=float)
    s.read_timeout = sec.number("ReadTimeout", 20.0, 0.1, 600, kind=float)
    s.dns_ttl = sec.number("DNSTTL", 600, 1, 86400)
    s.dns_wait = sec.bool("DNSWait", False)
    s.dns_wait_timeout = sec.number("DNSWaitTimeout", 300.0, 1, 3600, kind=float)
    return s


def _check_endpoint(sec, key, value):
    parts = urlsplit(value if "://" in value else "//" + value)
    if parts.scheme not in ("", "http", "https") or not parts.hostname:
        raise sec.error(key, "%r is not host[:port] or an http(s) URL" % value)
    try:
        parts.port
    except ValueError:
        raise sec.error(key, "%r has a bad port" % value) from None


def _notify(sec):
    from acme_aliyun.notify import is_loopback_host, masked_url, register_url_secrets
    url = sec.get("Webhook", required=True)
    register_url_secrets(url)           # robot tokens: masked in every message from here on
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise sec.error("Webhook", "%s is not an http(s) URL" % masked_url(url)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise sec.error("Webhook", "%s is not an http(s) URL" % masked_url(url))
    if parts.scheme == "http" and not is_loopback_host(host):
        raise sec.error("Webhook", "%s uses plain http: the message and the token in the URL would cross the "
                                   "network in clear; use https" % masked_url(url))
    return NotifySettings(
        webhook=url,
        format=sec.choice("Format", ("generic", "dingtalk", "feishu"), default="generic"),
        on_success=sec.bool("OnSuccess", False),
        timeout=sec.number("Timeout", 10.0, 1, 120, kind=float),
    )
