"""A tiny SMTP server on loopback for notification tests: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA.

Enough of RFC 5321/3207/4954 for smtplib to talk to it for real; it records what
it received and whether TLS was on when the message (and the password) came.
Also: a self-signed CA and a server certificate for 127.0.0.1 made at start.
"""

import base64
import datetime
import ipaddress
import os
import socketserver
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_tls_files(folder):
    """(ca.pem, server cert.pem, server key.pem) for 127.0.0.1, written into folder."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(folder, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    for path, data in zip(paths, (ca.public_bytes(serialization.Encoding.PEM),
                                  leaf.public_bytes(serialization.Encoding.PEM),
                                  key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))):
        with open(path, "wb") as fh:
            fh.write(data)
    return paths


class SMTPServer:
    """received: list of dicts {from, to, data, tls, user}; starttls=False offers no STARTTLS."""

    def __init__(self, folder, starttls=True, users=None):
        self.ca, cert, key = make_tls_files(folder)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.starttls, self.users, self.received = starttls, users or {}, []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                _Session(outer, self).run()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _Session:
    def __init__(self, server, handler):
        self.server, self.conn = server, handler.connection
        self.rfile, self.wfile = handler.rfile, handler.wfile
        self.tls, self.user, self.mail_from, self.rcpts = False, None, None, []

    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def run(self):
        self.say("220 test ESMTP")
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return
            verb, _, arg = line.partition(" ")
            if not self.command(verb.upper(), arg):
                return

    def command(self, verb, arg):
        if verb in ("EHLO", "HELO"):
            ext = ["STARTTLS"] if self.server.starttls and not self.tls else []
            ext += ["AUTH PLAIN"] if self.tls else []
            lines = ["test"] + ext          # the first line greets; the extensions follow
            for e in lines[:-1]:
                self.say("250-" + e)
            self.say("250 " + lines[-1])
        elif verb == "STARTTLS" and self.server.starttls and not self.tls:
            self.say("220 go ahead")
            self.conn = self.server.tls.wrap_socket(self.conn, server_side=True)
            self.rfile, self.wfile = self.conn.makefile("rb"), self.conn.makefile("wb")
            self.tls = True
        elif verb == "AUTH" and self.tls:
            self.auth(arg)
        elif verb == "MAIL":
            self.mail_from, self.rcpts = arg.split(":", 1)[1].strip(" <>"), []
            self.say("250 ok")
        elif verb == "RCPT":
            self.rcpts.append(arg.split(":", 1)[1].strip(" <>"))
            self.say("250 ok")
        elif verb == "DATA":
            self.data()
        elif verb == "QUIT":
            self.say("221 bye")
            return False
        elif verb in ("RSET", "NOOP"):
            self.say("250 ok")
        else:
            self.say("502 not implemented")
        return True

    def auth(self, arg):
        mech, _, initial = arg.partition(" ")
        if mech.upper() != "PLAIN":
            return self.say("504 unsupported")
        if not initial:
            self.say("334 ")
            initial = self.rfile.readline().decode().strip()
        _, user, password = base64.b64decode(initial).decode().split("\0")
        if self.server.users.get(user) == password:
            self.user = user
            return self.say("235 ok")
        return self.say("535 authentication failed")

    def data(self):
        self.say("354 end with .")
        lines = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b".\n", b""):
                break
            lines.append(line[1:] if line.startswith(b"..") else line)
        self.server.received.append({"from": self.mail_from, "to": list(self.rcpts), "data": b"".join(lines),
                                     "tls": self.tls, "user": self.user})
        self.say("250 queued")
