"""Deployment benchmark: one certificate to 200 CDN + 20 DCDN + 20 API Gateway domains, 20 CLB listeners,
20 ALB listeners, 20 OSS bucket custom domains, 20 Function Compute custom domains and 20 WAF 3.0 domains.

Run from the repository root with the venv python:

    .venv/bin/python -m bench.deploy

Everything runs in this process against the loopback Alibaba Cloud emulator
(tests/aliyun_emulator) with 50 ms latency per call and its default QPS limits
enforced. One certificate (`*.bench.test` + `bench.test`, from testcerts) goes to
200 CDN domains, 20 DCDN domains and 20 API Gateway custom domains (4 groups x 5), 20 CLB
HTTPS listeners (default certificate), 20 ALB listeners (default certificate; their
jobs run JOB_SECONDS), 20 OSS custom domains (2 buckets x 10), 20 FC custom domains and
20 WAF 3.0 domains.

The emulator is strict (account-wide certificate names, identical content under a
new name refused), so the certificate goes once to the SSL Certificates Service and
CDN/DCDN domains reference it ([aliyun] Upload = cas, the default).

Phases, each on a fresh emulator (so the numbers are independent), except the
second tool run, which reuses the emulator of the first with a fresh CloudClient
(as a new process would have):

  baseline   naive: one CAS upload, then sequentially one Set* then one Describe* per
             domain, through CloudClient.call (the client's pacing and retries apply)
  tool #1    deployer.plan + deployer.apply (everything planned, written, read back)
  tool #2    the same certificate again: everything must be unchanged, zero writes

Targets: tool #1 <= 1.5 x the floor the documented QPS limits allow for its call
pattern (floor() below; bench/README.md explains it) with no failed target (no
throttling error reaches the user); tool #2 with zero write calls, within 1 s or 1.5 x
the floor of its listener reads (second_floor()), whichever is larger.
Correctness: after each writing phase every target serves the certificate
(emulator state, by serial); tool #2 reports every target unchanged.

Exit status: 0 when every correctness check holds, even if a time target is
MISSED (this is a benchmark); 1 when a correctness check fails.
"""

import collections
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import isolate  # noqa: E402

isolate()

from acme_aliyun import deployer  # noqa: E402
from acme_aliyun.targets.served import unique_cert_name  # noqa: E402
from acme_aliyun.cloud.credentials import CredentialProvider  # noqa: E402
from acme_aliyun.cloud.sdk import CloudClient, CloudError  # noqa: E402
from acme_aliyun.cloud.settings import CloudSettings  # noqa: E402
from acme_aliyun import targets as target_kinds  # noqa: E402
from acme_aliyun.pki import CertBundle  # noqa: E402
from tests.aliyun_emulator import Emulator, EmulatorConfig  # noqa: E402
from tests.aliyun_emulator.products import PRODUCT_QPS  # noqa: E402
from tests.aliyun_emulator.products.alb import AlbAdmin  # noqa: E402
from tests.aliyun_emulator.products.clb import ClbAdmin  # noqa: E402
from tests.aliyun_emulator.testcerts import make_cert  # noqa: E402

AK, SECRET = "LTAIbench000000000000000", "bench-secret-not-real-000000000"
LATENCY_MS = 50
N_CDN, N_DCDN, N_GROUPS, PER_GROUP = 200, 20, 4, 5
N_CLB, N_ALB, JOB_SECONDS = 20, 20, 0.3
N_WAF = 20
CERT_BASE = "bench"
NAMES = ["*.bench.test", "bench.test"]
SECOND_TARGET_S = 1.0

CDN = ["c%03d.bench.test" % i for i in range(1, N_CDN + 1)]
DCDN = ["d%02d.bench.test" % i for i in range(1, N_DCDN + 1)]
GROUPS = {"%08x" % (0xbe7c0000 + g) + "0" * 24: ["g%da%d.bench.test" % (g, j) for j in range(1, PER_GROUP + 1)]
          for g in range(1, N_GROUPS + 1)}
