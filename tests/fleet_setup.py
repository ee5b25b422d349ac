"""A fleet on loopback for tests and bench/fleet.py: N certificates over one or two accounts.

Each account is its own emulator (its own AccessKey, latency per call, QPS limits
enforced) hosting one DNS zone (`one.test`, `two.test`) whose TXT records are mirrored
into Pebble's challtestsrv, and two CDN domains per certificate (`sNN.<zone>` and
`www.sNN.<zone>`, the certificate's names). Certificates alternate between `[aliyun]`
and `[aliyun:two]`; every one uses dns-01 through Alidns in its own account.
"""

import os
import textwrap
from dataclasses import dataclass
from typing import Dict, List

from tests.aliyun_emulator import Emulator, EmulatorConfig

KEYS = {"": ("LTAIfleetone00000000000", "fleet-one-secret-not-real-000000"),
        "two": ("LTAIfleettwo00000000000", "fleet-two-secret-not-real-000000")}
ZONES = {"": "one.test", "two": "two.test"}


@dataclass
class Fleet:
    ini: str
    emulators: Dict[str, Emulator]            # profile ("" = [aliyun]) -> its emulator
    certs: Dict[str, List[str]]               # certificate name -> its names (= its CDN domains)
    owner: Dict[str, str]                     # domain -> profile

    def stop(self) -> None:
        for emu in self.emulators.values():
            emu.stop()

    def calls(self) -> int:
        return sum(len(e.calls) for e in self.emulators.values())

    def writes(self) -> int:
        return sum(len(e.write_calls()) for e in self.emulators.values())

    def reset(self) -> None:
        for emu in self.emulators.values():
            emu.reset_calls()


def start(folder: str, pebble, count: int, accounts: int = 2, latency_ms: int = 20,
          parallel: int = None, limits: str = "") -> Fleet:
    """Emulators seeded and an acme.ini written in `folder` (nothing issued yet)."""
    profiles = ["", "two"][:accounts]
    emus = {}
    try:
        for p in profiles:
            emus[p] = Emulator(EmulatorConfig(accounts={KEYS[p][0]: KEYS[p][1]}, latency_ms=latency_ms,
                                              challtestsrv_url=pebble.challtestsrv.url)).start()
            emus[p].add_dns_zone(ZONES[p])
        certs, owner = {}, {}
        for i in range(count):
            p = profiles[i % len(profiles)]
            names = ["s%03d.%s" % (i, ZONES[p]), "www.s%03d.%s" % (i, ZONES[p])]
            certs["site%03d" % i] = names
            for d in names:
                emus[p].add_cdn_domain(d)
                owner[d] = p
        ini = _write_ini(folder, pebble, emus, certs, owner, parallel, limits)
    except BaseException:
        for e in emus.values():
            e.stop()
        raise
    return Fleet(ini, emus, certs, owner)


def _write_ini(folder, pebble, emus, certs, owner, parallel, limits) -> str:
    text = textwrap.dedent("""\
        [acme]
        ACMEDirectory = {directory}
        AccountKeyFile = account.key
        CABundle = {ca}
        Contacts = mailto:ops@fleet.test
        StateDir = state
        """).format(directory=pebble.directory_url, ca=pebble.ca_bundle)
    if parallel:
        text += "Parallel = %d\n" % parallel
    if limits:
        text += "\n[limits]\n%s\n" % limits
    for p, emu in emus.items():
        text += "\n[aliyun%s]\nEndpoint = %s\nAccessKeyId = %s\nAccessKeySecret = %s\n" % (
            ":" + p if p else "", emu.endpoint, KEYS[p][0], KEYS[p][1])
    for name, names in certs.items():
        p = owner[names[0]]
        text += "\n[cert:%s]\nDomains = %s\nChallenge = dns-01\nDNSProvider = alidns\nCDN = %s\n%s" % (
            name, ", ".join(names), ", ".join(names), "Account = %s\n" % p if p else "")
    path = os.path.join(folder, "acme.ini")
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path
