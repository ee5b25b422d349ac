"""`make demo`: the whole job end to end on this machine, nothing outside loopback.

Starts Pebble (the CA), pebble-challtestsrv (its DNS) and the Alibaba Cloud
emulator, writes a demo acme.ini with two certificates — a wildcard one via
dns-01 on the emulated Alibaba Cloud DNS and one via http-01 — deployed to CDN,
DCDN, API Gateway, a CLB listener, an ALB listener, an OSS bucket's custom domain, a Function Compute
custom domain and a WAF 3.0 domain, runs `acme-aliyun run` twice (the second run must change
nothing), shows what the "cloud" now serves, and stops what it started.
"""

import os
import shutil
import subprocess
import sys
import textwrap

from tests.aliyun_emulator import Emulator, EmulatorConfig
from tests.aliyun_emulator.products import fc, oss, waf
from tests.aliyun_emulator.products.alb import AlbAdmin
from tests.aliyun_emulator.products.clb import ClbAdmin
from tests.pebble import Pebble

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = "927d50c0f2e54b359919923d908bb015"
CLB_LISTENER, ALB_LISTENER = "lb-demo0clb1:443", "lsn-demo0alb1"
# the wildcard certificate's targets once the API group is expanded: 3 CDN, 1 DCDN, 2 API Gateway, 1 CLB,
# 1 ALB, 1 OSS, 1 FC, 1 WAF
WILDCARD_TARGETS = 11
AK, SECRET = "LTAIdemo0000000000000000", "demo-secret-not-real-0000000000"


def _banner(text):
    print("\n=== %s ===" % text, flush=True)


def write_demo_ini(folder, pebble, emu):
    text = textwrap.dedent("""\
        [acme]
        ACMEDirectory = {directory}
        AccountKeyFile = account.key
        CABundle = {ca}
        Contacts = mailto:ops@demo.test
        StateDir = state

        [cert:wildcard]
        Domains = demo.test, *.demo.test
        Challenge = dns-01
        DNSProvider = alidns
        CDN = www.demo.test, img.demo.test, cdn.demo.test
        DCDN = static.demo.test
        APIGateway = {group}
        CLB = {clb}
        ALB = {alb}
        OSS = demo-files:files.demo.test
        FC = fn.demo.test
        WAF = waf.demo.test

        [cert:shop]
        Domains = shop.example.test
        Challenge = http-01
        HTTPListen = 127.0.0.1:{http_port}
        CDN = shop.example.test

        [aliyun]
        Region = cn-hangzhou
        Endpoint = {endpoint}
        """).format(directory=pebble.directory_url, ca=pebble.ca_bundle, group=GROUP, clb=CLB_LISTENER,
                    alb=ALB_LISTENER,
                    http_port=pebble.http_port, endpoint=emu.endpoint)
    path = os.path.join(folder, "acme.ini")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def tool_env():
    """The environment the tool runs in: demo keys, no proxies, no metadata server."""
    env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=AK, ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
               ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", PYTHONPATH=ROOT)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALIYUN_ACCESS_KEY_ID",
              "ALIYUN_ACCESS_KEY_SECRET"):
        env.pop(k, None)
    return env


def _tool(ini, *args):
    cmd = [sys.executable, "-m", "acme_aliyun", "-c", ini] + list(args)
    print("$ acme-aliyun -c %s %s" % (os.path.relpath(ini, ROOT), " ".join(args)), flush=True)
    return subprocess.run(cmd, env=tool_env(), stdin=subprocess.DEVNULL).returncode


def start_emulator(pebble, **config):
    """The emulator with the demo's account, domains, API group and DNS zone, mirroring TXT into Pebble's DNS."""
    config.setdefault("product_options", {"alb": {"job_seconds": 0.1}})   # ALB jobs: short, but asynchronous
    emu = Emulator(EmulatorConfig(accounts={AK: SECRET}, challtestsrv_url=pebble.challtestsrv.url, **config)).start()
    for d in ("www.demo.test", "img.demo.test", "cdn.demo.test", "shop.example.test"):
        emu.add_cdn_domain(d)
    emu.add_dcdn_domain("static.demo.test")
    emu.add_api_group(GROUP, ["api.demo.test", "open.demo.test"])
    emu.add_dns_zone("demo.test")
    ClbAdmin(emu).add_load_balancer(CLB_LISTENER.split(":")[0])
    AlbAdmin(emu).add_listener(ALB_LISTENER)
    oss.add_bucket(emu, "demo-files", "cn-hangzhou", ["files.demo.test"])
    fc.add_custom_domain(emu, "fn.demo.test")
    waf.add_waf_domain(emu, "waf.demo.test")
    return emu


def main(workdir=None):
    workdir = workdir or os.path.join(ROOT, ".demo")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    pebble = Pebble(os.path.join(workdir, "pebble")).start()
    emu = start_emulator(pebble)
    try:
        ini = write_demo_ini(workdir, pebble, emu)
        _banner("first run: issue both certificates and deploy them")
        first = _tool(ini, "run")
        writes_first = len(emu.write_calls())
        _banner("what the cloud serves now (read back through the API)")
        _tool(ini, "status", "--targets")
        for d in ("www.demo.test", "img.demo.test", "cdn.demo.test", "shop.example.test"):
            print("  CDN  %-22s %s" % (d, emu.cdn_state(d).get("cert_name")))
        print("  DCDN %-22s %s" % ("static.demo.test", emu.dcdn_state("static.demo.test").get("cert_name")))
        for d in ("api.demo.test", "open.demo.test"):
            print("  API  %-22s %s" % (d, emu.apigw_domain_state(GROUP, d).get("cert_name")))
        served = ClbAdmin(emu).served(*CLB_LISTENER.split(":")) or {}
        print("  CLB  %-22s %s" % (CLB_LISTENER, served.get("name")))
        print("  ALB  %-22s %s" % (ALB_LISTENER, AlbAdmin(emu).listener(ALB_LISTENER)["default"]))
        oss_id = oss.cname_state(emu, "demo-files", "files.demo.test")["cert_id"]
        print("  OSS  %-22s CAS %s" % ("files.demo.test", oss_id))
        print("  FC   %-22s %s" % ("fn.demo.test", fc.domain_state(emu, "fn.demo.test")["certConfig"]["certName"]))
        print("  WAF  %-22s CAS %s" % ("waf.demo.test", waf.waf_domain_state(emu, "waf.demo.test")["cert_id"]))
        leftover = [r for r in emu.dns_records("demo.test") if r["type"] == "TXT"]
        print("  Alidns TXT records left after dns-01: %d" % len(leftover))
        emu.reset_calls()
        _banner("second run: nothing is due, everything already deployed")
        second = _tool(ini, "run")
        writes_second = len(emu.write_calls())
        print("\nwrite calls: first run %d, second run %d" % (writes_first, writes_second))
        ok = first == 0 and second == 0 and writes_first > 0 and writes_second == 0 and not leftover
        print("demo %s" % ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        emu.stop()
        pebble.stop()


if __name__ == "__main__":
    sys.exit(main())
