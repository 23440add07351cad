#!/usr/bin/env python3
"""Testmo import benchmark, analyze mode (issue: Testmo import part 1): generate an export of
about --gb GB (default 2) with every dataset of spec 9.2 in a realistic mix (most bytes in
repository cases and steps, run tests, results and their steps, automation tests and fields),
put it in a private s3s-fs bucket, run `tp-worker testmo-import` (release) on one analyze job
added with Node bullmq, and print a table: MB/s end to end, rows staged per second, peak RSS,
and the CPU the worker and PostgreSQL's backends used, which names the bottleneck.

Needs redis-server, PostgreSQL at 127.0.0.1:5432 (user postgres), node with the pinned bullmq
(npm ci in workers/bullmq/tests/interop/node), s3s-fs (workers/worker/tests/support/
install-s3s-fs) and about 3x --gb of free disk (the export plus PostgreSQL's staging table).

usage: bench/testmo.py [--gb N]
"""
import json
import os
import sys
import time

from procstat import backend_cpu, cpu_seconds, peak_rss_kib, psql
from testmo_env import print_table, run_job, testmo_bench

GB = float(sys.argv[sys.argv.index("--gb") + 1]) if "--gb" in sys.argv else 2.0


# Rows per "unit" of each dataset; the generator repeats units until the size is reached.
SMALL = {
    "users": lambda i: {"id": i, "name": f"User {i}", "email": f"user{i}@example.com", "is_active": 1, "role_id": 2},
    "roles": lambda i: {"id": i, "name": f"Role {i}"},
    "states": lambda i: {"id": i, "name": f"State {i}", "is_default": 0},
    "statuses": lambda i: {"id": i, "name": f"Status {i}", "color": "#00aa00", "is_success": i % 2},
    "tags": lambda i: {"id": i, "name": f"tag-{i}"},
    "milestone_types": lambda i: {"id": i, "name": f"Type {i}"},
    "configs": lambda i: {"id": i, "name": f"Config {i}"},
    "templates": lambda i: {"id": i, "name": f"Template {i}", "is_default": 0},
    "template_fields": lambda i: {"template_id": 1, "field_id": i, "display_name": f"Field {i}", "is_default": 0, "is_enabled": 1},
    "fields": lambda i: {"id": i, "name": f"field_{i}", "type": 5, "dropdown_options": ["Low", "Medium", "High"]},
    "projects": lambda i: {"id": i, "name": f"Project {i}", "note": "A project", "is_completed": 0, "created_at": "2024-01-01 00:00:00", "created_by": 1},
    "repositories": lambda i: {"id": i, "project_id": (i + 1) // 2, "is_master": i % 2, "is_snapshot": 1 - i % 2},
    "milestones": lambda i: {"id": i, "project_id": 1 + i % 50, "name": f"Milestone {i}", "is_completed": 0, "created_at": "2024-01-01 00:00:00"},
}
LARGE = {
    "repository_folders": (1, lambda i: {"id": i, "repo_id": 1 + 2 * (i % 50), "project_id": 1 + i % 50, "parent_id": None, "name": f"Folder {i}", "display_order": i, "created_at": "2024-01-02 10:00:00", "created_by": 1}),
    "repository_cases": (4, lambda i: {"id": i, "repo_id": 1 + 2 * (i % 50), "project_id": 1 + i % 50, "folder_id": i % 5000, "template_id": 1, "state_id": 2, "name": f"Case {i}: the login form accepts a valid password", "estimate": 300, "display_order": i, "created_at": "2024-01-02 10:00:00", "created_by": 1}),
    "repository_case_steps": (8, lambda i: {"case_id": i // 2, "display_order": i % 2, "text1": "<p>Open the login page and enter the user's name</p>", "text3": "<p>The dashboard is shown</p>"}),
    "repository_case_tags": (2, lambda i: {"case_id": i, "tag_id": 1 + i % 50}),
    "runs": (1, lambda i: {"id": i, "project_id": 1 + i % 50, "milestone_id": 1 + i % 200, "config_id": 1, "state_id": 1, "name": f"Run {i}", "note": "Nightly", "elapsed": 3600, "is_closed": 1, "created_at": "2024-02-01 00:00:00"}),
    "run_tests": (6, lambda i: {"id": i, "run_id": i // 100, "case_id": i % 400000, "status_id": 1 + i % 4, "assignee_id": 1 + i % 100, "elapsed": 60, "is_selected": 1}),
    "run_results": (8, lambda i: {"id": i, "run_id": i // 100, "test_id": i, "status_id": 1 + i % 4, "elapsed": 61, "is_deleted": 0, "created_at": "2024-02-01 00:01:00", "created_by": 1}),
    "run_result_steps": (6, lambda i: {"result_id": i // 2, "test_id": i // 2, "status_id": 1, "display_order": i % 2, "elapsed": 5, "text1": "Open the page", "text2": "Shown"}),
    "automation_runs": (1, lambda i: {"id": i, "project_id": 1 + i % 50, "config_id": 1, "is_completed": 1, "total_count": 500, "created_at": "2024-03-01 00:00:00"}),
    "automation_run_tests": (4, lambda i: {"id": i, "run_id": i // 500, "case_id": i % 5000, "status_id": 1 + i % 3, "name": f"test_login_{i}", "folder": "tests/auth", "elapsed": 1200}),
    "automation_run_test_fields": (3, lambda i: {"run_id": i // 1500, "test_id": i // 3, "name": "output", "type": 1, "value": "AssertionError: expected 200 to equal 302\n  at login.spec.ts:42"}),
    "sessions": (1, lambda i: {"id": i, "project_id": 1 + i % 50, "template_id": 1, "state_id": 1, "name": f"Session {i}", "note": "Explore checkout", "estimate": 1800, "is_closed": 0, "created_at": "2024-04-01 00:00:00"}),
    "session_results": (1, lambda i: {"id": i, "session_id": i // 10, "status_id": 1, "elapsed": 120, "created_at": "2024-04-01 00:02:00"}),
    "issues": (1, lambda i: {"id": i, "project_id": 1 + i % 50, "target_id": 1, "display_id": f"PAY-{i}"}),
    "run_issues": (1, lambda i: {"run_id": i, "issue_id": i}),
    "run_attachments": (1, lambda i: {"id": i, "run_id": i, "name": "screenshot.png", "size": 20480}),
}


def generate(path, target):
    """Writes the export; returns (bytes, rows)."""
    rows = 0
    with open(path, "w", buffering=1 << 20) as f:
        f.write('{"meta": {"exported_at": "2026-12-01T00:00:00Z"},\n')
        for name, make in SMALL.items():
            n = 500 if name in ("users", "milestones") else 100
            f.write(json.dumps(name) + ': {"schema": {"id": "id"}, "data": [')
            f.write(",".join(json.dumps(make(i)) for i in range(1, n + 1)))
            f.write("]},\n")
            rows += n
        # The large datasets share what is left, by their weights, each a run of rows.
        left = target - f.tell()
        weights = sum(w for w, _ in LARGE.values())
        last = list(LARGE)[-1]
        for name, (w, make) in LARGE.items():
            f.write(json.dumps(name) + ': {"columns": {"id": "id"}, "rows": [')
            budget = left * w // weights
            start = f.tell()
            i = 0
            while f.tell() - start < budget:
                chunk = ",".join(json.dumps(make(k)) for k in range(i, i + 2000))
                f.write(("," if i else "") + chunk)
                i += 2000
            rows += i
            f.write("]}" + ("\n" if name == last else ",\n"))
        f.write("}")
        return f.tell(), rows


SEED = """INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'User', true);
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('admin', 'Admin', 'a@example.com', 'x', now());"""


def main():
    with testmo_bench("testmo-bench", lambda path: generate(path, int(GB * (1 << 30))), SEED) as b:
        size, rows = b.generated
        db = b.db
        cpu0 = cpu_seconds(b.worker.pid)
        pg0, _ = backend_cpu(db)
        j, pg_cpu = run_job(b, "analyze", {"attempts": 1, "removeOnComplete": {"age": 2592000, "count": 100}, "removeOnFail": {"age": 2592000}})
        if j["state"] != "completed" or j["returnvalue"] != {"status": "READY"}:
            raise SystemExit(f"the analysis did not finish READY: {j}\n{open(b.log_path).read()}")
        wall = (j["finishedOn"] - j["processedOn"]) / 1000.0
        wcpu = cpu_seconds(b.worker.pid) - cpu0
        peak = peak_rss_kib(b.worker.pid)
        staged = int(psql(db, 'SELECT count(*) FROM "TestmoImportStaging"'))
        pg_used = pg_cpu - pg0
        rows_table = [
            ("export", f"{size / 1e9:.2f} GB, {rows:,} rows in {len(SMALL) + len(LARGE)} datasets"),
            ("wall (job processed → finished)", f"{wall:.1f} s"),
            ("throughput end to end", f"{size / 1e6 / wall:.1f} MB/s (target ≥ 50 MB/s)"),
            ("rows staged (COPY)", f"{staged:,}: {staged / wall:,.0f} rows/s"),
            ("peak RSS", f"{peak / 1024:.1f} MiB (target ≤ 64 MB)"),
            ("worker CPU", f"{wcpu:.1f} s ({100 * wcpu / wall:.0f}% of one core)"),
            ("PostgreSQL backends' CPU (sampled each second)", f"{pg_used:.1f} s ({100 * pg_used / wall:.0f}% of one core)"),
        ]
        # PostgreSQL's own ceiling: the staged rows copied out, the table emptied, and the same
        # rows copied back in by psql (one COPY, no client work at all).
        # (in /tmp: the server process writes and reads the file itself)
        dump = f"/tmp/tp-testmo-ceiling-{os.getpid()}.copy"
        psql(db, f"""COPY "TestmoImportStaging" TO '{dump}'""")
        psql(db, 'TRUNCATE "TestmoImportStaging"')
        t0 = time.time()
        psql(db, f"""COPY "TestmoImportStaging" FROM '{dump}'""")
        ceiling = time.time() - t0
        try:
            os.remove(dump)
        except OSError as e:
            print(f"cannot remove {dump}: {e}", file=sys.stderr)
        rows_table.append(("PostgreSQL alone: psql COPY of the same rows", f"{ceiling:.1f} s: {staged / ceiling:,.0f} rows/s, {size / 1e6 / ceiling:.1f} MB/s of export"))
        print(f"\nTestmo analyze, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, all on loopback\n")
        print_table(rows_table)
        print("\n" + "\n".join(l for l in open(b.log_path).read().splitlines() if "Testmo import bench:" in l))


if __name__ == "__main__":
    main()
