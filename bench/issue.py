"""Issuance benchmark: acme-aliyun against certbot, side by side, on one local Pebble.

Run from the repository root with the venv python:

    .venv/bin/python -m bench.issue            # N = 2, 10, 50 names, 5 runs each
    .venv/bin/python -m bench.issue --runs 3 --sizes 2,10

Both tools run as whole processes (start-up included), http-01 standalone on
the port Pebble validates on, against the same Pebble with PEBBLE_VA_NOSLEEP=1,
PEBBLE_WFE_NONCEREJECT=0 and PEBBLE_AUTHZREUSE=0 (every run validates every
name). Both accounts are registered before timing starts. Runs are interleaved
(for each repetition, each size: both tools, the first one alternating) so
that drift on the machine hits both alike.

Exit status: 0 when every run succeeded, even if a target is MISSED (this is a
benchmark); 1 when a run failed (its output is printed).
"""

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import loopback_env  # noqa: E402

from tests.pebble import Pebble  # noqa: E402

PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
SIZES = (2, 10, 50)
RUNS = 5
TARGETS = {2: 0.25, 50: 0.35}          # ratio ours/certbot, median over the runs; none for 10
RUN_TIMEOUT = 180                      # seconds for one issuance; a hang fails the benchmark
CERTBOT = shutil.which("certbot") or "/usr/bin/certbot"
REQ_RE = re.compile(r"ACME requests: (\d+)")


class RunFailed(Exception):
    pass


def budget(n):
    return 2 * n + 8


def names_for(n):
    return ["n%d.bench%d.example.test" % (i, n) for i in range(1, n + 1)]


def base_env():
    """The caller's environment without proxies, cloud credentials or CA bundle overrides."""
    return loopback_env(also=("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"))


