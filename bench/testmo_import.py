#!/usr/bin/env python3
"""Testmo import benchmark, import mode (issue: Testmo import part 2): generate an export of
--cases cases (default 200,000), --runs runs (20,000) and --results results (1,000,000, one
run test each), with users, projects, repositories, folders, milestones and case steps around
them; put it in a private s3s-fs bucket; let `tp-worker testmo-import` (release) analyse it
and then import it into a database holding TestPlanIt's whole schema; print a table: time
and rows/s per phase, total time, peak RSS, and the CPU the worker and PostgreSQL's backends
used (the share of the time spent in the database).

Needs redis-server, PostgreSQL at 127.0.0.1:5432 (user postgres), node with the pinned bullmq
(npm ci in workers/bullmq/tests/interop/node) and s3s-fs (workers/worker/tests/support/
install-s3s-fs); about 3 GB of free disk at the defaults.

usage: bench/testmo_import.py [--cases N] [--runs N] [--results N]
"""
import datetime
import json
import os
import sys
import time

from procstat import backend_cpu, cpu_seconds, peak_rss_kib, psql
from testmo_env import print_table, run_job, testmo_bench


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


CASES, RUNS, RESULTS = arg("--cases", 200_000), arg("--runs", 20_000), arg("--results", 1_000_000)
PROJECTS, FOLDERS, MILESTONES, USERS = 10, 2_000, 200, 100

SEED = """
INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'User', true);
INSERT INTO "User" (id, name, email, password, access, "updatedAt") VALUES ('admin', 'Admin', 'admin@example.com', 'x', 'ADMIN', now());
INSERT INTO "ColorFamily" (id, name) VALUES (1, 'Grey');
INSERT INTO "Color" (id, "colorFamilyId", value) VALUES (1, 1, '#B1B2B3');
INSERT INTO "FieldIcon" (id, name) VALUES (1, 'circle');
INSERT INTO "StatusScope" (id, name) VALUES (1, 'Test Runs');
INSERT INTO "Status" (id, name, "systemName", "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted") VALUES
  (1, 'Untested', 'untested', 1, true, false, false, false), (2, 'Passed', 'passed', 1, true, true, false, true),
  (3, 'Failed', 'failed', 1, true, false, true, true), (4, 'Blocked', 'blocked', 1, true, false, false, false);
INSERT INTO "Workflows" (id, name, "iconId", "colorId", "isDefault", scope) VALUES (1, 'Draft', 1, 1, true, 'CASES'), (2, 'Active', 1, 1, true, 'RUNS');
INSERT INTO "Templates" (id, "templateName", "isEnabled", "isDefault") VALUES (1, 'Default', true, true);
INSERT INTO "MilestoneTypes" (id, name, "iconId", "isDefault") VALUES (1, 'Release', 1, true);
"""

CONFIGURATION = {
    "workflows": {"1": {"action": "map", "mappedTo": 1}, "2": {"action": "map", "mappedTo": 2}},
    "statuses": {str(i): {"action": "map", "mappedTo": i} for i in range(1, 5)},
    "templates": {"1": {"action": "map", "mappedTo": 1}},
    "milestoneTypes": {"1": {"action": "map", "mappedTo": 1}},
    "users": {str(i): {"action": "map", "mappedTo": "admin"} for i in range(1, USERS + 1)},
}


def dataset(f, name, rows, first):
    f.write(("" if first else ",\n") + json.dumps(name) + ': {"data": [')
    sep = ""
    batch = []
    for r in rows:
        batch.append(json.dumps(r))
        if len(batch) == 5000:
            f.write(sep + ",".join(batch))
            sep, batch = ",", []
    if batch:
        f.write(sep + ",".join(batch))
    f.write("]}")


