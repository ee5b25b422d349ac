"""Start Pebble and pebble-challtestsrv (Debian packages) on loopback.

Used by the test fixtures, the demo and the benchmarks. Every port is chosen
free at start, the TLS certificate Pebble serves is generated here, and all
names resolve to 127.0.0.1 through challtestsrv's DNS.
"""

import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from typing import Callable, TypeVar

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.netutil import free_port, wait_port

T = TypeVar("T")


def make_tls_ca(folder):
    """A throw-away CA and a localhost/127.0.0.1 server certificate signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-aliyun test TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": os.path.join(folder, "tls-ca.pem"),
        "cert": os.path.join(folder, "tls-cert.pem"),
        "key": os.path.join(folder, "tls-key.pem"),
    }
    with open(paths["ca"], "wb") as fh:
        fh.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert"], "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key"], "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return paths


def stop_process(proc):
    """Terminate, then kill after 5 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_retrying(start_once: Callable[[], T], new_ports: Callable[[], None], log_path: str, attempts: int = 3) -> T:
    """start_once(), again on fresh ports when the server quit because one was taken meanwhile.

    free_port() frees the port it found before the server binds it; with the suite spread over
    xdist workers, each starting its own servers, another process may take it in between."""
    for attempt in range(attempts):
        try:
            return start_once()
        except RuntimeError:
            with open(log_path, errors="replace") as fh:
                taken = "address already in use" in fh.read()
            if not taken or attempt + 1 == attempts:
                raise
            new_ports()


class ChallTestSrv:
    """pebble-challtestsrv: mock DNS for Pebble, TXT records through its management API."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.dns_port = free_port()
        self.mgmt_port = free_port()
        self.proc = None
        self.session = requests.Session()
        self.session.trust_env = False

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.mgmt_port

    @property
    def dns_address(self):
        return "127.0.0.1:%d" % self.dns_port

    def start(self):
        return start_retrying(self._start_once, self._new_ports, os.path.join(self.workdir, "challtestsrv.log"))

    def _new_ports(self):
        self.dns_port, self.mgmt_port = free_port(), free_port()

    def _start_once(self):
        log = open(os.path.join(self.workdir, "challtestsrv.log"), "ab")
        self.proc = subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", self.dns_address, "-management", "127.0.0.1:%d" % self.mgmt_port,
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        wait_port(self.mgmt_port, proc=self.proc)
        return self

    def _post(self, path, body):
        r = self.session.post(self.url + "/" + path, json=body, timeout=5)
        r.raise_for_status()
        return r

    def set_txt(self, host, value):
        self._post("set-txt", {"host": host.rstrip(".") + ".", "value": value})

    def clear_txt(self, host):
        self._post("clear-txt", {"host": host.rstrip(".") + "."})

    def dns_history(self, host):
        return self._post("dns-request-history", {"host": host.rstrip(".")}).json()

    def stop(self):
        stop_process(self.proc)


class Pebble:
    """A Pebble ACME server on loopback with its own challtestsrv."""

    def __init__(self, workdir=None, env=None, http_port=None, eab_keys=None, validity_days=90):
        self.workdir = workdir or tempfile.mkdtemp(prefix="pebble-")
        os.makedirs(self.workdir, exist_ok=True)
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.mgmt_port = free_port()
        self.http_port = http_port or free_port()   # where http-01 is validated
        self._fixed_http_port = bool(http_port)
        self.tls_port = free_port()
        self.eab_keys = eab_keys
        self.validity_seconds = int(validity_days * 86400)   # Let's Encrypt's classic 90 days
        self.challtestsrv = ChallTestSrv(self.workdir)
        self.proc = None
        self.tls = None
        self.session = requests.Session()
        self.session.trust_env = False

    @property
    def directory_url(self):
        return "https://127.0.0.1:%d/dir" % self.port

    @property
    def mgmt_url(self):
        return "https://127.0.0.1:%d" % self.mgmt_port

    @property
    def ca_bundle(self):
        """The CA that signed the TLS certificate Pebble serves (not the ACME root)."""
        return self.tls["ca"]

    def start(self):
        if not shutil.which("pebble"):
            raise RuntimeError("pebble is not installed (apt-get install pebble)")
        self.tls = make_tls_ca(self.workdir)
        self.challtestsrv.start()
        return start_retrying(self._start_once, self._new_ports, os.path.join(self.workdir, "pebble.log"))

    def _new_ports(self):
        self.port, self.mgmt_port, self.tls_port = free_port(), free_port(), free_port()
        if not self._fixed_http_port:
            self.http_port = free_port()

    def _start_once(self):
        conf = {
            "pebble": {
                "listenAddress": "127.0.0.1:%d" % self.port,
                "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
                "certificate": self.tls["cert"],
                "privateKey": self.tls["key"],
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": bool(self.eab_keys),
                "certificateValidityPeriod": self.validity_seconds,
            }
        }
        if self.eab_keys:
            conf["pebble"]["externalAccountMACKeys"] = self.eab_keys
        cfg = os.path.join(self.workdir, "pebble-config.json")
        with open(cfg, "w") as fh:
            json.dump(conf, fh)
        env = dict(os.environ)
        env.setdefault("PEBBLE_VA_NOSLEEP", "1")
        env.update(self.extra_env)
        log = open(os.path.join(self.workdir, "pebble.log"), "ab")
        self.proc = subprocess.Popen(
            ["pebble", "-config", cfg, "-dnsserver", self.challtestsrv.dns_address],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        wait_port(self.port, proc=self.proc)
        wait_port(self.mgmt_port, proc=self.proc)
        return self

    def stop(self):
        stop_process(self.proc)
        self.challtestsrv.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _log(self):
        with open(os.path.join(self.workdir, "pebble.log")) as fh:
            return fh.read()

    def orders_created(self):
        """Orders Pebble added to its database (a newOrder rejected for a bad nonce creates none)."""
        return self._log().count("Added order ")

    def new_order_requests(self):
        """newOrder requests received, accepted or not."""
        return self._log().count("POST /order-plz")

    # --- management interface ---------------------------------------------------------

    def _mgmt(self, path):
        r = self.session.get(self.mgmt_url + path, verify=self.ca_bundle, timeout=10)
        r.raise_for_status()
        return r

    def root_pem(self, n=0):
        """The ACME root certificate that issued chains end in."""
        return self._mgmt("/roots/%d" % n).text

    def intermediate_pem(self, n=0):
        return self._mgmt("/intermediates/%d" % n).text

    def cert_status(self, serial_hex):
        return self._mgmt("/cert-status-by-serial/%s" % serial_hex).json()
