#!/usr/bin/env python3
"""tp-worker benchmark (issue: workers, first wave): idle RSS of each long-running worker and
of the scheduler's run, and create-notification throughput end to end (Node bullmq adds the
jobs as TestPlanIt does; the notification worker at its default concurrency writes the rows to
a throw-away PostgreSQL database). Prints a table. Needs redis-server, PostgreSQL at
127.0.0.1:5432 (user postgres), GNU time (/usr/bin/time) and node with the pinned bullmq
(npm ci in workers/bullmq/tests/interop/node).

usage: bench/workers.py [--jobs N]
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from procstat import cpu_seconds, free_port, rss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
SCHEMA = os.path.join(ROOT, "workers", "worker", "tests", "schema")
BIN = os.path.join(ROOT, "target", "release", "tp-worker")
JOBS = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 5000
PG = dict(os.environ, PGHOST=os.environ.get("PGHOST", "127.0.0.1"), PGUSER=os.environ.get("PGUSER", "postgres"))



def psql(db, sql):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          env=PG, check=True, capture_output=True, text=True).stdout.strip()



def start(worker, env, log_dir):
    # The log goes to a file: a pipe nobody drains would block the worker once it is full.
    log = os.path.join(log_dir, f"{worker}.log")
    p = subprocess.Popen([BIN, worker], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    for _ in range(600):
        with open(log) as f:
            if "started for queue" in f.read():
                return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"tp-worker {worker} did not start; see {log}")


def stop(p):
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    work = tempfile.mkdtemp(prefix="tp-worker-bench-")
    db = f"tp_worker_bench_{os.getpid()}"
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
                             stdout=subprocess.DEVNULL)
    rows = []
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        psql("postgres", f'CREATE DATABASE "{db}"')
        for f in ("users.sql", "projects.sql", "audit.sql", "forecast.sql"):
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", os.path.join(SCHEMA, f)], env=PG, check=True)
        psql(db, """INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now())""")
        psql(db, """INSERT INTO "UserPreferences" (id, "userId", "notificationMode") VALUES ('p1', 'u1', 'IN_APP')""")
        env = {"PATH": os.environ.get("PATH", ""), "VALKEY_URL": url,
               "DATABASE_URL": f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:5432/{db}",
               "TENANT_CONFIG_FILE": "/nonexistent",
               "EMAIL_SERVER_HOST": "127.0.0.1", "EMAIL_SERVER_PORT": "2525", "EMAIL_FROM": "bench@localhost"}

        # The scheduler: one run, its time and peak RSS (GNU time reports the exec'd program's
        # own high-water mark; a forked Python child's would include the interpreter's pages).
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, "scheduler"], env=env, capture_output=True, text=True, check=True)
        took = time.perf_counter() - t0
        peak_kib = int(r.stderr.strip().splitlines()[-1])
        rows.append(("scheduler run (4 repeatables)", f"{took * 1000:.0f} ms, peak RSS {peak_kib / 1024:.1f} MiB"))

        # Idle RSS after 10 s with nothing to do.
        for worker in ("notification", "email", "forecast", "audit-log"):
            p = start(worker, env, work)
            time.sleep(10)
            rows.append((f"{worker} worker idle RSS (10 s)", f"{rss_kib(p.pid) / 1024:.1f} MiB"))
            stop(p)

        # create-notification end to end at the default concurrency (5).
        data = '{"userId": "u1", "type": "WORK_ASSIGNED", "title": "Run assigned", "message": "You have a new run", "relatedEntityId": "17", "relatedEntityType": "TestRun"}'
        subprocess.run(["node", os.path.join(NODE_DIR, "bench-produce.cjs"), url, "notifications", str(JOBS)],
                       env=dict(os.environ, DATA_JSON=data), check=True)
        p = start("notification", env, work)
        t0 = time.perf_counter()
        peak = 0
        while int(psql(db, 'SELECT count(*) FROM "Notification"')) < JOBS:
            peak = max(peak, rss_kib(p.pid))
            time.sleep(0.05)
        took = time.perf_counter() - t0
        cpu = cpu_seconds(p.pid)
        stop(p)
        rows.append((f"create-notification, {JOBS:,} jobs, concurrency 5", f"{JOBS / took:,.0f} jobs/s ({cpu / JOBS * 1e6:.0f} µs CPU/job, peak RSS {peak / 1024:.1f} MiB)"))
    finally:
        redis.terminate()
        redis.wait()
        subprocess.run(["dropdb", "--if-exists", "--force", db], env=PG, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ntp-worker, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, redis-server and PostgreSQL on loopback\n")
    print("| figure | tp-worker |")
    print("|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} |")


if __name__ == "__main__":
    main()
