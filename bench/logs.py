#!/usr/bin/env python3
"""Log throughput benchmark (issue: logs). A C spammer writes 1,000,000 numbered 100-byte lines
as fast as it can; we time start -> last byte in the log file, check every line arrived once
and in order, and read the keeper's CPU time and peak RSS. References: the same program
writing straight to a file, and through a pipe into `cat` into a file.

usage: bench/logs.py [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = "--quick" in sys.argv
LINES = 1_000_000
WORK = tempfile.mkdtemp(prefix="tpctl-logbench-")
HOME = os.path.join(WORK, "home")
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
SPAMMER = os.path.join(WORK, "spammer")
ENV = dict(os.environ, TPCTL_HOME=HOME, NO_COLOR="1")
TOTAL = LINES * 100


def stamps(path):
    out = {}
    for line in open(path):
        what, ns = line.split()
        out[what] = int(ns)
    return out


def wait_size(path, size, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.path.getsize(path) >= size:
                return time.monotonic_ns()
        except OSError:
            pass
        time.sleep(0.0005)
    raise SystemExit(f"bench: {path} never reached {size} bytes")


def verify(path, prefix_len=0):
    """Every numbered line exactly once, in order; returns (lost, duplicated, malformed)."""
    expected = 0
    lost = dup = bad = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw[prefix_len:]
            if len(line) != 100 or not line[:9].isdigit():
                bad += 1
                continue
            n = int(line[:9])
            if n == expected:
                expected += 1
            elif n > expected:
                lost += n - expected
                expected = n + 1
            else:
                dup += 1
    lost += LINES - expected
    return lost, dup, bad


def reference(kind):
    out = os.path.join(WORK, f"ref-{kind}.log")
    st = os.path.join(WORK, f"ref-{kind}.stamps")
    for p in (out, st):
        if os.path.exists(p):
            os.remove(p)
    env = dict(os.environ, STAMPS=st, LINES=str(LINES), EXIT="1")
    t0 = time.monotonic_ns()
    if kind == "file":
        with open(out, "wb") as f:
            subprocess.run([SPAMMER], stdout=f, env=env, check=True)
    else:
        subprocess.run(f"{SPAMMER} | cat > {out}", shell=True, env=env, check=True)
    end = wait_size(out, TOTAL)
    return TOTAL / ((end - stamps(st)["start"]) / 1e9) / 1e6


def through_tpctl(time_prefix):
    subprocess.run([TPCTL, "kill"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(HOME, ignore_errors=True)
    st = os.path.join(WORK, "spam.stamps")
    if os.path.exists(st):
        os.remove(st)
    eco = os.path.join(WORK, "spam.toml")
    with open(eco, "w") as f:
        f.write(f'[[apps]]\nname = "spam"\nscript = "{SPAMMER}"\nlog_max_size = "1G"\nkill_timeout = "5s"\n')
        f.write(f'env = {{ STAMPS = "{st}", LINES = "{LINES}" }}\n')
        if time_prefix:
            f.write("time = true\n")
    subprocess.run([TPCTL, "start", eco], env=ENV, check=True, stdout=subprocess.DEVNULL)
    status = json.loads(subprocess.run([TPCTL, "status", "--json"], env=ENV, check=True, capture_output=True, text=True).stdout)
    keeper = status[0]["keeper_pid"]
    log = os.path.join(HOME, "apps", "spam", "logs", "out.log")
    size = TOTAL + (LINES * 25 if time_prefix else 0)
    end = wait_size(log, size)
    with open(f"/proc/{keeper}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{keeper}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
    mbps = TOTAL / ((end - stamps(st)["start"]) / 1e9) / 1e6
    lost, dup, bad = verify(log, 25 if time_prefix else 0)
    subprocess.run([TPCTL, "kill"], env=ENV, stdout=subprocess.DEVNULL)
    return mbps, cpu_s, hwm, lost, dup, bad


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    subprocess.run(["cc", "-O2", "-o", SPAMMER, os.path.join(ROOT, "bench", "apps", "spammer.c")], check=True)
    reps = 3 if QUICK else 7
    rows = []
    try:
        for label, fn in (("direct to a file", lambda: reference("file")), ("pipe into cat into a file", lambda: reference("cat"))):
            v = [fn() for _ in range(reps)]
            rows.append((label, f"{statistics.median(v):.0f} MB/s ({min(v):.0f}–{max(v):.0f}, n={reps})", "", "", ""))
        for label, stamp in (("tpctl keeper, plain", False), ("tpctl keeper, time = true", True)):
            runs = [through_tpctl(stamp) for _ in range(reps)]
            mb = [r[0] for r in runs]
            cpu = [r[1] for r in runs]
            hwm = [r[2] for r in runs]
            loss = f"{sum(r[3] for r in runs)} lost, {sum(r[4] for r in runs)} duplicated, {sum(r[5] for r in runs)} malformed"
            rows.append((label, f"**{statistics.median(mb):.0f} MB/s** ({min(mb):.0f}–{max(mb):.0f}, n={reps})", f"{statistics.median(cpu):.2f} s", f"{max(hwm):.1f} MiB", loss))
    finally:
        subprocess.run([TPCTL, "kill"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"\nlog throughput, 1,000,000 × 100-byte lines, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs\n")
    print("| path | throughput | keeper CPU | keeper peak RSS | lines (all runs) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\nPM2 7.0.4: 245 MB/s (daemon 98% CPU, 56 -> 140 MiB; 1,467 lines lost with log_date_format). shep 0.23.0: 163 MB/s.")


if __name__ == "__main__":
    main()
