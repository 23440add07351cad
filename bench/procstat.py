"""Helpers shared by the bench scripts: a free TCP port, a process's resident memory and CPU
time from /proc, psql on the bench's PostgreSQL, and the Node bullmq helpers."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
PG = dict(os.environ, PGHOST=os.environ.get("PGHOST", "127.0.0.1"), PGUSER=os.environ.get("PGUSER", "postgres"))


def psql(db, sql):
    """One statement on database `db`; its output, tuples only."""
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          env=PG, check=True, capture_output=True, text=True).stdout.strip()


def node(script, *args):
    """A Node bullmq helper script (produce.cjs, inspect.cjs); its last line as JSON."""
    out = subprocess.run(["node", os.path.join(NODE_DIR, script), *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, step=0.05):
    """Polls `cond` until it holds; ends the bench with what it was waiting for after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise SystemExit(f"{os.path.basename(sys.argv[0])}: timed out waiting for {what}")


def cpu_ns(pid):
    """Time on a CPU in ns (/proc/PID/schedstat): precise where clock ticks are too coarse
    for a keeper that wakes for microseconds."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except OSError:
        return 0


def pss_kib(pid):
    """Proportional set size of a live process (shared pages divided among their users)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    """The most resident memory a live process has had (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_worker(binary, name, env, log_path):
    """`tp-worker NAME` with its log in a file (a pipe nobody drains would block it), once it
    says it has started on its queue."""
    p = subprocess.Popen([binary, name], env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    for _ in range(600):
        with open(log_path) as f:
            if "started for queue" in f.read():
                return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"tp-worker {name} did not start; see {log_path}")


def stop_worker(p):
    """SIGINT, a minute to finish, then SIGKILL."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def backend_cpu(db):
    """CPU seconds of the PostgreSQL backends connected to `db` now, and their pids."""
    pids = psql("postgres", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'").split()
    total = 0.0
    for p in pids:
        try:
            total += cpu_seconds(int(p))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total, set(pids)
