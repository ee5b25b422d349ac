"""Run the emulator standalone:

    python -m tests.aliyun_emulator --config emu.json [--port N] [--port-file F]

Prints ``endpoint 127.0.0.1:PORT`` on stdout once listening (and writes PORT to --port-file), then
serves until SIGTERM or SIGINT. The JSON file (every key optional):

    {
      "accounts": {"testak": "testsecret"},                 // AccessKeyId -> AccessKeySecret
      "sts": [{"access_key_id": "STS.x", "access_key_secret": "s", "security_token": "t",
               "expires_in": 3600}],
      "cdn_domains":  ["cdn1.example.test", {"domain": "old.example.test", "status": "offline"},
                       ".wild.example.test"],                 // a wildcard accelerated domain
      "dcdn_domains": ["d1.example.test"],
      "cas_certificates": [{"cert_pem": "-----BEGIN CERTIFICATE-----...", "key_pem": "...",
                            "name": "someone-elses", "site": "cn-hangzhou"}],
      "api_groups": [{"group_id": "927d50c0f2e54b359919923d908bb015",
                      "domains": ["api.example.test"], "region": "cn-hangzhou"}],
      "dns_zones": ["example.test"],
      "roles": [{"arn": "acs:ram::1:role/acme", "max_session_s": 3600, "external_id": null,
                 "oidc_provider_arn": null, "oidc_token": null}],
      "fail_domains": [{"domain": "bad.example.test", "code": "InternalError", "http_status": 500}],
      "latency_ms": 20,
      "fault_rate": 0.1, "fault_kinds": ["throttling", "unavailable", "reset"], "fault_seed": 1,
      "fault_actions": ["SetCdnDomainSSLCertificate"],
      "challtestsrv_url": "http://127.0.0.1:8055",
      "qps_limits": {"SetCdnDomainSSLCertificate": 5},
      "refuse_duplicate_content": true, "page_size_cap": 20, "listing_lag": 2
    }

Besides the seed lists (sts, roles, cdn_domains, dcdn_domains, cas_certificates, api_groups, dns_zones,
fail_domains), any EmulatorConfig field may appear at top level (e.g. "enforce_qps",
"default_dns_ttl_min", "dns_conflict_rate", "timeout_sleep_s", "cert_codes", "error_overrides", and
issue 11's switches "refuse_duplicate_content", "cas_names_per_site", "cas_refuse_delete_in_use",
"batch_refuses_cas", "apigw_refuse_get_with_key", "page_size_cap", "listing_lag"). A domain entry is a
name or an object with the keyword arguments of Emulator.add_cdn_domain / add_dcdn_domain (cert_pem and
key_pem preload an HTTPS certificate); a CAS entry takes the keyword arguments of
Emulator.add_cas_certificate. Each REST product adds its own seed lists (its module's ``seeds``: a
list of objects with the keyword arguments of the named helper). Unknown keys are an error.
"""

import argparse
import dataclasses
import json
import signal
import sys
import threading

from . import Emulator, EmulatorConfig
from .products import REST

_SEEDS = ("sts", "roles", "cdn_domains", "dcdn_domains", "cas_certificates", "api_groups", "dns_zones", "fail_domains")
_REST_SEEDS = {key: fn for product in REST for key, fn in product.seeds.items()}   # e.g. a REST product's resources


def build(spec):
    """An Emulator (not started) from the parsed JSON document."""
    fields = {f.name for f in dataclasses.fields(EmulatorConfig)}
    unknown = set(spec) - fields - set(_SEEDS) - set(_REST_SEEDS)
    if unknown:
        raise ValueError("unknown keys in emulator config: %s" % ", ".join(sorted(unknown)))
    options = {k: v for k, v in spec.items() if k in fields}
    for key in ("fault_kinds", "fault_actions"):
        if options.get(key) is not None:
            options[key] = tuple(options[key])
    if options.get("error_overrides"):
        options["error_overrides"] = {k: tuple(v) for k, v in options["error_overrides"].items()}
    emu = Emulator(EmulatorConfig(**options))
    for sts in spec.get("sts", ()):
        emu.add_sts_credentials(**sts)
    for role in spec.get("roles", ()):
        emu.add_role(**role)
    for entry in spec.get("cdn_domains", ()):
        emu.add_cdn_domain(**_domain_kwargs(entry))
    for entry in spec.get("dcdn_domains", ()):
        emu.add_dcdn_domain(**_domain_kwargs(entry))
    for cert in spec.get("cas_certificates", ()):
        emu.add_cas_certificate(**cert)
    for group in spec.get("api_groups", ()):
        emu.add_api_group(**group)
    for zone in spec.get("dns_zones", ()):
        emu.add_dns_zone(zone)
    for failing in spec.get("fail_domains", ()):
        emu.fail_domain(**failing)
    for key, seed in _REST_SEEDS.items():
        for entry in spec.get(key, ()):
            seed(emu, **entry)
    return emu


def _domain_kwargs(entry):
    return {"domain": entry} if isinstance(entry, str) else dict(entry)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.aliyun_emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="JSON file (see the module docstring); default: one account testak")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--port-file", help="write the port number here once listening")
    args = parser.parse_args(argv)
    spec = {}
    if args.config:
        with open(args.config) as fh:
            spec = json.load(fh)
    emu = build(spec).start(port=args.port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if args.port_file:
        with open(args.port_file, "w") as fh:
            fh.write("%d\n" % emu.port)
    print("endpoint %s" % emu.endpoint, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