API = ["%s:%s" % (g, d) for g, ds in GROUPS.items() for d in ds]
CLB = ["lb-bench%02d:443" % i for i in range(1, N_CLB + 1)]
ALB = ["lsn-bench%02d" % i for i in range(1, N_ALB + 1)]
OSS = ["bench-files-%d:o%d%02d.bench.test" % (b, b, i) for b in (1, 2) for i in range(1, 11)]
FC = ["f%02d.bench.test" % i for i in range(1, 21)]
WAF = ["w%02d.bench.test" % i for i in range(1, N_WAF + 1)]
TARGETS = target_kinds.specs(cdn=CDN, dcdn=DCDN, apigateway=API, clb=CLB, alb=ALB, oss=OSS, fc=FC, waf=WAF)
N_TARGETS = N_CDN + N_DCDN + len(API) + N_CLB + N_ALB + len(OSS) + len(FC) + N_WAF


def floor():
    """The least time the emulator's QPS limits allow for the tool's call pattern, in seconds.

    Writes of different products run side by side, so the slowest product's writes at its
    limit bound the run: 200 SetCdnDomainSSLCertificate at 30/s (CAS references go through
    the single-domain call). Before them, in sequence: the bulk listings (plan), the CAS
    listing and upload; after them the confirming listings and the CAS clean-up listing:
    five round trips of LATENCY_MS each that no pacing can overlap. CLB and ALB listeners and WAF
    domains have no bulk listing: one read per target in the plan and again to confirm (side by
    side, the slowest bounds each pass; WAF asks for its instance once per client first), and the
    listener writes (20 at the ASSUMED 5/s) end with one ALB job of JOB_SECONDS.
    """
    from tests.aliyun_emulator.config import DEFAULT_QPS
    from tests.aliyun_emulator.products import fc, oss
    writes = max(N_CDN / DEFAULT_QPS["SetCdnDomainSSLCertificate"],
                 N_DCDN / DEFAULT_QPS["SetDcdnDomainSSLCertificate"],
                 len(API) / DEFAULT_QPS["SetDomainCertificate"],
                 N_CLB / PRODUCT_QPS["SetLoadBalancerHTTPSListenerAttribute"],
                 N_ALB / PRODUCT_QPS["UpdateListenerAttribute"] + JOB_SECONDS,
                 len(OSS) / oss.PRODUCT.qps["PutCname"],                  # ASSUMED limits (bench/README.md)
                 len(FC) / fc.PRODUCT.qps["UpdateCustomDomain"],
                 N_WAF / PRODUCT_QPS["ModifyDomainCert"])
    return writes + one_by_one_reads(False) + one_by_one_reads(True) + 5 * LATENCY_MS / 1000.0


def one_by_one_reads(waf_instance_known):
    """The least time one read of every target without a bulk listing takes at the ASSUMED read
    limits (CLB, ALB and WAF side by side), plus one round trip; WAF's instance lookup adds one
    round trip to its branch unless the client already knows it."""
    instance = 0.0 if waf_instance_known else LATENCY_MS / 1000.0
    return max(N_CLB / PRODUCT_QPS["DescribeLoadBalancerHTTPSListenerAttribute"],
               N_ALB / PRODUCT_QPS["GetListenerAttribute"],
               instance + N_WAF / PRODUCT_QPS["DescribeDomainDetail"]) + LATENCY_MS / 1000.0


def second_floor():
    """The second run's floor: one read of every target without a bulk listing, with a fresh client."""
    return one_by_one_reads(False)


FIRST_TARGET_S = 1.5 * floor()
SECOND_TARGET_S = max(SECOND_TARGET_S, 1.5 * second_floor())


def new_emulator():
    emu = Emulator(EmulatorConfig(accounts={AK: SECRET}, latency_ms=LATENCY_MS, enforce_qps=True,
                                  product_options={"alb": {"job_seconds": JOB_SECONDS}})).start()
    clb, alb = ClbAdmin(emu), AlbAdmin(emu)
    for t in CLB:
        clb.add_load_balancer(t.split(":")[0])
    for t in ALB:
        alb.add_listener(t)
    for d in CDN:
        emu.add_cdn_domain(d)
    for d in DCDN:
        emu.add_dcdn_domain(d)
    for g, ds in GROUPS.items():
        emu.add_api_group(g, ds)
    from tests.aliyun_emulator.products import fc, oss, waf
    for b in (1, 2):
        oss.add_bucket(emu, "bench-files-%d" % b, "cn-hangzhou", [t.split(":")[1] for t in OSS if "-%d:" % b in t])
    for d in FC:
        fc.add_custom_domain(emu, d)
    for d in WAF:
        waf.add_waf_domain(emu, d)
    return emu


