#!/usr/bin/env python3
"""tp-bullmq worker against the Node bullmq 5.67.2 worker (issue: BullMQ v5 queue layer).

Same private redis-server, same TestPlanIt-shaped jobs (added by Node's addBulk), Node and
Rust alternating in one run: drain 100,000 no-op jobs at concurrency 1, 5 and 50 (jobs/s,
worker CPU per job, peak RSS), add -> processor-start latency (1000 jobs 10 ms apart, idle
worker), idle RSS. Prints one table of medians with ranges and the Rust/Node ratio.

One more drain at concurrency 1 runs the worker and redis-server on the same CPU. Unpinned, each
job's round trip wakes a process on the other vCPU and back (an inter-processor interrupt and a
halted vCPU resumed, both slow in a VM): about 20 µs of kernel time per job that either worker
pays alike. Pinned, that cost mostly goes, and what remains is closer to each worker's own work.

usage: bench/bullmq.py [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from procstat import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
QUICK = "--quick" in sys.argv
JOBS = 20_000 if QUICK else 100_000
REPS = 1 if QUICK else 3
RUST = os.path.join(ROOT, "target", "release", "examples", "bench_worker")



def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-bullmq", "--example", "bench_worker"], cwd=ROOT, check=True)
    if not os.environ.get("BULLMQ_MODULE"):  # bench/run installs its own and names it
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    # bench/run passes a fixed port it has checked; alone, any free one.
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else free_port()
    work = tempfile.mkdtemp(prefix="tp-bullmq-bench-")
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        results = {}

        def worker_cmd(impl, conc, count, *extra):
            if impl == "rust":
                return [RUST, url, "bench", str(conc), str(count), *extra]
            return ["node", os.path.join(NODE_DIR, "bench-worker.cjs"), url, "bench", str(conc), str(count), *extra]

        all_cpus = os.sched_getaffinity(0)
        one_cpu = {min(all_cpus)}

        def run(impl, conc, count, produce, *extra, pin=False):
            subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, check=True)
            if produce == "bulk":
                subprocess.run(["node", os.path.join(NODE_DIR, "bench-produce.cjs"), url, "bench", str(count)], check=True)
            os.sched_setaffinity(redis.pid, one_cpu if pin else all_cpus)
            try:
                p = subprocess.Popen(worker_cmd(impl, conc, count, *extra), stdout=subprocess.PIPE, text=True, cwd=NODE_DIR,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, one_cpu)) if pin else None)
                assert p.stdout.readline().strip() == "ready"
                if produce == "spaced":
                    subprocess.run(["node", os.path.join(NODE_DIR, "bench-produce.cjs"), url, "bench", str(count), "10"], check=True)
                out = json.loads(p.stdout.readline())
                p.wait(timeout=120)
            finally:
                os.sched_setaffinity(redis.pid, all_cpus)
            return out

        for conc in (1, 5, 50):
            for rep in range(REPS):
                for impl in ("node", "rust") if rep % 2 == 0 else ("rust", "node"):
                    r = run(impl, conc, JOBS, "bulk")
                    results.setdefault((impl, f"c{conc}"), []).append(r)
                    print(f"  {impl} concurrency {conc}: {r['jobs_per_s']:.0f} jobs/s", file=sys.stderr)
        for rep in range(REPS):
            for impl in ("node", "rust") if rep % 2 == 0 else ("rust", "node"):
                r = run(impl, 1, JOBS, "bulk", pin=True)
                results.setdefault((impl, "c1pin"), []).append(r)
                print(f"  {impl} concurrency 1, one CPU: {r['jobs_per_s']:.0f} jobs/s", file=sys.stderr)
        for rep in range(REPS):
            for impl in ("node", "rust"):
                results.setdefault((impl, "latency"), []).append(run(impl, 1, 300 if QUICK else 1000, "spaced"))
        for impl in ("node", "rust"):
            subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, check=True)
            out = subprocess.run(worker_cmd(impl, 1, 1, "idle", "10"), capture_output=True, text=True, cwd=NODE_DIR, check=True).stdout
            results[(impl, "idle")] = [json.loads(out.strip().splitlines()[-1])]
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)

    def cell(impl, kind, field, fmt="{:.0f}"):
        vals = sorted(r[field] for r in results[(impl, kind)])
        med = statistics.median(vals)
        return med, (fmt.format(med) if len(vals) == 1 else f"{fmt.format(med)} ({fmt.format(vals[0])}–{fmt.format(vals[-1])})")

    rows = []
    for conc in (1, 5, 50):
        for field, label, fmt in (("jobs_per_s", "jobs/s", "{:.0f}"), ("cpu_us_per_job", "worker CPU µs/job", "{:.1f}"), ("peak_rss_mb", "peak RSS MB", "{:.1f}")):
            n, ns = cell("node", f"c{conc}", field, fmt)
            r, rs = cell("rust", f"c{conc}", field, fmt)
            rows.append((f"drain {JOBS:,}, concurrency {conc}: {label}", ns, rs, f"{r / n:.2f}×" if n else "-"))
    for field, label, fmt in (("jobs_per_s", "jobs/s", "{:.0f}"), ("cpu_us_per_job", "worker CPU µs/job", "{:.1f}")):
        n, ns = cell("node", "c1pin", field, fmt)
        r, rs = cell("rust", "c1pin", field, fmt)
        rows.append((f"drain {JOBS:,}, concurrency 1, worker and redis-server on one CPU: {label}", ns, rs, f"{r / n:.2f}×" if n else "-"))
    for field, label in (("p50_ms", "add→start p50 ms"), ("p99_ms", "add→start p99 ms")):
        n, ns = cell("node", "latency", field, "{:.2f}")
        r, rs = cell("rust", "latency", field, "{:.2f}")
        rows.append((label, ns, rs, f"{r / n:.2f}×" if n else "-"))
    for field, label, fmt in (("rss_mb", "idle RSS MB (10 s)", "{:.1f}"), ("cpu_s", "idle CPU s (10 s)", "{:.3f}")):
        n, ns = cell("node", "idle", field, fmt)
        r, rs = cell("rust", "idle", field, fmt)
        rows.append((label, ns, rs, f"{r / n:.2f}×" if n else "-"))
    print(f"\ntp-bullmq vs Node bullmq 5.67.2, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, redis-server on loopback, medians of {REPS}\n")
    print("| figure | Node bullmq 5.67.2 | tp-bullmq | Rust/Node |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
