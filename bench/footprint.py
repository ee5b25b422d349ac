"""Footprint benchmark: import time of the Function Compute entry point, peak RSS of `run`.

Run from the repository root with the venv python:

    .venv/bin/python -m bench.footprint
    .venv/bin/python -m bench.footprint --runs 9     # more import-time samples

(a) Import time. `python -X importtime -c "import acme_aliyun.fc"` in fresh
    processes (5 by default); the cumulative time of the top-level
    `acme_aliyun.fc` line, median. Target <= 300 ms. Also the wall time of the whole
    `python -c "import acme_aliyun.fc"` process (without -X importtime; `python -c
    pass` for reference), and, for contrast, the import time of the heavy part:
    `import acme_aliyun.runner, acme_aliyun.deployer, acme_aliyun.protocol.order`
    (sum of its top-level acme_aliyun* lines) with the packages it spends it in.

(b) Peak RSS. The demo world (tests/demo.py: Pebble, challtestsrv, the Alibaba
    Cloud emulator, the demo acme.ini with two certificates) is started in this
    process; `/usr/bin/time -v <venv python> -m acme_aliyun -c acme.ini run` runs
    twice with the demo's environment: the first run issues and deploys, the second
    must change nothing (0 write calls). "Maximum resident set size" of each.
    Target <= 100 MB. For reference also the RSS of bare imports, and which
    packages a `run` imports (a third, unchanged run under -X importtime).

Exit status: 0 when every run succeeded, even if a target is MISSED; 1 when a
run failed or the second run wrote something.
"""

import argparse
import collections
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import loopback_env  # noqa: E402

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"

RUNS = 5
IMPORT_TARGET_MS = 300.0
RSS_TARGET_MB = 100.0
RUN_TIMEOUT = 300
TIME = "/usr/bin/time"
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
PYTHON = VENV_PY if os.path.exists(VENV_PY) else sys.executable
FC_IMPORT = "import acme_aliyun.fc"
FULL_IMPORT = "import acme_aliyun.runner, acme_aliyun.deployer, acme_aliyun.protocol.order"
LINE_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")
RSS_RE = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


class RunFailed(Exception):
    pass


def base_env():
    env = loopback_env()
    env["PYTHONPATH"] = ROOT
    return env


def run(cmd, env, cwd=ROOT, what=""):
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RunFailed("%s: no exit after %d s: %s" % (what, RUN_TIMEOUT, " ".join(cmd))) from None
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RunFailed("%s: exit status %d\n$ %s\n--- stdout\n%s\n--- stderr\n%s" % (
            what, p.returncode, " ".join(cmd), p.stdout[-3000:], p.stderr[-3000:]))
    return wall, p


def parse_importtime(stderr):
    """[(self_us, cumulative_us, level, name)] from -X importtime output."""
    out = []
    for line in stderr.splitlines():
        m = LINE_RE.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    return out


def ours_ms(lines, name=None):
    """Cumulative ms of the top-level line `name`, or of all top-level acme_aliyun* lines."""
    top = [cum for _s, cum, level, n in lines if level == 0 and
           (n == name if name else (n == "acme_aliyun" or n.startswith("acme_aliyun.")))]
    if name and not top:
        raise RunFailed("no top-level %s line in the -X importtime output" % name)
    return sum(top) / 1000.0


def by_package(lines, exclude_before=None):
    """Self time (ms) and module count per root package, for the lines after `exclude_before` (e.g. site)."""
    if exclude_before:
        idx = max((i for i, l in enumerate(lines) if l[2] == 0 and l[3] == exclude_before), default=-1)
        lines = lines[idx + 1:]
    ms, count = collections.Counter(), collections.Counter()
    for self_us, _cum, _level, name in lines:
        root = name.split(".")[0]
        ms[root] += self_us / 1000.0
        count[root] += 1
    return ms, count


def top_packages(ms, count, n=7):
    return ", ".join("%s %.0f ms/%d mod" % (k, v, count[k]) for k, v in ms.most_common(n))


def timed_rss(cmd, env, cwd, what):
    wall, p = run([TIME, "-v"] + cmd, env, cwd, what)
    m = RSS_RE.search(p.stderr)
    if not m:
        raise RunFailed("%s: no 'Maximum resident set size' in /usr/bin/time output" % what)
    return wall, int(m.group(1)) / 1024.0, p


def table(head, rows):
    rows = [head] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def verdict(value, target):
    return "PASS" if value <= target else "MISSED"


# --- (a) import time -----------------------------------------------------------------------------

