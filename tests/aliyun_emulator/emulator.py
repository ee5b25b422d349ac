"""Emulator: the public face — start/stop the loopback server, seed resources, steer faults, read the
call log and the stored state."""

import threading

from .auth import Authenticator
from .calllog import CallLog
from .certs import load_upload
from .challtestsrv import TxtMirror
from .config import FAULT_KINDS, EmulatorConfig
from .faults import FaultInjector
from .ratelimit import RateLimiter
from .server import Dispatcher, EmulatorHTTPServer
from .state import ApiDomain, ApiGroup, CdnDomain, DeployedCert, DnsZone, State, utcnow


class Emulator:
    """A loopback Alibaba Cloud OpenAPI (Cdn, dcdn, CloudAPI, Alidns) for the legacy Python SDK.

        emu = Emulator(EmulatorConfig(accounts={"testak": "testsecret"})).start()
        req.set_endpoint(emu.endpoint)
        ...
        emu.stop()
    """

    def __init__(self, config=None):
        self.config = config or EmulatorConfig()
        c = self.config
        self._state = State()
        self._auth = Authenticator(c.accounts, c.timestamp_tolerance_s, c.nonce_ttl_s)
        self._faults = FaultInjector(c.fault_rate, c.fault_kinds, c.fault_seed, c.fault_actions)
        self._calls = CallLog()
        self._stopping = threading.Event()
        mirror = TxtMirror(c.challtestsrv_url) if c.challtestsrv_url else None
        self._dispatcher = Dispatcher(c, self._state, self._auth, RateLimiter(c.qps_limit, c.enforce_qps),
                                      self._faults, self._calls, mirror, self._stopping)
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

    def add_cdn_domain(self, domain, status="online", cert_pem=None, key_pem=None, cert_name=None, cdn_type="web"):
        """A CDN domain; with cert_pem+key_pem it already serves HTTPS (even an expired certificate)."""
        self._add_accelerated(self._state.cdn, domain, status, cert_pem, key_pem, cert_name, cdn_type)

    def add_dcdn_domain(self, domain, status="online", cert_pem=None, key_pem=None, cert_name=None):
        self._add_accelerated(self._state.dcdn, domain, status, cert_pem, key_pem, cert_name, "dynamic")

    def _add_accelerated(self, store, domain, status, cert_pem, key_pem, cert_name, cdn_type):
        domain = domain.lower()
        with self._state.lock:
            now = utcnow()
            entry = CdnDomain(domain, int(self._state.new_id()), status, cdn_type, now, now)
            if cert_pem:
                upload = load_upload(cert_pem, key_pem)
                name = cert_name or "cert-" + upload.fingerprint[:16]
                cert_id = self._state.cert_names.claim(name, upload)
                entry.cert, entry.ssl = DeployedCert(name, cert_id, "upload", "cn-hangzhou", upload, now), "on"
            store[domain] = entry

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
        """Every request so far, oldest first (list of CallRecord)."""
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
        """dict: domain, status, ssl, cert_name, cert_id, cert_type, cert_region, cert_pem, key_pem, serial,
        fingerprint, not_before, not_after (aware datetimes), common_name, dns_names, updated_at, staging."""
        with self._state.lock:
            return self._state.cdn[domain.lower()].snapshot()

    def dcdn_state(self, domain):
        """Same keys as cdn_state."""
        with self._state.lock:
            return self._state.dcdn[domain.lower()].snapshot()

    def apigw_domain_state(self, group_id, domain):
        """dict: group_id, domain, cert_name, cert_id, cert_pem, key_pem, serial, fingerprint, not_before,
        not_after (all None while no certificate is set)."""
        with self._state.lock:
            return self._state.api_groups[group_id].domains[domain.lower()].snapshot(group_id)

    def dns_records(self, zone):
        """list of dicts: record_id, rr, type, value, ttl, line, priority, host — in creation order."""
        with self._state.lock:
            records = self._state.zones[zone.lower().rstrip(".")].records.values()
            return [r.snapshot() for r in sorted(records, key=lambda r: int(r.record_id))]
