"""Emulator: the public face — start/stop the loopback server, seed resources, steer faults, read the
call log and the stored state."""

import threading
from typing import List, Optional

from .auth import Authenticator
from .calllog import CallLog
from .certs import load_upload
from .certstore import SITES
from .challtestsrv import TxtMirror
from .config import FAULT_KINDS, EmulatorConfig
from .faults import FaultInjector
from .keywatch import KeyWatch
from .ratelimit import RateLimiter
from .server import Dispatcher, EmulatorHTTPServer
from .state import ApiDomain, ApiGroup, CdnDomain, DeployedCert, DnsZone, Role, State, accelerated_name, utcnow


class Emulator:
    """A loopback Alibaba Cloud OpenAPI (Cdn, dcdn, CloudAPI, cas, Alidns) for the legacy Python SDK.

        emu = Emulator(EmulatorConfig(accounts={"testak": "testsecret"})).start()
        req.set_endpoint(emu.endpoint)
        ...
        emu.stop()
    """

    def __init__(self, config=None):
        self.config = config or EmulatorConfig()
        c = self.config
        self._state = State(names_per_site=c.cas_names_per_site, listing_lag=c.listing_lag)
        self._auth = Authenticator(c.accounts, c.timestamp_tolerance_s, c.nonce_ttl_s)
        self._faults = FaultInjector(c.fault_rate, c.fault_kinds, c.fault_seed, c.fault_actions)
        self._calls = CallLog()
        self._keys = KeyWatch()
        self._stopping = threading.Event()
        mirror = TxtMirror(c.challtestsrv_url) if c.challtestsrv_url else None
        self._dispatcher = Dispatcher(c, self._state, self._auth, RateLimiter(c.qps_limit, c.enforce_qps),
                                      self._faults, self._calls, mirror, self._stopping, self._keys)
        self._server = None
        self._thread = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, port=0):
        """Listen on 127.0.0.1:port (0 = a free port) in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        self._server = EmulatorHTTPServer(port, self._dispatcher)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="aliyun-emulator",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()          # ends latency and timeout sleeps
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self):
        return self if self._server else self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.endpoint

    # -- seeding ---------------------------------------------------------------------------------
    def add_sts_credentials(self, access_key_id, access_key_secret, security_token, expires_in=3600):
        """Temporary credentials; requests must carry the matching SecurityToken until they expire."""
        self._auth.add_sts(access_key_id, access_key_secret, security_token, expires_in)

    def add_role(self, arn, max_session_s=3600, external_id=None, oidc_provider_arn=None, oidc_token=None):
        """A RAM role STS AssumeRole hands credentials of (ExternalId required when given); with
        oidc_provider_arn and oidc_token, AssumeRoleWithOIDC accepts exactly that provider and token."""
        with self._state.lock:
            self._state.roles[arn] = Role(arn, max_session_s, external_id, oidc_provider_arn, oidc_token)

    def advance_sts_clock(self, seconds):
        """Age every STS credential by ``seconds`` (minting and expiry run on this clock; request
        Timestamps are still checked against the real time)."""
        self._auth.advance_sts_clock(seconds)

    def sts_issued(self):
        """The credentials STS minted, oldest first: dicts action, role_arn, session, access_key_id,
        expires_at (epoch seconds on the STS clock)."""
        with self._state.lock:
            return [dict(i) for i in self._state.sts_issued]

    def add_cdn_domain(self, domain, status="online", cert_pem=None, key_pem=None, cert_name=None, cdn_type="web"):
        """A CDN domain; with cert_pem+key_pem it already serves HTTPS (even an expired certificate).

        A wildcard accelerated domain is stored as the API names it, with a leading dot: ``.example.test``
        (``*.example.test`` is accepted here and stored so; the API itself refuses the ``*.`` form)."""
        self._add_accelerated(self._state.cdn, domain, status, cert_pem, key_pem, cert_name, cdn_type)

    def add_dcdn_domain(self, domain, status="online", cert_pem=None, key_pem=None, cert_name=None):
        self._add_accelerated(self._state.dcdn, domain, status, cert_pem, key_pem, cert_name, "dynamic")

    def _add_accelerated(self, store, domain, status, cert_pem, key_pem, cert_name, cdn_type):
        domain = accelerated_name(domain)
        with self._state.lock:
            now = utcnow()
            entry = CdnDomain(domain, int(self._state.new_id()), status, cdn_type, now, now)
            if cert_pem:
                self._keys.remember(key_pem)
                upload = load_upload(cert_pem, key_pem)
                name = cert_name or "cert-" + upload.fingerprint[:16]
                stored = self._state.certs.seed(name, upload, now=now)
                entry.cert = DeployedCert(name, str(stored.cert_id), "upload", stored.site, upload, now)
                entry.ssl = "on"
            store[domain] = entry

    def add_cas_certificate(self, cert_pem: str, key_pem: str, name: str, site: str = "cn-hangzhou") -> int:
        """A certificate already in the SSL Certificates Service (uploaded by someone else); returns its
        CertId. Seeding skips the content check; a name taken by another certificate is a ValueError."""
        if site not in SITES:
            raise ValueError("CAS site must be one of %s" % (SITES,))
        self._keys.remember(key_pem)
        upload = load_upload(cert_pem, key_pem)
        with self._state.lock:
            return self._state.certs.seed(name, upload, site).cert_id

    def add_api_group(self, group_id, domains, region="cn-hangzhou", name=None):
        """An API Gateway group in ``region`` with custom ``domains`` bound (no certificates yet)."""
        with self._state.lock:
            group = ApiGroup(group_id, name or "group_" + group_id[:8], region, utcnow())
            group.domains = {d.lower(): ApiDomain(d.lower()) for d in domains}
            self._state.api_groups[group_id] = group

    def add_dns_zone(self, zone):
        """A zone hosted in Alidns."""
        zone = zone.lower().rstrip(".")
        with self._state.lock:
            self._state.zones[zone] = DnsZone(zone, self._state.new_id(), utcnow())

    # -- failures --------------------------------------------------------------------------------
    def set_faults(self, rate, kinds=FAULT_KINDS, seed=None, actions=None):
        """Random faults from now on: each call (of ``actions``; None = all) fails with probability rate."""
        self._faults.configure(rate, kinds, seed, actions)

    def schedule_faults(self, plan):
        """{action: {n: kind}}: the nth call of action fails with kind (see FaultInjector.schedule)."""
        self._faults.schedule(plan)

    def fail_domain(self, domain, code="InternalError", http_status=500, message=None):
        """Every write that addresses ``domain`` (or DNS zone) fails with ``code`` until heal_domain."""
        self._faults.fail_domain(domain, code, http_status, message)

    def heal_domain(self, domain):
        self._faults.heal_domain(domain)

    # -- call log --------------------------------------------------------------------------------
    @property
    def calls(self):
        """Every request so far, oldest first: a CallList (a list of CallRecord) whose
        ``key_in_query()`` returns the requests that carried private-key material in the URL query."""
        return self._calls.snapshot()

    def write_calls(self):
        """Requests to state-changing actions, whatever their outcome."""
        return [c for c in self.calls if c.write]

    def throttled_calls(self):
        return [c for c in self.calls if c.code and c.code.startswith("Throttling")]

    def reset_calls(self):
        """Forget the call log."""
        self._calls.clear()

    # -- stored state ----------------------------------------------------------------------------
    def cdn_state(self, domain):
        """dict: domain, status, ssl, cert_name, cert_id, cert_type ("upload"/"cas"), cert_region, cert_pem,
        key_pem, serial, fingerprint, not_before, not_after (aware datetimes), common_name, dns_names,
        updated_at, staging. ``*.x`` is read as the stored ``.x``."""
        with self._state.lock:
            return self._state.cdn[accelerated_name(domain)].snapshot()

    def dcdn_state(self, domain):
        """Same keys (and wildcard reading) as cdn_state."""
        with self._state.lock:
            return self._state.dcdn[accelerated_name(domain)].snapshot()

    def apigw_domain_state(self, group_id, domain):
        """dict: group_id, domain, cert_name, cert_id, cert_pem, key_pem, serial, fingerprint, not_before,
        not_after (all None while no certificate is set)."""
        with self._state.lock:
            return self._state.api_groups[group_id].domains[domain.lower()].snapshot(group_id)

    def cas_certificates(self, site: Optional[str] = None) -> List[dict]:
        """list of dicts (oldest first): cert_id, name, site, source ("cas", "cdn", "dcdn", "seed"),
        resource_id, cert_pem, key_pem, serial, fingerprint, not_before, not_after, common_name, dns_names,
        created_at. site: "cn-hangzhou", "ap-southeast-1" or None for both."""
        with self._state.lock:
            sites = SITES if site is None else (site,)
            return [c.snapshot() for s in sites for c in self._state.certs.in_site(s)]

    def dns_records(self, zone):
        """list of dicts: record_id, rr, type, value, ttl, line, priority, host — in creation order."""
        with self._state.lock:
            records = self._state.zones[zone.lower().rstrip(".")].records.values()
            return [r.snapshot() for r in sorted(records, key=lambda r: int(r.record_id))]
