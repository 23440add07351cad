#!/usr/bin/env python3
"""Sync worker benchmark (issue: sync worker): a bulk sync of 1,000 Jira issues against the
tracker stand-in (workers/worker/tests/support/trackers.py) answering every request in 20 ms,
and a table: wall time, CPU per issue, peak and idle RSS, and how long a worker stop takes
with a sync running (the sync is handed back to the queue between two issues).

Two runs: with TestPlanIt's rule of at least one second between requests to an integration
(the rule dominates, so this run syncs --paced issues, 100 by default, and the table gives the
1,000-issue figure it implies), and with the rule lifted (SYNC_REQUEST_INTERVAL_MS=0) to show
our own overhead. Each issue costs one tracker request, one Valkey cache write, two PostgreSQL
statements and one progress write; no search server is configured, so indexing is not timed.

The job is added with Node bullmq as the web app adds it. Needs redis-server, PostgreSQL at
127.0.0.1:5432 (user postgres), node with the pinned bullmq (npm ci in
workers/bullmq/tests/interop/node) and python3.

usage: bench/sync.py [--issues N] [--paced N] [--delay-ms MS]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from procstat import NODE_DIR, PG, ROOT, cpu_seconds, free_port, node, peak_rss_kib, psql, rss_kib, start_worker, stop_worker

SCHEMA = os.path.join(ROOT, "workers", "worker", "tests", "schema")
STANDIN = os.path.join(ROOT, "workers", "worker", "tests", "support", "trackers.py")
BIN = os.path.join(ROOT, "target", "release", "tp-worker")


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


ISSUES = int(arg("--issues", "1000"))
PACED = int(arg("--paced", "100"))
DELAY_MS = int(arg("--delay-ms", "20"))


def seed(db, base, n):
    psql(db, 'DELETE FROM "Issue"; DELETE FROM "Integration"')
    creds = json.dumps({"email": "ada@example.com", "apiToken": "jira-token"})
    settings = json.dumps({"baseUrl": base})
    psql(db, f"""INSERT INTO "Integration" (id, name, provider, "authType", status, credentials, settings, "updatedAt")
                 VALUES (1, 'Bench Jira', 'JIRA', 'API_KEY', 'ACTIVE', '{creds}', '{settings}', now())""")
    psql(db, f"""INSERT INTO "Issue" (name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId")
                 SELECT 'PAY-' || g, 'old', 'PAY-' || g, 'PAY-' || g, 'u1', 1, 1 FROM generate_series(1001, {n} + 1000) g""")


def run(env, work, label, n):
    """One bulk sync of n issues; returns (wall s, CPU s, peak RSS KiB, idle RSS KiB)."""
    log_path = os.path.join(work, f"worker-{label}.log")
    worker = start_worker(BIN, "sync", env, log_path)
    try:
        time.sleep(0.5)
        idle = rss_kib(worker.pid)
        cpu0 = cpu_seconds(worker.pid)
        job = json.dumps([{"name": "sync-issues", "data": {"userId": "u1", "integrationId": 1, "action": "sync", "data": {}},
                           "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 2000},
                                    "removeOnComplete": False, "removeOnFail": False}}])
        t0 = time.time()
        jid = node("produce.cjs", env["VALKEY_URL"], "issue-sync", job)[0]
        deadline = t0 + 3 * 3600
        while True:
            j = node("inspect.cjs", env["VALKEY_URL"], "issue-sync", "job", jid)
            if j["state"] in ("completed", "failed"):
                break
            if time.time() > deadline:
                raise SystemExit("the sync did not finish")
            time.sleep(0.2)
        wall = (j["finishedOn"] - j["processedOn"]) / 1000.0
        cpu = cpu_seconds(worker.pid) - cpu0
        peak = peak_rss_kib(worker.pid)
        if j["state"] != "completed" or j["returnvalue"]["synced"] != n:
            raise SystemExit(f"the sync did not sync every issue: {j}")
    finally:
        stop_worker(worker)
    log = open(log_path).read()
    if not re.search(r"Sync of integration 1 .*: (\d+) of (\d+) issues synced", log):
        raise SystemExit(f"no summary line in the worker's log:\n{log}")
    return wall, cpu, peak, idle


def stop_mid_sync(env, work, trials=3):
    """A paced bulk sync stopped after two issues, `trials` times over the same job: the
    seconds from SIGINT to the worker's exit, each time checking the job went back to the
    queue with no attempt spent. Returns the stop times."""
    job = json.dumps([{"name": "sync-issues", "data": {"userId": "u1", "integrationId": 1, "action": "sync", "data": {}},
                       "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 2000},
                                "removeOnComplete": False, "removeOnFail": False}}])
    db = env["DATABASE_URL"].rsplit("/", 1)[1]
    jid = node("produce.cjs", env["VALKEY_URL"], "issue-sync", job)[0]
    times = []
    for t in range(trials):
        since = psql(db, "SELECT now()").strip()
        worker = start_worker(BIN, "sync", env, os.path.join(work, f"worker-stop-{t}.log"))
        try:
            deadline = time.time() + 120
            while int(psql(db, f"""SELECT count(*) FROM "Issue" WHERE "lastSyncedAt" > '{since}'""").strip() or 0) < 2:
                if time.time() > deadline:
                    raise SystemExit("the sync never got going")
                time.sleep(0.05)
            t0 = time.time()
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=600)
            times.append(time.time() - t0)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        j = node("inspect.cjs", env["VALKEY_URL"], "issue-sync", "job", jid)
        if j["state"] != "waiting" or j["attemptsMade"] != 0:
            raise SystemExit(f"the stopped sync was not handed back: {j}")
    return times


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    work = tempfile.mkdtemp(prefix="tp-sync-bench-")
    rport = free_port()
    redis_url = f"redis://127.0.0.1:{rport}"
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
                             stdout=subprocess.DEVNULL)
    standin = subprocess.Popen([sys.executable, STANDIN, str(DELAY_MS)], stdout=subprocess.PIPE, text=True)
    sport = int(standin.stdout.readline())
    base = f"http://127.0.0.1:{sport}/jira"
    db = f"tp_sync_bench_{os.getpid()}"
    try:
        psql("postgres", f'CREATE DATABASE "{db}"')
        for f in ["users.sql", "projects.sql", "forecast.sql", "search.sql", "sync.sql"]:
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", os.path.join(SCHEMA, f)],
                           env=PG, check=True, capture_output=True)
        psql(db, """INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now());
                    INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Payments', 'u1')""")
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
               "VALKEY_URL": redis_url, "ENCRYPTION_KEY": "bench", "TENANT_CONFIG_FILE": "/nonexistent"}
        seed(db, base, ISSUES)
        free_wall, free_cpu, free_peak, idle = run(dict(env, SYNC_REQUEST_INTERVAL_MS="0"), work, "free", ISSUES)
        seed(db, base, PACED)
        paced_wall, paced_cpu, paced_peak, _ = run(env, work, "paced", PACED)
        stops = stop_mid_sync(env, work)
        per_issue_ms = free_cpu / ISSUES * 1000
        rows = [
            (f"wall, {PACED} issues at 1 request/s (the rule)", f"{paced_wall:.1f} s ({paced_wall / PACED:.3f} s/issue)"),
            (f"wall, {ISSUES} issues at 1 request/s", f"{paced_wall / PACED * ISSUES:.0f} s implied (the rule: ≥ {ISSUES} s)"),
            (f"wall, {ISSUES} issues, rule lifted", f"{free_wall:.1f} s ({free_wall / ISSUES * 1000:.1f} ms/issue; stand-in answers in {DELAY_MS} ms)"),
            ("CPU per issue (rule lifted)", f"{per_issue_ms:.3f} ms (target ≤ 1 ms)"),
            ("CPU per issue (paced)", f"{paced_cpu / PACED * 1000:.3f} ms"),
            ("peak RSS", f"{max(free_peak, paced_peak) / 1024:.1f} MiB (target ≤ 32 MB)"),
            ("idle RSS", f"{idle / 1024:.1f} MiB"),
            (f"stop mid-sync (paced), SIGINT → exit, {len(stops)} trials",
             f"max {max(stops):.2f} s, each job handed back (waiting, attempts 0)"),
        ]
        print(f"\nsync, Jira stand-in at {DELAY_MS} ms, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, all on loopback\n")
        w = max(len(r[0]) for r in rows)
        print(f"| {'measure':<{w}} | value |\n|{'-' * (w + 2)}|-------|")
        for k, v in rows:
            print(f"| {k:<{w}} | {v} |")
    finally:
        standin.kill()
        redis.kill()
        subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{db}"'], env=PG, capture_output=True)


if __name__ == "__main__":
    main()