def new_client(emu):
    """Production settings and retry timing; only the endpoint points at the emulator."""
    return CloudClient(CloudSettings(endpoint=emu.endpoint), CredentialProvider.static("bench", AK, SECRET))


class Phase:
    def __init__(self, name, target=""):
        self.name, self.target = name, target
        self.wall = 0.0
        self.calls = self.writes = self.throttled = self.failures = 0
        self.stats = {}
        self.actions = collections.Counter()
        self.missed = []          # text per missed target
        self.notes = []

    def record(self, emu, client, wall, failures):
        self.wall, self.failures = wall, failures
        calls = emu.calls
        self.calls = len(calls)
        self.writes = sum(1 for c in calls if c.write)
        self.throttled = sum(1 for c in calls if c.code and c.code.startswith("Throttling"))
        self.actions = collections.Counter(c.action for c in calls)
        self.stats = dict(client.stats)


def served_problems(emu, serial):
    """Targets that do not serve the certificate with this serial, as 'kind target: what'."""
    bad = []
    checks = [("cdn", d, lambda d=d: emu.cdn_state(d)) for d in CDN]
    checks += [("dcdn", d, lambda d=d: emu.dcdn_state(d)) for d in DCDN]
    checks += [("apigateway", "%s:%s" % (g, d), lambda g=g, d=d: emu.apigw_domain_state(g, d))
               for g, ds in GROUPS.items() for d in ds]
    from tests.aliyun_emulator.products import fc, oss, waf
    checks += [("oss", t, lambda t=t: oss.cname_state(emu, *t.split(":"))) for t in OSS]
    checks += [("fc", d, lambda d=d: fc.domain_state(emu, d)) for d in FC]
    checks += [("waf", d, lambda d=d: waf.waf_domain_state(emu, d)) for d in WAF]
    for kind, target, state in checks:
        st = state()
        if st.get("serial") != serial:
            bad.append("%s %s: serves %r (serial %s)" % (kind, target, st.get("cert_name"), st.get("serial")))
    clb = ClbAdmin(emu)
    for t in CLB:
        st = clb.served(*t.split(":")) or {}
        if st.get("serial") != serial:
            bad.append("clb %s: serves %r (serial %s)" % (t, st.get("name"), st.get("serial")))
    alb = AlbAdmin(emu)
    alb.wait_idle()
    ids = {"%d-%s" % (c["cert_id"], c["site"]) for c in emu.cas_certificates() if c["serial"] == serial}
    bad += ["alb %s: serves %r" % (t, alb.listener(t)["default"]) for t in ALB if alb.listener(t)["default"] not in ids]
    return bad


# --- phases ---------------------------------------------------------------------------------------

def run_baseline(fullchain, key, cert_name, serial):
    """One CAS upload, then one call at a time: per domain one write, then one read."""
    phase = Phase("baseline: naive sequential")
    emu = new_emulator()
    try:
        client = new_client(emu)
        failures = 0
        t0 = time.perf_counter()
        cert_id = client.call("cas", "UploadUserCertificate", {"Name": cert_name, "Cert": fullchain, "Key": key},
                              write=True)["CertId"]
        server_cert = client.call("clb", "UploadServerCertificate", {
            "ServerCertificateName": cert_name, "AliCloudCertificateId": cert_id, "AliCloudCertificateName": cert_name,
            "AliCloudCertificateRegionId": "cn-hangzhou"}, write=True)["ServerCertificateId"]
        ref = {"CertType": "cas", "CertId": cert_id, "CertRegion": "cn-hangzhou", "SSLProtocol": "on"}
        steps = [("cdn", "SetCdnDomainSSLCertificate", dict(ref, DomainName=d),
                  "DescribeDomainCertificateInfo", {"DomainName": d}) for d in CDN]
        steps += [("dcdn", "SetDcdnDomainSSLCertificate", dict(ref, DomainName=d),
                   "DescribeDcdnDomainCertificateInfo", {"DomainName": d}) for d in DCDN]
        steps += [("apigateway", "SetDomainCertificate",
                   {"GroupId": g, "DomainName": d, "CertificateName": cert_name, "CertificateBody": fullchain,
                    "CertificatePrivateKey": key},
                   "DescribeDomain", {"GroupId": g, "DomainName": d}) for g, ds in GROUPS.items() for d in ds]
        steps += [("clb", "SetLoadBalancerHTTPSListenerAttribute",
                   {"LoadBalancerId": t.split(":")[0], "ListenerPort": 443, "ServerCertificateId": server_cert},
                   "DescribeLoadBalancerHTTPSListenerAttribute", {"LoadBalancerId": t.split(":")[0],
                                                                  "ListenerPort": 443}) for t in CLB]
        steps += [("alb", "UpdateListenerAttribute",
                   {"ListenerId": t, "Certificates.1.CertificateId": "%s-cn-hangzhou" % cert_id},
                   "GetListenerAttribute", {"ListenerId": t}) for t in ALB]
        for product, write_action, write_params, read_action, read_params in steps:
            try:
                client.call(product, write_action, write_params, write=True)
                client.call(product, read_action, read_params, write=False)
            except CloudError as e:
                failures += 1
                phase.notes.append("%s: %s" % (write_params.get("DomainName"), e))
        failures += naive_rest(client, fullchain, key, cert_name, int(cert_id), phase)
        phase.record(emu, client, time.perf_counter() - t0, failures)
        phase.problems = served_problems(emu, serial)
    finally:
        emu.stop()
    return phase


