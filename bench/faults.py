#!/usr/bin/env python3
"""The fault suite, repeated: runs each fault test TRIALS times and prints a table of fault,
trials, survived, lost, duplicated and recovery time. The tests themselves (README,
"Reliability") inflict the faults on real processes and servers and fail on any lost or
duplicated job, orphan or second instance, so a trial that passes lost and duplicated nothing;
the Valkey outage tests also print how long the worker took to be back.

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
]


def run(args, name):
    cmd = ["cargo", "test", "--locked", "--quiet", *args, "--", "--nocapture"]
    if name:
        cmd.insert(-1, name)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    out = p.stdout + p.stderr
    passed = sum(int(n) for n in re.findall(r"test result: \w+\. (\d+) passed", out))
    failed = sum(int(n) for n in re.findall(r"(\d+) failed", " ".join(re.findall(r"test result: .*", out))))
    back = [float(v) * (1e-3 if unit == "ms" else 1.0)
            for v, unit in re.findall(r"named connection back ([\d.]+)(ms|s) after Valkey", out)]
    return p.returncode == 0 and passed > 0 and failed == 0, back


def main():
    subprocess.run(["cargo", "build", "--locked", "--quiet", "--workspace", "--tests"], cwd=ROOT, check=True)
    rows = []
    for fault, args, name in FAULTS:
        survived = 0
        backs = []
        for _ in range(TRIALS):
            ok, back = run(args, name)
            survived += ok
            backs += back
            print(f"{fault}: {'survived' if ok else 'FAILED'}", file=sys.stderr)
        recovery = f"{min(backs):.2f}–{max(backs):.2f} s" if backs else "—"
        lost = "0" if survived == TRIALS else f"see failed trials ({TRIALS - survived})"
        rows.append((fault, TRIALS, survived, lost, lost, recovery))
    print(f"\nfault suite, {TRIALS} trial(s) each, {os.cpu_count()} CPUs\n")
    print("| fault | trials | survived | lost | duplicated | recovery |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