def run(cmd, env, cwd=None, what=""):
    """Run one process; return (seconds, CompletedProcess). Raise RunFailed unless it exited 0."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise RunFailed("%s: no exit after %d s\n$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
            what, RUN_TIMEOUT, " ".join(cmd), _tail(e.stdout), _tail(e.stderr))) from None
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise RunFailed("%s: exit status %d\n$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
            what, p.returncode, " ".join(cmd), _tail(p.stdout), _tail(p.stderr)))
    return elapsed, p


def _tail(text, lines=40):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").splitlines()[-lines:])


class Ours:
    label = "acme-aliyun"

    def __init__(self, folder, pebble, sizes):
        self.folder = folder
        self.python = sys.executable
        os.makedirs(folder, exist_ok=True)
        lines = [
            "[acme]",
            "ACMEDirectory = %s" % pebble.directory_url,
            "AccountKeyFile = account.key",
            "CABundle = %s" % pebble.ca_bundle,
            "Contacts = mailto:admin@example.test",
            "StateDir = state",
            "",
        ]
        for n in sizes:
            lines += ["[cert:bench%d]" % n, "Domains = %s" % ", ".join(names_for(n)), "Challenge = http-01",
                      "HTTPListen = 127.0.0.1:%d" % pebble.http_port, ""]
        self.ini = os.path.join(folder, "acme.ini")
        with open(self.ini, "w") as fh:
            fh.write("\n".join(lines))
        self.env = base_env()
        self.env["PYTHONPATH"] = ROOT + os.pathsep + self.env.get("PYTHONPATH", "")

    def register(self):
        run([self.python, "-m", "acme_aliyun", "-c", self.ini, "account", "register"], self.env, cwd=self.folder,
            what="acme-aliyun account register")

    def issue(self, n):
        secs, p = run([self.python, "-m", "acme_aliyun", "-v", "-c", self.ini, "issue", "--force", "bench%d" % n],
                      self.env, cwd=self.folder, what="acme-aliyun issue (%d names)" % n)
        m = REQ_RE.findall(p.stderr)
        if not m:
            raise RunFailed("acme-aliyun issue (%d names): no 'ACME requests: N' line on stderr\n%s"
                            % (n, _tail(p.stderr)))
        if "bench%d: " % n not in p.stdout or "failed" in p.stdout:
            raise RunFailed("acme-aliyun issue (%d names): unexpected output\n%s" % (n, _tail(p.stdout)))
        return secs, int(m[-1])


class Certbot:
    label = "certbot"

    def __init__(self, folder, pebble):
        self.pebble = pebble
        self.dirs = []
        for sub in ("config", "work", "logs"):
            path = os.path.join(folder, sub)
            os.makedirs(path, exist_ok=True)
            self.dirs += ["--%s-dir" % sub, path]
        self.env = base_env()
        self.env["REQUESTS_CA_BUNDLE"] = pebble.ca_bundle

    def version(self):
        p = subprocess.run([CERTBOT, "--version"], capture_output=True, text=True, env=self.env, timeout=60)
        text = (p.stdout + p.stderr).strip()
        return text.splitlines()[0] if text else "certbot (version unknown)"

    def register(self):
        run([CERTBOT, "register", "--agree-tos", "-m", "x@example.test", "--no-eff-email",
             "--server", self.pebble.directory_url, "--non-interactive"] + self.dirs, self.env,
            what="certbot register")

    def issue(self, n):
        cmd = [CERTBOT, "certonly", "--standalone", "--http-01-port", str(self.pebble.http_port),
               "--http-01-address", "127.0.0.1", "--server", self.pebble.directory_url,
               "--non-interactive", "--agree-tos", "--force-renewal", "--key-type", "ecdsa",
               "--cert-name", "bench%d" % n] + self.dirs
        for name in names_for(n):
            cmd += ["-d", name]
        secs, _ = run(cmd, self.env, what="certbot certonly (%d names)" % n)
        return secs, None


def machine_info(certbot):
    return [
        "machine: nproc=%s, %s %s, python %s (%s), %s, pebble %s" % (
            os.cpu_count(), platform.system(), platform.machine(), platform.python_version(), sys.executable,
            certbot.version(), _pebble_version()),
    ]


def _pebble_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pebble"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        return out or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def table(sizes, times, reqs):
    head = ("names", "ours median s", "certbot median s", "ratio ours/certbot", "target ratio",
            "our ACME requests", "budget 2N+8", "result")
    rows, missed = [], []
    for n in sizes:
        ours, cb = statistics.median(times["ours"][n]), statistics.median(times["certbot"][n])
        ratio = ours / cb
        target = TARGETS.get(n)
        rq = reqs[n]
        rq_text = str(rq[0]) if min(rq) == max(rq) else "%d-%d" % (min(rq), max(rq))
        problems = []
        if target is not None and ratio > target:
            problems.append("ratio")
        if max(rq) > budget(n):
            problems.append("requests")
        result = "PASS" if not problems else "FAIL (MISSED: %s)" % " and ".join(problems)
        if problems:
            missed.append((n, problems))
        rows.append((str(n), "%.2f" % ours, "%.2f" % cb, "%.3f" % ratio,
                     "<= %.2f" % target if target is not None else "-", rq_text, str(budget(n)), result))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = " | ".join("%%-%ds" % w for w in widths)
    lines = [fmt % head, "-+-".join("-" * w for w in widths)] + [fmt % r for r in rows]
    return lines, missed


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.issue", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=RUNS)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated numbers of names")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not os.path.exists(CERTBOT):
        print("certbot is not installed (apt-get install certbot)", file=sys.stderr)
        return 1

    # SIGTERM / SIGHUP must still stop Pebble: turn them into SystemExit so that finally runs.
    def _stop(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)

    tmp = tempfile.mkdtemp(prefix="bench-issue-")
    pebble = Pebble(os.path.join(tmp, "pebble"), env=PEBBLE_ENV)
    failed = False
    started = time.perf_counter()
    try:
        pebble.start()
        ours = Ours(os.path.join(tmp, "ours"), pebble, sizes)
        certbot = Certbot(os.path.join(tmp, "certbot"), pebble)
        info = machine_info(certbot)
        print("\n".join(info))
        print("pebble: %s (authorization reuse off: every run validates all its names)"
              % ", ".join("%s=%s" % kv for kv in sorted(PEBBLE_ENV.items())))
        print("each tool: %d runs per size, whole process timed (perf_counter around subprocess.run), "
              "interleaved; accounts registered beforehand" % args.runs, flush=True)
        ours.register()
        certbot.register()

        times = {"ours": {n: [] for n in sizes}, "certbot": {n: [] for n in sizes}}
        reqs = {n: [] for n in sizes}
        for rep in range(args.runs):
            for n in sizes:
                order = [("ours", ours), ("certbot", certbot)]
                if rep % 2:
                    order.reverse()
                line = []
                for key, tool in order:
                    secs, count = tool.issue(n)
                    times[key][n].append(secs)
                    if count is not None:
                        reqs[n].append(count)
                    line.append("%s %.2fs%s" % (key, secs, "" if count is None else " (%d requests)" % count))
                print("  run %d, %2d names: %s" % (rep + 1, n, ", ".join(line)), flush=True)

        lines, missed = table(sizes, times, reqs)
        print()
        print("\n".join(lines))
        print()
        if missed:
            for n, problems in missed:
                print("MISSED: %d names: %s" % (n, " and ".join(
                    "ratio above target %.2f" % TARGETS[n] if p == "ratio" else
                    "more than %d ACME requests" % budget(n) for p in problems)))
        else:
            print("All targets met.")
        print("(requests counted by acme-aliyun itself, directory GET and newNonce HEAD included; "
              "total bench time %.0f s)" % (time.perf_counter() - started))
        return 0
    except RunFailed as e:
        failed = True
        print("\nBENCHMARK FAILED: %s" % e, file=sys.stderr)
        print("Pebble log: %s" % os.path.join(pebble.workdir, "pebble.log"), file=sys.stderr)
        return 1
    finally:
        pebble.stop()
        if args.keep or failed:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