def naive_rest(client, fullchain, key, cert_name, cert_id, phase):
    """OSS, FC and WAF one domain at a time through the kinds (OSS and FC calls are not RPC, WAF needs
    its instance id first): write, then read."""
    from acme_aliyun.targets.base import CasRef, Upload
    upload = Upload(CertBundle.from_pems(fullchain, key), cert_name, CasRef(cert_id, cert_name, "cn-hangzhou"))
    failures = 0
    for kind_name in ("oss", "fc", "waf"):
        kind = target_kinds.KINDS[kind_name]
        for spec in TARGETS[kind_name]:
            err = kind.write(client, [spec], upload)[spec]
            try:
                kind.read_one(client, spec)
            except CloudError as e:
                err = err or e
            if err is not None:
                failures += 1
                phase.notes.append("%s: %s" % (spec.target, err))
    return failures


def run_tool(fullchain, key):
    """Tool #1 on a fresh emulator, then tool #2 with a fresh client on the same emulator."""
    first = Phase("acme-aliyun: first run", "<= %.1f s, no failed target" % FIRST_TARGET_S)
    second = Phase("acme-aliyun: second run", "<= %.1f s, 0 writes" % SECOND_TARGET_S)
    emu = new_emulator()
    try:
        client = new_client(emu)
        epoch0, t0 = time.time(), time.perf_counter()
        bundle = CertBundle.from_pems(fullchain, key)
        plan = deployer.plan(bundle, CERT_BASE, TARGETS, client)
        t_plan = time.perf_counter() - t0
        results = deployer.apply(plan, client)
        wall = time.perf_counter() - t0
        first.notes.append("plan %.2f s, apply %.2f s" % (t_plan, wall - t_plan))
        first.notes.append("when each action ran (s after start): " + spans(emu.calls, epoch0))
        bad = [r for r in results if r.status != "deployed"]
        first.record(emu, client, wall, len(bad))
        first.problems = ["%s %s: %s (%s) %s" % (r.kind, r.target, r.status, r.error_code, r.reason) for r in bad]
        if len(results) != N_TARGETS:
            first.problems.append("%d results for %d targets" % (len(results), N_TARGETS))
        if plan.cert_name != unique_cert_name(CERT_BASE, bundle):
            first.problems.append("plan.cert_name %s is not the unique name" % plan.cert_name)
        first.problems += served_problems(emu, bundle.cert.serial_number)
        uploads = [c for c in emu.calls if c.action == "UploadUserCertificate" and c.code is None]
        if len(uploads) != 1:
            first.problems.append("%d successful CAS uploads (expected 1)" % len(uploads))
        leaked = emu.calls.key_in_query()
        if leaked:
            first.problems.append("%d request(s) carried the key in the URL query" % len(leaked))
        throttled_to_user = [r for r in bad if (r.error_code or "").startswith("Throttling")]
        if wall > FIRST_TARGET_S:
            first.missed.append("first run took %.2f s (target <= %.1f s)" % (wall, FIRST_TARGET_S))
        if bad:
            first.missed.append("%d target(s) failed, %d of them with a throttling error"
                                % (len(bad), len(throttled_to_user)))
        first.notes.append("throttling errors reaching the user: %s" % (
            "%d" % len(throttled_to_user) if throttled_to_user else "none"))

        emu.reset_calls()
        client2 = new_client(emu)
        t0 = time.perf_counter()
        bundle2 = CertBundle.from_pems(fullchain, key)
        plan2 = deployer.plan(bundle2, CERT_BASE, TARGETS, client2)
        results2 = deployer.apply(plan2, client2)
        wall2 = time.perf_counter() - t0
        not_unchanged = [r for r in results2 if r.status != "unchanged"]
        second.record(emu, client2, wall2, sum(1 for r in results2 if r.status == "failed"))
        second.problems = ["%s %s: %s %s" % (r.kind, r.target, r.status, r.reason) for r in not_unchanged]
        second.problems += served_problems(emu, bundle.cert.serial_number)
        if wall2 > SECOND_TARGET_S:
            second.missed.append("second run took %.2f s (target <= %.1f s)" % (wall2, SECOND_TARGET_S))
        if second.writes:
            second.missed.append("second run made %d write call(s) (target 0)" % second.writes)
        first.cert_name = plan.cert_name
    finally:
        emu.stop()
    return first, second


