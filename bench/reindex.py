#!/usr/bin/env python3
"""Elasticsearch reindex benchmark (issue: elasticsearch-reindex worker): reindex a generated
TestPlanIt project of 100,000 cases (each with 5 steps, 3 tags, 4 custom fields, in a folder 4
deep) plus 5,000 runs, and print a table: documents/s, SQL queries per case, peak RSS, the
share of the time spent waiting on the search server and on PostgreSQL; then the search
server's own bulk ingest rate for the same documents sent by a trivial client (the worker's own
`_bulk` bodies, recorded by a pass-through proxy on a second run and sent again one at a time
into fresh indices), the ceiling we compare with.

The job is added with Node bullmq as the admin page adds it. SQL queries are counted twice: by
the worker (its summary line) and by PostgreSQL (transactions committed in the bench database,
which includes the worker's count queries and the pool's own).

Needs redis-server, PostgreSQL at 127.0.0.1:5432 (user postgres), node with the pinned bullmq
(npm ci in workers/bullmq/tests/interop/node) and python3 -m pip (the search servers are
installed by workers/worker/tests/support/install-test-servers).

usage: bench/reindex.py [--cases N] [--runs N] [--server osmem|noida]
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from procstat import free_port, peak_rss_kib, start_worker, stop_worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
SCHEMA = os.path.join(ROOT, "workers", "worker", "tests", "schema")
TOOLS = os.path.join(ROOT, "target", "tmp", "test-servers")
BIN = os.path.join(ROOT, "target", "release", "tp-worker")
PG = dict(os.environ, PGHOST=os.environ.get("PGHOST", "127.0.0.1"), PGUSER=os.environ.get("PGUSER", "postgres"))


def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


CASES = int(arg("--cases", "100000"))
RUNS = int(arg("--runs", "5000"))
SERVER = arg("--server", "osmem")


def psql(db, sql):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          env=PG, check=True, capture_output=True, text=True).stdout.strip()


def tiptap(expr):
    """SQL for a TipTap document whose text is the SQL expression `expr`."""
    return ("jsonb_build_object('type', 'doc', 'content', jsonb_build_array(jsonb_build_object("
            "'type', 'paragraph', 'content', jsonb_build_array(jsonb_build_object('type', 'text', 'text', "
            f"{expr})))))")


def generate(db):
    """One project: folders 5/25/125/625 (cases in the 625 leaves), 50 tags, 4 custom fields
    (text, number, select, checkbox), 5 steps and 3 tags per case, 5,000 runs."""
    sql = f"""
    INSERT INTO "User" (id, name, email, "updatedAt") SELECT 'u' || g, 'User ' || g, 'u' || g || '@example.com', now() FROM generate_series(1, 10) g;
    INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Big project', 'u1');
    INSERT INTO "ColorFamily" (id, name) VALUES (1, 'Blues');
    INSERT INTO "Color" (id, "colorFamilyId", value) VALUES (1, 1, '#0000ff');
    INSERT INTO "FieldIcon" (id, name) VALUES (1, 'circle');
    INSERT INTO "Workflows" (id, name, "iconId", "colorId", scope) VALUES (1, 'New', 1, 1, 'CASES');
    INSERT INTO "Templates" (id, "templateName", "isEnabled", "isDefault") VALUES (1, 'Default', true, true);
    INSERT INTO "Repositories" (id, "projectId") VALUES (1, 1);
    INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId")
      SELECT g, 1, 1, NULL, 'Area ' || g, 'u1' FROM generate_series(1, 5) g;
    INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId")
      SELECT 5 + g, 1, 1, 1 + (g - 1) / 5, 'Feature ' || g, 'u1' FROM generate_series(1, 25) g;
    INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId")
      SELECT 30 + g, 1, 1, 6 + (g - 1) / 5, 'Story ' || g, 'u1' FROM generate_series(1, 125) g;
    INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId")
      SELECT 155 + g, 1, 1, 31 + (g - 1) / 5, 'Suite ' || g, 'u1' FROM generate_series(1, 625) g;
    INSERT INTO "Tags" (id, name) SELECT g, 'tag-' || g FROM generate_series(1, 50) g;
    INSERT INTO "CaseFieldTypes" (id, type) VALUES (1, 'Text String'), (2, 'Number'), (3, 'Select'), (4, 'Checkbox');
    INSERT INTO "CaseFields" (id, "displayName", "systemName", "typeId") VALUES
      (1, 'Owner', 'owner', 1), (2, 'Points', 'points', 2), (3, 'Priority', 'priority', 3), (4, 'Reviewed', 'reviewed', 4);
    INSERT INTO "FieldOptions" (id, name) VALUES (1, 'High'), (2, 'Medium'), (3, 'Low');
    INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") VALUES (1, 3), (2, 3), (3, 3);
    INSERT INTO "RepositoryCases" (id, "projectId", "repositoryId", "folderId", "templateId", name, "className", "stateId", estimate, "creatorId")
      SELECT g, 1, 1, 156 + g % 625, 1, 'Checkout case ' || g || ' pays with a saved card', 'com.shop.Checkout' || (g % 100), 1, 60, 'u' || (1 + g % 10)
      FROM generate_series(1, {CASES}) g;
    INSERT INTO "_RepositoryCasesToTags" ("A", "B") SELECT g, 1 + (g + k * 17) % 50 FROM generate_series(1, {CASES}) g, generate_series(0, 2) k;
    INSERT INTO "Steps" ("testCaseId", "order", step, "expectedResult")
      SELECT g, k, {tiptap("'Step ' || k || ': open the cart and press pay for order ' || g")}, {tiptap("'The order ' || g || ' is paid'")}
      FROM generate_series(1, {CASES}) g, generate_series(0, 4) k;
    INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value)
      SELECT g, f, CASE f WHEN 1 THEN to_jsonb('owner-' || (g % 10)) WHEN 2 THEN to_jsonb(g % 13) WHEN 3 THEN to_jsonb(1 + g % 3) ELSE to_jsonb(g % 2 = 0) END
      FROM generate_series(1, {CASES}) g, generate_series(1, 4) f;
    INSERT INTO "TestRuns" (id, "projectId", name, note, "stateId", "createdById")
      SELECT g, 1, 'Nightly run ' || g, {tiptap("'Regression of build ' || g")}, 1, 'u1' FROM generate_series(1, {RUNS}) g;
    INSERT INTO "_TagsToTestRuns" ("A", "B") SELECT 1 + g % 50, g FROM generate_series(1, {RUNS}) g;
    ANALYZE;
    """
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db], input=sql, env=PG, check=True, text=True)


def request(port, method, path, body=None, ctype="application/json"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=body, headers={"Content-Type": ctype} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def start_search(work):
    subprocess.run(["bash", os.path.join(ROOT, "workers", "worker", "tests", "support", "install-test-servers"), TOOLS],
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    if SERVER == "noida":
        cmd = [os.path.join(TOOLS, "unpacked", "noida_db", "noida-db"), "start", "--only", "elasticsearch",
               "--elasticsearch-port", str(port), "--data-dir", os.path.join(work, "noida")]
    else:
        cmd = [os.path.join(TOOLS, "unpacked", "osmem_server", "bin", "osmem-server"), "-addr", f"127.0.0.1:{port}",
               "-no-stdin-watch", "-no-ja", "-parent-pid", str(os.getpid())]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if request(port, "GET", "/")[0] == 200:
                return p, port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the search server did not start")


def node(script, *args):
    out = subprocess.run(["node", os.path.join(NODE_DIR, script), *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def committed(db):
    return int(psql("postgres", f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'"))


class Recorder:
    """A pass-through HTTP proxy to the search server that keeps every `_bulk` body, in order:
    the documents exactly as the worker sends them, for the trivial client to send again."""

    def __init__(self, target_port, work):
        import http.server
        import threading
        self.bodies = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if body is not None and self.path.startswith("/_bulk"):
                    path = os.path.join(work, f"bulk-{len(recorder.bodies):06}.ndjson")
                    with open(path, "wb") as f:
                        f.write(body)
                    recorder.bodies.append(path)
                c = http.client.HTTPConnection("127.0.0.1", target_port, timeout=300)
                c.request(self.command, self.path, body=body,
                          headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                r = c.getresponse()
                data = r.read()
                self.send_response(r.status)
                self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                c.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


INDICES = ["projects", "repository-cases", "shared-steps", "test-runs", "sessions", "issues", "milestones"]


def drop_indices(port):
    """Deletes the seven indices, returning their create bodies (settings and mappings)."""
    bodies = {}
    for base in INDICES:
        index = f"testplanit-{base}"
        status, body = request(port, "GET", f"/{index}/_mapping")
        if status == 200:
            bodies[index] = {"mappings": json.loads(body)[index]["mappings"],
                             "settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                          "analysis": {"analyzer": {"standard": {"type": "standard", "stopwords": "_english_"}}}}}
        request(port, "DELETE", f"/{index}")
    return bodies


def run_reindex(env, work, label):
    """Runs one reindex job to the end; returns the worker's summary figures and peak RSS."""
    log_path = os.path.join(work, f"worker-{label}.log")
    worker = start_worker(BIN, "elasticsearch-reindex", env, log_path)
    try:
        job = json.dumps([{"name": "reindex", "data": {"entityType": "all", "userId": "u1"},
                           "opts": {"attempts": 1, "removeOnComplete": {"age": 604800, "count": 50}, "removeOnFail": {"age": 1209600}}}])
        jid = node("produce.cjs", env["VALKEY_URL"], "elasticsearch-reindex", job)[0]
        deadline = time.time() + 3600
        while True:
            j = node("inspect.cjs", env["VALKEY_URL"], "elasticsearch-reindex", "job", jid)
            if j["state"] in ("completed", "failed"):
                break
            if time.time() > deadline:
                raise SystemExit("the reindex did not finish within an hour")
            time.sleep(1)
        if j["state"] != "completed":
            raise SystemExit(f"the reindex failed: {j['failedReason']}")
        peak = peak_rss_kib(worker.pid)
    finally:
        stop_worker(worker)
    log = open(log_path).read()
    m = re.search(r"(\d+) documents indexed, (\d+) refused, in ([\d.]+) s \((\d+)/s\); (\d+) SQL queries; "
                  r"waited ([\d.]+) s on PostgreSQL and ([\d.]+) s on the search server", log)
    if not m:
        raise SystemExit(f"no summary line in the worker's log:\n{log}")
    return int(m[1]), float(m[3]), int(m[5]), float(m[6]), float(m[7]), peak


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    work = tempfile.mkdtemp(prefix="tp-reindex-bench-")
    rport = free_port()
    redis_url = f"redis://127.0.0.1:{rport}"
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
                             stdout=subprocess.DEVNULL)
    search, sport = start_search(work)
    db = f"tp_reindex_bench_{os.getpid()}"
    try:
        psql("postgres", f'CREATE DATABASE "{db}"')
        for f in ("users.sql", "projects.sql", "forecast.sql", "search.sql"):
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", os.path.join(SCHEMA, f)], env=PG, check=True)
        t0 = time.perf_counter()
        generate(db)
        print(f"generated {CASES:,} cases and {RUNS:,} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        env = {"PATH": os.environ.get("PATH", ""), "VALKEY_URL": redis_url,
               "DATABASE_URL": f"postgres://{PG['PGUSER']}@{PG['PGHOST']}:5432/{db}",
               "ELASTICSEARCH_NODE": f"http://127.0.0.1:{sport}", "TENANT_CONFIG_FILE": "/nonexistent"}
        # 1. Timed: the worker straight to the search server, into fresh indices.
        before = committed(db)
        docs, secs, queries, pg_wait, es_wait, peak = run_reindex(env, work, "timed")
        after = committed(db)
        # 2. The same reindex through a recording proxy, into fresh indices again, to keep the
        # documents exactly as sent.
        drop_indices(sport)
        rec = Recorder(sport, work)
        run_reindex(dict(env, ELASTICSEARCH_NODE=f"http://127.0.0.1:{rec.port}"), work, "recorded")
        rec.close()
        # 3. The ceiling: a trivial client sends the recorded bodies, one at a time, into fresh
        # indices with the same settings and mappings.
        created = drop_indices(sport)
        for index, body in created.items():
            request(sport, "PUT", f"/{index}", json.dumps(body))
        t0 = time.perf_counter()
        for path in rec.bodies:
            with open(path, "rb") as f:
                request(sport, "POST", "/_bulk", f.read(), "application/x-ndjson")
        for index in created:
            request(sport, "POST", f"/{index}/_refresh")
        took = time.perf_counter() - t0
        n = sum(json.loads(request(sport, "GET", f"/{index}/_count")[1])["count"] for index in created)
        ours = docs / secs
        theirs = n / took
        rows = [
            ("documents indexed", f"{docs:,} ({CASES:,} cases, {RUNS:,} runs, 1 project)"),
            ("time, documents/s", f"{secs:.1f} s, {ours:,.0f}/s"),
            ("SQL queries: worker's count / PostgreSQL's commits", f"{queries:,} / {after - before:,}"),
            ("SQL queries per case", f"{queries / CASES:.3f} (target ≤ 0.1; Node ≈ 8)"),
            ("peak RSS", f"{peak / 1024:.1f} MiB (target ≤ 64 MB)"),
            ("waiting on PostgreSQL / on the search server (they overlap)", f"{pg_wait:.1f} s ({pg_wait / secs:.0%}) / {es_wait:.1f} s ({es_wait / secs:.0%})"),
            ("trivial client, the same _bulk bodies one at a time", f"{n:,} in {took:.1f} s, {theirs:,.0f}/s ({len(rec.bodies)} requests)"),
            ("ceiling ÷ ours", f"{theirs / ours:.2f} (target ≤ 1.5)"),
        ]
        print(f"\nreindex, {SERVER} search server, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, all on loopback\n")
        print("| figure | tp-worker elasticsearch-reindex |")
        print("|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} |")
    finally:
        search.kill()
        search.wait()
        redis.terminate()
        redis.wait()
        subprocess.run(["dropdb", "--if-exists", "--force", db], env=PG, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
