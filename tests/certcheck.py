"""Checks on issued certificates used across tests: chain verifies to Pebble's root, names, key."""

import os
import subprocess
import tempfile

from cryptography.hazmat.primitives import serialization

from acme_aliyun import pki


def verify_chain(fullchain_pem, root_pem):
    """openssl verify of the leaf against Pebble's root with the intermediates as untrusted."""
    certs = pki.split_pem_chain(fullchain_pem)
    assert certs, "no certificate in the chain"
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for name, data in (("root", root_pem), ("leaf", certs[0]), ("chain", "".join(certs[1:]) or certs[0])):
            paths[name] = os.path.join(d, name + ".pem")
            with open(paths[name], "w") as fh:
                fh.write(data)
        r = subprocess.run(["openssl", "verify", "-CAfile", paths["root"], "-untrusted", paths["chain"],
                            paths["leaf"]], capture_output=True, text=True)
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    return True


def check_stored(cert_dir, root_pem, names):
    """The stored files verify to the root, name exactly `names`, and the key matches."""
    with open(os.path.join(cert_dir, "fullchain.pem")) as fh:
        fullchain = fh.read()
    with open(os.path.join(cert_dir, "privkey.pem"), "rb") as fh:
        key_pem = fh.read()
    verify_chain(fullchain, root_pem)
    bundle = pki.CertBundle.from_pems(fullchain, key_pem.decode())
    assert sorted(bundle.names) == sorted(names)
    assert bundle.key_matches()
    key = serialization.load_pem_private_key(key_pem, None)
    assert pki.public_der(key) == pki.public_der(bundle.cert.public_key())
    assert oct(os.stat(os.path.join(cert_dir, "privkey.pem")).st_mode & 0o777) == "0o600"
    return bundle