def generate(path):
    """Writes the export; returns its size."""
    tests_per_run = max(1, RESULTS // RUNS)
    with open(path, "w", buffering=1 << 20) as f:
        f.write("{")
        dataset(f, "users", ({"id": i, "name": f"User {i}", "email": f"user{i}@example.com"} for i in range(1, USERS + 1)), True)
        dataset(f, "states", ({"id": i, "name": n} for i, n in [(1, "Draft"), (2, "Active")]), False)
        dataset(f, "statuses", ({"id": i, "name": f"Status {i}"} for i in range(1, 5)), False)
        dataset(f, "templates", [{"id": 1, "name": "Default"}], False)
        dataset(f, "milestone_types", [{"id": 1, "name": "Release"}], False)
        dataset(f, "projects", ({"id": i, "name": f"Project {i}", "note": "Imported", "created_at": "2024-01-01 00:00:00", "created_by": 1}
                                for i in range(1, PROJECTS + 1)), False)
        dataset(f, "repositories", ({"id": i, "project_id": i, "is_master": 1, "is_snapshot": 0} for i in range(1, PROJECTS + 1)), False)
        dataset(f, "milestones", ({"id": i, "project_id": 1 + i % PROJECTS, "type_id": 1, "name": f"Milestone {i}",
                                   "note": "<p>Release <b>notes</b></p>", "created_at": "2024-01-01 00:00:00"} for i in range(1, MILESTONES + 1)), False)
        dataset(f, "repository_folders", ({"id": i, "repo_id": 1 + i % PROJECTS, "project_id": 1 + i % PROJECTS,
                                           "parent_id": (i - PROJECTS) if i > PROJECTS * 10 else None, "name": f"Folder {i}",
                                           "display_order": i, "created_by": 1 + i % USERS} for i in range(1, FOLDERS + 1)), False)
        dataset(f, "repository_cases", ({"id": i, "repo_id": 1 + i % PROJECTS, "project_id": 1 + i % PROJECTS,
                                         "folder_id": 1 + (i * 7) % FOLDERS, "template_id": 1, "state_id": 1,
                                         "name": f"Case {i}: the login form accepts a valid password", "estimate": 300,
                                         "display_order": i, "created_at": "2024-01-02 10:00:00", "created_by": 1 + i % USERS}
                                        for i in range(1, CASES + 1)), False)
        dataset(f, "repository_case_steps", ({"case_id": i, "repo_id": 1 + i % PROJECTS, "project_id": 1 + i % PROJECTS, "display_order": 1,
                                              "text1": "<p>Open the login page and sign in</p>", "text3": "<p>The dashboard is shown</p>"}
                                             for i in range(1, CASES + 1)), False)
        dataset(f, "runs", ({"id": i, "project_id": 1 + i % PROJECTS, "milestone_id": 1 + i % MILESTONES, "state_id": 2,
                             "name": f"Run {i}", "note": "Nightly", "elapsed": 3600, "is_closed": 1, "created_at": "2024-02-01 00:00:00",
                             "created_by": 1 + i % USERS} for i in range(1, RUNS + 1)), False)
        # Run r tests cases of its own project: case ids ≡ project - 1 (mod PROJECTS).
        per_project = CASES // PROJECTS

        def case_for(run, k):
            project = 1 + run % PROJECTS
            base = project - 1 if project > 1 else PROJECTS
            return base + PROJECTS * ((run * tests_per_run + k) % (per_project - 1))

        dataset(f, "run_tests", ({"id": run * tests_per_run + k, "run_id": run, "case_id": case_for(run, k), "status_id": 1 + k % 4,
                                  "assignee_id": 1 + k % USERS, "elapsed": 60, "is_selected": 1}
                                 for run in range(1, RUNS + 1) for k in range(tests_per_run)), False)
        dataset(f, "run_results", ({"id": run * tests_per_run + k, "run_id": run, "test_id": run * tests_per_run + k, "status_id": 1 + k % 4,
                                    "elapsed": 61, "comment": "ok" if k % 3 else None, "created_at": "2024-02-01 00:01:00", "created_by": 1 + k % USERS}
                                   for run in range(1, RUNS + 1) for k in range(tests_per_run)), False)
        f.write("}")
        return f.tell()


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def phases(log):
    """(entity, seconds, rows) per phase from the activity log: a phase runs from the message
    that opened it to its summary."""
    out, start = [], None
    for e in log:
        if e["type"] == "message" and e["message"].startswith("Processing") and " in batches of " not in e["message"]:
            start = ts(e["timestamp"])
        elif e["type"] == "summary" and start is not None:
            out.append((e["entity"], ts(e["timestamp"]) - start, e["created"] + e["mapped"]))
            start = None
    return out


def main():
    with testmo_bench("testmo-import-bench", generate, SEED) as b:
        size, db = b.size, b.db
        opts = {"attempts": 1, "removeOnComplete": False, "removeOnFail": False}
        j, _ = run_job(b, "analyze", opts)
        if j["returnvalue"] != {"status": "READY"}:
            raise SystemExit(f"the analysis did not finish READY: {j}\n{open(b.log_path).read()[-4000:]}")
        analysis = (j["finishedOn"] - j["processedOn"]) / 1000.0
        conf = json.dumps(CONFIGURATION).replace("'", "''")
        psql(db, f"""UPDATE "TestmoImportJob" SET configuration = '{conf}'::jsonb, status = 'RUNNING', phase = 'IMPORTING' WHERE id = 'bench'""")
        rss_before = peak_rss_kib(b.worker.pid)
        cpu0 = cpu_seconds(b.worker.pid)
        pg0, _ = backend_cpu(db)
        j, pg_max = run_job(b, "import", opts)
        if j["returnvalue"] != {"status": "COMPLETED"}:
            raise SystemExit(f"the import did not complete: {j}\n{open(b.log_path).read()[-4000:]}")
        wall = (j["finishedOn"] - j["processedOn"]) / 1000.0
        wcpu = cpu_seconds(b.worker.pid) - cpu0
        pg_used = pg_max - pg0
        peak = peak_rss_kib(b.worker.pid)
        log = json.loads(psql(db, """SELECT "activityLog"::text FROM "TestmoImportJob" WHERE id = 'bench'"""))
        counts = {t: int(psql(db, f'SELECT count(*) FROM "{t}"')) for t in
                  ["RepositoryCases", "RepositoryCaseVersions", "Steps", "TestRuns", "TestRunCases", "TestRunResults"]}
        print(f"\nTestmo import, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, export {size / 1e9:.2f} GB "
              f"({CASES:,} cases, {RUNS:,} runs, {RESULTS:,} run tests and results); analysis {analysis:.0f} s\n")
        print("| phase | seconds | rows | rows/s |\n|---|---:|---:|---:|")
        for entity, secs, n in phases(log):
            if n >= 100 or secs >= 1:
                print(f"| {entity} | {secs:.1f} | {n:,} | {n / max(secs, 1e-3):,.0f} |")
        print()
        print_table([
            ("import wall (job processed → finished)", f"{wall:.1f} s"),
            ("rows written", ", ".join(f"{t} {n:,}" for t, n in counts.items())),
            ("peak RSS", f"{peak / 1024:.1f} MiB (after analysis: {rss_before / 1024:.1f} MiB; target ≤ 256 MB)"),
            ("worker CPU", f"{wcpu:.1f} s ({100 * wcpu / wall:.0f}% of the wall time)"),
            ("PostgreSQL backends' CPU", f"{pg_used:.1f} s ({100 * pg_used / wall:.0f}% of the wall time)"),
        ])


if __name__ == "__main__":
    main()
