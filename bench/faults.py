#!/usr/bin/env python3
"""The fault suite, repeated: runs each fault test TRIALS times and prints a table of fault,
trials, survived, lost, duplicated and recovery time. The tests themselves (README,
"Reliability") inflict the faults on real processes and servers and fail on any lost or
duplicated job, orphan or second instance, so a trial that passes lost and duplicated nothing;
the outage tests also print how long the worker took to be back, and the load test the
latency of `status` under 50 apps × 10 MB/s of logs (run here at that full size, in release).

usage: bench/faults.py [--trials N]   (needs what `cargo test` needs, and root for the tmpfs)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIALS = int(sys.argv[sys.argv.index("--trials") + 1]) if "--trials" in sys.argv else 3

# (fault, cargo test arguments, test name filter)
FAULTS = [
    ("Valkey down 0.5 s under a worker", ["-p", "tp-bullmq", "--test", "outage"], "a_half_second_outage"),
    ("Valkey down 3 s under a worker", ["-p", "tp-bullmq", "--test", "outage"], "a_three_second_outage"),
    ("Valkey down 45 s under a worker", ["-p", "tp-bullmq", "--test", "outage"], "a_45_second_outage"),
    ("PostgreSQL restart mid-job, 5 workers", ["-p", "tp-worker", "--test", "pg_restart"], ""),
    ("search server killed mid-reindex", ["-p", "tp-worker", "--test", "reindex"], "the_search_server_going_away"),
    ("full disk under TPCTL_HOME", ["-p", "tpctl", "--test", "full_disk"], ""),
    ("keeper SIGKILL during stop / restart / rotation", ["-p", "tpctl", "--test", "kills"], "a_keeper_killed"),
    ("start / stop / start racing, 50 rounds", ["-p", "tpctl", "--test", "kills"], "racing"),
    ("tpctl save SIGKILLed, 100 rounds", ["-p", "tpctl", "--test", "persistence"], "a_save_killed"),
    ("50 apps × 10 MB/s of logs for 60 s, status in a loop", ["--release", "-p", "tpctl", "--test", "load"], ""),
]

# The load test's full size (CI runs it at 1 MB/s for 8 s).
LOAD = {"TPCTL_LOAD_APPS": "50", "TPCTL_LOAD_RATE": "10000000", "TPCTL_LOAD_SECS": "60",
        "TPCTL_LOAD_MAX_SIZE": str(10 * 1024 * 1024)}


def run(args, name):
    cmd = ["cargo", "test", "--locked", "--quiet", *args, "--", "--nocapture"]
    if name:
        cmd.insert(-1, name)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, **LOAD))
    out = p.stdout + p.stderr
    passed = sum(int(n) for n in re.findall(r"test result: \w+\. (\d+) passed", out))
    failed = sum(int(n) for n in re.findall(r"(\d+) failed", " ".join(re.findall(r"test result: .*", out))))
    back = [float(v) * (1e-3 if unit == "ms" else 1.0)
            for v, unit in re.findall(r"named connection back ([\d.]+)(ms|s) after Valkey", out)]
    back += [float(v) for v in re.findall(r"recovery: ([\d.]+) s", out)]
    status = re.findall(r"status under load: .*?p99 ([\d.]+) ms, max ([\d.]+) ms; /bin/true meanwhile .*?p99 ([\d.]+) ms", out)
    note = (f"status p99 {status[-1][0]} ms, max {status[-1][1]} ms (/bin/true p99 {status[-1][2]} ms)"
            if status else "")
    return p.returncode == 0 and passed > 0 and failed == 0, back, note


def main():
    subprocess.run(["cargo", "build", "--locked", "--quiet", "--workspace", "--tests"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "-p", "tpctl", "--tests"], cwd=ROOT, check=True)
    rows = []
    for fault, args, name in FAULTS:
        survived = 0
        backs = []
        notes = []
        for _ in range(TRIALS):
            ok, back, note = run(args, name)
            survived += ok
            backs += back
            notes += [note] if note else []
            print(f"{fault}: {'survived' if ok else 'FAILED'} {note}", file=sys.stderr)
        recovery = f"{min(backs):.2f}–{max(backs):.2f} s" if backs else "—"
        if notes:
            recovery = "; ".join(notes)
        lost = "0" if survived == TRIALS else f"see failed trials ({TRIALS - survived})"
        rows.append((fault, TRIALS, survived, lost, lost, recovery))
    print(f"\nfault suite, {TRIALS} trial(s) each, {os.cpu_count()} CPUs\n")
    print("| fault | trials | survived | lost | duplicated | recovery |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