def spans(calls, epoch0):
    """'Action first–last' for each action, in order of first use."""
    seen = {}
    for c in calls:
        lo, hi = seen.get(c.action, (c.time, c.time))
        seen[c.action] = (min(lo, c.time), max(hi, c.time))
    return ", ".join("%s %.1f–%.1f" % (a, lo - epoch0, hi - epoch0)
                     for a, (lo, hi) in sorted(seen.items(), key=lambda kv: kv[1][0]))


# --- output ---------------------------------------------------------------------------------------

def table(phases):
    head = ("phase", "wall s", "calls", "writes", "throttled (server)", "failures", "target", "result")
    rows = [head]
    for p in phases:
        result = "—" if not p.target else ("PASS" if not p.missed else "MISSED")
        rows.append((p.name, "%.2f" % p.wall, str(p.calls), str(p.writes), str(p.throttled), str(p.failures),
                     p.target or "—", result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main():
    print("machine: %s, nproc %d, Python %s" % (platform.machine(), os.cpu_count() or 0, platform.python_version()))
    print("emulator: latency %d ms per call, default QPS limits enforced; targets: %d CDN + %d DCDN + %d API "
          "Gateway (%d groups x %d) + %d CLB + %d ALB listeners (ALB jobs %.1f s) + %d OSS + %d FC + %d WAF"
          % (LATENCY_MS, N_CDN, N_DCDN, len(API), N_GROUPS, PER_GROUP, N_CLB, N_ALB, JOB_SECONDS,
             len(OSS), len(FC), N_WAF))
    print("floor the QPS limits allow: %.2f s; first-run target 1.5 x floor = %.2f s" % (floor(), FIRST_TARGET_S))
    print("second run: listener reads floor %.2f s; target max(1 s, 1.5 x that) = %.2f s"
          % (second_floor(), SECOND_TARGET_S))
    fullchain, key = make_cert(NAMES, 90)
    bundle = CertBundle.from_pems(fullchain, key)
    cert_name = unique_cert_name(CERT_BASE, bundle)
    print("certificate: %s -> CertName %s\n" % (", ".join(NAMES), cert_name), flush=True)

    baseline = run_baseline(fullchain, key, cert_name, bundle.cert.serial_number)
    first, second = run_tool(fullchain, key)
    phases = [baseline, first, second]

    print(table(phases))
    print()
    for p in phases:
        top = ", ".join("%s %d" % kv for kv in sorted(p.actions.items(), key=lambda kv: (-kv[1], kv[0])))
        print("%s — calls by action: %s" % (p.name, top or "none"))
        print("    client.stats: %s" % ", ".join("%s=%d" % kv for kv in p.stats.items()))
        for n in p.notes[:5]:
            print("    " + n)
    print()
    if baseline.wall and first.wall:
        print("speed-up of the first run over the naive baseline: %.1fx" % (baseline.wall / first.wall))
    missed = first.missed + second.missed
    for m in missed:
        print("MISSED: " + m)
    if not missed:
        print("all targets met")
    problems = [("baseline", x) for x in baseline.problems] + [("first run", x) for x in first.problems] + \
        [("second run", x) for x in second.problems]
    for where, x in problems[:20]:
        print("CORRECTNESS FAILED (%s): %s" % (where, x))
    if len(problems) > 20:
        print("CORRECTNESS FAILED: ... and %d more" % (len(problems) - 20))
    if not problems:
        print("correctness: every target serves %s after the first run; second run all unchanged" % first.cert_name)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
