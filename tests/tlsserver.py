"""Loopback TLS servers for tests: a self-signed leaf per server, SNI recorded, a serial to compare.

Each server answers the handshake and closes; that is all the network-message and edge-probe tests
need. The certificate is made here, so no test depends on a file or on a CA outside the test.
"""

import datetime
import os
import socket
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder, names, serial=None):
    """(cert path, key path, serial) of a fresh self-signed leaf for names."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    serial = serial or x509.random_serial_number()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    tag = "%x" % serial
    cert_path, key_path = os.path.join(folder, "tls-%s.pem" % tag), os.path.join(folder, "tls-%s.key" % tag)
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_path, key_path, serial


class TLSServer:
    """Serves one certificate on 127.0.0.1:port; swap() changes it (an edge picking up a new one)."""

    def __init__(self, cert_path, key_path):
        self.sni = []
        self._ctx = self._context(cert_path, key_path)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _context(cert_path, key_path):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx

    def swap(self, cert_path, key_path):
        self._ctx = self._context(cert_path, key_path)

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            ctx = self._ctx
            ctx.sni_callback = lambda s, name, c: self.sni.append(name)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    try:
                        tls.recv(1)
                    except (OSError, ssl.SSLError):
                        pass
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        self._stop = True
        self.sock.close()