def import_times(runs):
    env = base_env()
    fc, full, fc_wall, pass_wall, full_wall = [], [], [], [], []
    full_lines = None
    for _ in range(runs):
        _w, p = run([PYTHON, "-X", "importtime", "-c", FC_IMPORT], env, what="importtime fc")
        fc.append(ours_ms(parse_importtime(p.stderr), "acme_aliyun.fc"))
        _w, p = run([PYTHON, "-X", "importtime", "-c", FULL_IMPORT], env, what="importtime full")
        full_lines = parse_importtime(p.stderr)
        full.append(ours_ms(full_lines))
        fc_wall.append(run([PYTHON, "-c", FC_IMPORT], env, what="wall fc")[0] * 1000)
        full_wall.append(run([PYTHON, "-c", FULL_IMPORT], env, what="wall full")[0] * 1000)
        pass_wall.append(run([PYTHON, "-c", "pass"], env, what="wall pass")[0] * 1000)
    med = statistics.median
    rows = [
        ("import acme_aliyun.fc", "%.1f" % med(fc), "%.1f–%.1f" % (min(fc), max(fc)), "%.0f" % med(fc_wall),
         "<= %.0f ms" % IMPORT_TARGET_MS, verdict(med(fc), IMPORT_TARGET_MS)),
        ("import runner, deployer, protocol.order", "%.1f" % med(full), "%.1f–%.1f" % (min(full), max(full)),
         "%.0f" % med(full_wall), "—", "—"),
        ("python -c pass (reference)", "—", "—", "%.0f" % med(pass_wall), "—", "—"),
    ]
    missed = [] if med(fc) <= IMPORT_TARGET_MS else [
        "import acme_aliyun.fc takes %.1f ms (target <= %.0f ms)" % (med(fc), IMPORT_TARGET_MS)]
    ms, count = by_package(full_lines, exclude_before="site")
    return rows, missed, top_packages(ms, count)


# --- (b) peak RSS of `run` -----------------------------------------------------------------------

def rss_of_run(keep):
    from tests import demo
    from tests.pebble import Pebble

    folder = tempfile.mkdtemp(prefix="bench-footprint-")
    rows, missed, problems, notes = [], [], [], []
    pebble = emu = None
    try:
        pebble = Pebble(os.path.join(folder, "pebble")).start()
        emu = demo.start_emulator(pebble)
        ini = demo.write_demo_ini(folder, pebble, emu)
        env = demo.tool_env()
        env["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
        cmd = [PYTHON, "-m", "acme_aliyun", "-c", ini, "run"]

        for label in ("run #1 (issue 2 certs + deploy)", "run #2 (unchanged)"):
            emu.reset_calls()
            wall, rss, _p = timed_rss(cmd, env, folder, label)
            writes = len(emu.write_calls())
            rows.append((label, "%.1f" % rss, "%.2f" % wall, str(writes), "<= %.0f MB" % RSS_TARGET_MB,
                         verdict(rss, RSS_TARGET_MB)))
            if rss > RSS_TARGET_MB:
                missed.append("%s peaks at %.1f MB RSS (target <= %.0f MB)" % (label, rss, RSS_TARGET_MB))
            if label.startswith("run #1") and writes == 0:
                problems.append("run #1 made no write call")
            if label.startswith("run #2") and writes:
                problems.append("run #2 made %d write call(s); it should change nothing" % writes)

        # references: bare interpreter and bare imports
        for label, code in (("python -c pass", "pass"), ("import acme_aliyun.fc", FC_IMPORT),
                            ("import runner, deployer, protocol.order", FULL_IMPORT)):
            wall, rss, _p = timed_rss([PYTHON, "-c", code], env, folder, label)
            rows.append((label + " (reference)", "%.1f" % rss, "%.2f" % wall, "—", "—", "—"))

        # what a `run` imports (a third, unchanged run under -X importtime; not measured for RSS)
        _w, p = run([PYTHON, "-X", "importtime"] + cmd[1:], env, folder, "run under -X importtime")
        lines = parse_importtime(p.stderr)
        ms, count = by_package(lines, exclude_before="site")
        notes.append("modules a `run` imports: %d; by package (self import time / modules): %s"
                     % (sum(count.values()), top_packages(ms, count)))
    finally:
        if emu is not None:
            emu.stop()
        if pebble is not None:
            pebble.stop()
        if keep:
            print("kept: %s" % folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return rows, missed, problems, notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=RUNS, help="import-time samples (default %d)" % RUNS)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder of the demo world")
    args = ap.parse_args(argv)
    if not os.path.exists(TIME):
        print("%s is missing (apt-get install time)" % TIME)
        return 1
    print("machine: %s, nproc %d, Python %s (%s)" % (platform.machine(), os.cpu_count() or 0,
                                                   platform.python_version(), os.path.relpath(PYTHON, ROOT)))
    try:
        rows, missed, heavy = import_times(args.runs)
        print("\n(a) import time, %d fresh processes each (medians)\n" % args.runs)
        print(table(("import", "importtime ms", "min–max ms", "process wall ms", "target", "result"), rows))
        print("\nheavy import by package (self ms / modules, after site): %s" % heavy)

        rss_rows, rss_missed, problems, notes = rss_of_run(args.keep)
        print("\n(b) peak RSS of `acme-aliyun run` on the demo world (/usr/bin/time -v)\n")
        print(table(("process", "max RSS MB", "wall s", "write calls", "target", "result"), rss_rows))
        print()
        for n in notes:
            print(n)
    except RunFailed as e:
        print("FAILED: %s" % e)
        return 1
    print()
    for m in missed + rss_missed:
        print("MISSED: " + m)
    if not (missed or rss_missed):
        print("all targets met")
    for p in problems:
        print("CORRECTNESS FAILED: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
