#!/usr/bin/env python3
"""Supervisor benchmark for tpctl (issue: tpctl core). Prints one table of medians with ranges.

Builds the release binary and three tiny C apps, runs every scenario in a private TPCTL_HOME,
and stops every process it started. Timings come from app-side CLOCK_MONOTONIC stamps where
the app is involved, and from wall time around the CLI otherwise. Compare with
../shared/specs/pm2-baseline.md and peers-baseline.md.

usage: bench/core.py [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from procstat import pss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = "--quick" in sys.argv
WORK = tempfile.mkdtemp(prefix="tpctl-bench-")
HOME = os.path.join(WORK, "home")
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
ENV = dict(os.environ, TPCTL_HOME=HOME, NO_COLOR="1")
ROWS = []


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, env=ENV, cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    for app in ("sleeper", "crasher", "balloon"):
        subprocess.run(["cc", "-O2", "-o", os.path.join(WORK, app), os.path.join(ROOT, "bench", "apps", app + ".c")], check=True)


def ecosystem(name, apps):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        for a in apps:
            f.write("[[apps]]\n")
            for k, v in a.items():
                f.write(f"{k} = {json.dumps(v) if not isinstance(v, dict) else inline(v)}\n")
            f.write("\n")
    return path


def inline(d):
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"


def tpctl(*args):
    return sh(TPCTL, *args)


def timed(*args):
    t0 = time.perf_counter()
    tpctl(*args)
    return (time.perf_counter() - t0) * 1000


def statuses():
    return json.loads(tpctl("status", "--json").stdout)


def wait_for(cond, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise SystemExit(f"bench: timed out waiting for {what}")


def tpctl_pids():
    marker = f"TPCTL_HOME={HOME}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/exe".replace("exe", "comm")) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if marker in env and comm == "tpctl":
            out.append(int(entry))
    return out


def row(figure, values, unit, pm2, shep, target):
    values = sorted(values)
    med = statistics.median(values)
    fmt = (lambda v: f"{v:.2f}") if med < 10 else (lambda v: f"{v:.1f}") if med < 100 else (lambda v: f"{v:.0f}")
    ROWS.append((figure, f"**{fmt(med)} {unit}** ({fmt(values[0])}–{fmt(values[-1])}, n={len(values)})", pm2, shep, target))
    print(f"  {figure}: {fmt(med)} {unit}", file=sys.stderr)


def sleepers(n, name="s"):
    stamps = os.path.join(WORK, f"stamps-{name}-{n}")
    apps = [{"name": f"{name}{i}", "script": os.path.join(WORK, "sleeper"), "kill_timeout": "5s", "env": {"STAMPS": stamps}} for i in range(n)]
    return ecosystem(f"{name}-{n}.toml", apps), stamps


def reset():
    sh(TPCTL, "kill", check=False)
    shutil.rmtree(HOME, ignore_errors=True)


def scenario_start_status_stop():
    reps = 3 if QUICK else 7
    for n in (10, 200):
        starts, stops, status_ms, pss = [], [], [], []
        for _ in range(reps):
            reset()
            eco, stamps = sleepers(n)
            if os.path.exists(stamps):
                os.remove(stamps)
            t0 = time.monotonic_ns()
            tpctl("start", eco)
            t_cli = time.monotonic_ns()
            if n == 10:
                # All online when the CLI returns: each keeper answers after exec succeeded.
                assert all(s["status"] == "online" for s in statuses())
                starts.append((t_cli - t0) / 1e6)
            time.sleep(0.5)
            for _ in range(10 if QUICK else 20):
                status_ms.append(timed("status", "--json"))
            pss.append(sum(pss_kib(p) for p in tpctl_pids()) / 1024)
            stops.append(timed("stop", "all"))
        if n == 10:
            row("start 10 apps until all online (CLI returns)", starts, "ms", "≤ 281 ms", "≤ 23 ms", "≤ 20 ms")
        row(f"`status --json`, {n} apps", status_ms, "ms", "117 ms" if n == 10 else "132 ms", "6 ms" if n == 10 else "11 ms", "≤ 4 ms" if n == 10 else "≤ 10 ms")
        row(f"PSS of all tpctl processes, {n} apps", pss, "MiB", "56 MiB" if n == 10 else "75 MiB", "20.6 MiB" if n == 10 else "33 MiB", "≤ 9.5 MiB" if n == 10 else "≤ 31.5 MiB")
        row(f"`stop all`, {n} apps", stops, "ms", "682 ms" if n == 10 else "11.8 s", "16 ms" if n == 10 else "400 ms", "≤ 300 ms (200 apps)")
    reset()


def scenario_crash_restart():
    reset()
    stamps = os.path.join(WORK, "crash-stamps")
    if os.path.exists(stamps):
        os.remove(stamps)
    eco = ecosystem("crash.toml", [{"name": "crasher", "script": os.path.join(WORK, "crasher"), "min_uptime": "50ms", "max_restarts": 1000, "restart_delay": 0, "env": {"STAMPS": stamps, "CRASH_AFTER_MS": "100"}}])
    tpctl("start", eco)
    runs = 20 if QUICK else 60
    wait_for(lambda: os.path.exists(stamps) and open(stamps).read().count("start") > runs, timeout=120, what="crash restarts")
    reset()
    gaps, last_exit = [], None
    for line in open(stamps):
        what, ns = line.split()
        if what == "exit":
            last_exit = int(ns)
        elif last_exit is not None:
            gaps.append((int(ns) - last_exit) / 1e6)
            last_exit = None
    row("crash → restart (exit stamp → next start stamp), restart_delay 0", gaps, "ms", "5.4 ms", "2.3 ms", "≤ 1.5 ms")


def scenario_memory_limit():
    reactions, rss_at_stop = [], []
    for _ in range(3 if QUICK else 6):
        reset()
        stamps = os.path.join(WORK, "balloon-stamps")
        if os.path.exists(stamps):
            os.remove(stamps)
        eco = ecosystem("balloon.toml", [{"name": "balloon", "script": os.path.join(WORK, "balloon"), "max_memory_restart": "200M", "kill_timeout": "5s", "env": {"STAMPS": stamps, "LIMIT_MIB": "200", "GROW_MIB_PER_S": "50"}}])
        tpctl("start", eco)
        wait_for(lambda: os.path.exists(stamps) and "signal" in open(stamps).read(), timeout=60, what="memory-limit stop")
        reset()
        marks = {}
        for line in open(stamps):
            what, ns, mib = line.split()
            marks.setdefault(what, (int(ns), int(mib)))
        reactions.append((marks["signal"][0] - marks["cross"][0]) / 1e6)
        rss_at_stop.append(marks["signal"][1])
    row("memory limit: crossing → stop signal (200 MiB limit, +50 MiB/s)", reactions, "ms", "0.9–19.5 s", "0.06–6 s", "≤ 1.5 s")
    row("memory limit: app size when signalled", rss_at_stop, "MiB", "244–1174 MiB", "202–499 MiB", "")


def main():
    print(f"building; work dir {WORK}", file=sys.stderr)
    build()
    try:
        scenario_start_status_stop()
        scenario_crash_restart()
        scenario_memory_limit()
    finally:
        reset()
        shutil.rmtree(WORK, ignore_errors=True)
    uname = os.uname()
    print(f"\ntpctl core benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {uname.sysname} {uname.release}\n")
    print("| figure | tpctl | PM2 7.0.4 | shep 0.23.0 | target |")
    print("|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
