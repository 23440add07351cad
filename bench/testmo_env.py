"""What the two Testmo benchmarks share: the release worker and its helpers built, a generated
export in a private s3s-fs bucket, a private redis-server, a throw-away database with
TestPlanIt's whole schema and a job row, `tp-worker testmo-import` started on them; a job
added and waited for; the result table printed; everything removed at the end."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

from procstat import NODE_DIR, PG, ROOT, backend_cpu, free_port, node, psql, start_worker, stop_worker

SCHEMA = os.path.join(ROOT, "workers", "worker", "tests", "schema", "testplanit.sql")
BIN = os.path.join(ROOT, "target", "release", "tp-worker")
QUEUE = "testmo-imports"


@contextlib.contextmanager
def testmo_bench(name, generate, seed_sql):
    """`generate(path)` writes the export (what it returns is kept as `.generated`);
    `seed_sql` fills the workspace (it must create the user 'admin')."""
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    s3s = subprocess.run([os.path.join(ROOT, "workers", "worker", "tests", "support", "install-s3s-fs")],
                         check=True, capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix=f"tp-{name}-")
    bucket = os.path.join(work, "s3", "uploads")
    os.makedirs(bucket)
    export = os.path.join(bucket, "export.json")
    t0 = time.time()
    generated = generate(export)
    size = os.path.getsize(export)
    print(f"generated {size / 1e9:.2f} GB in {time.time() - t0:.0f} s", file=sys.stderr)
    sport, rport = free_port(), free_port()
    s3 = subprocess.Popen([s3s, "--host", "127.0.0.1", "--port", str(sport), "--access-key", "bench", "--secret-key", "bench-secret-key",
                           os.path.join(work, "s3")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
                             stdout=subprocess.DEVNULL)
    db = f"tp_{name.replace('-', '_')}_{os.getpid()}"
    worker = None
    try:
        psql("postgres", f'CREATE DATABASE "{db}"')
        for args in (["-f", SCHEMA], ["-c", seed_sql]):
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, *args], env=PG, check=True, capture_output=True)
        psql(db, f"""INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", status, phase, "storageKey", "storageBucket", "originalFileName", "originalFileSize")
                     VALUES ('bench', now(), 'admin', 'QUEUED', 'ANALYZING', 'export.json', 'uploads', 'export.json', {size})""")
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
               "VALKEY_URL": f"redis://127.0.0.1:{rport}", "TENANT_CONFIG_FILE": "/nonexistent",
               "AWS_ENDPOINT_URL": f"http://127.0.0.1:{sport}", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret-key"}
        log_path = os.path.join(work, "worker.log")
        worker = start_worker(BIN, "testmo-import", env, log_path)
        yield SimpleNamespace(db=db, url=env["VALKEY_URL"], worker=worker, log_path=log_path, size=size, generated=generated)
    finally:
        if worker:
            stop_worker(worker)
        s3.kill()
        redis.kill()
        subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", f'DROP DATABASE IF EXISTS "{db}"'], env=PG, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def run_job(b, mode, opts):
    """Adds `process-testmo-import` for the bench job and waits for it to end; returns the job
    and the most CPU PostgreSQL's backends had used (sampled each second)."""
    job = [{"name": "process-testmo-import", "data": {"jobId": "bench", "mode": mode}, "opts": opts}]
    jid = node("produce.cjs", b.url, QUEUE, json.dumps(job))[0]
    pg_max, t0 = 0.0, time.time()
    while True:
        j = node("inspect.cjs", b.url, QUEUE, "job", jid)
        pg_max = max(pg_max, backend_cpu(b.db)[0])
        if j["state"] in ("completed", "failed"):
            return j, pg_max
        if time.time() - t0 > 7200:
            raise SystemExit(f"job {jid} did not finish in two hours: {j}")
        time.sleep(1)


def print_table(rows):
    w = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{w}} | value |\n|{'-' * (w + 2)}|-------|")
    for k, v in rows:
        print(f"| {k:<{w}} | {v} |")
