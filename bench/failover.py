#!/usr/bin/env python3
"""A Valkey failover under Sentinel (issue: Valkey as production runs it). One master, one
replica and three sentinels on loopback ports (a master counted down after 1 s). Node bullmq
5.67.2 adds jobs through ioredis's sentinel options, as TestPlanIt configures it; a worker
takes them, tp-bullmq's (bench_worker's sibling, examples/failover_worker) or Node bullmq's
own, in the same setup, alternating, twice each; once a third of the jobs are done the master
is killed (SIGKILL). Then: jobs produced, completed, lost (must be 0), run twice (explained
below the table), and the time from the kill to the first job completed on the new master,
and from the promotion to it. Between runs the killed server comes back as a replica.

usage: bench/failover.py [--quick]
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from procstat import free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
RUST = os.path.join(ROOT, "target", "release", "examples", "failover_worker")
QUICK = "--quick" in sys.argv
JOBS = 600 if QUICK else 2000
MASTER = "mymaster"


def cli(port, *args):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


class Setup:
    def __init__(self, work):
        self.work = work
        self.ports = [free_port(), free_port()]
        self.servers = {}
        self.start_server(self.ports[0])
        self.start_server(self.ports[1], replica_of=self.ports[0])
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels = []
        for p in self.sentinel_ports:
            conf = os.path.join(work, f"sentinel-{p}.conf")
            with open(conf, "w") as f:
                f.write(f"port {p}\nbind 127.0.0.1\nsentinel monitor {MASTER} 127.0.0.1 {self.ports[0]} 2\n"
                        f"sentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 5000\n")
            self.sentinels.append(subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL))
        self.wait_healthy()

    def start_server(self, port, replica_of=None):
        d = os.path.join(self.work, str(port))
        os.makedirs(d, exist_ok=True)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.servers[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL)

    def master(self):
        for p in self.sentinel_ports:
            out = cli(p, "SENTINEL", "get-master-addr-by-name", MASTER)
            if out and len(out.split()) == 2:
                return int(out.split()[1])
        return None

    def wait_healthy(self):
        def healthy():
            m = self.master()
            replica = next((p for p in self.ports if p != m), None)
            info = cli(replica, "INFO", "replication") or ""
            return (m is not None and "role:slave" in info and f"master_port:{m}" in info and "master_link_status:up" in info
                    and all(str(replica) in (cli(s, "SENTINEL", "replicas", MASTER) or "")
                            and "s_down" not in (cli(s, "SENTINEL", "replicas", MASTER) or "") for s in self.sentinel_ports)
                    and all((cli(s, "SENTINEL", "sentinels", MASTER) or "").count("runid") >= 2 for s in self.sentinel_ports))
        wait_for(healthy, 90, "a healthy setup")

    def kill_master(self):
        m = self.master()
        self.servers[m].kill()
        self.servers[m].wait()
        return m

    def close(self):
        for p in list(self.servers.values()) + self.sentinels:
            p.kill()
            p.wait()


def run(setup, impl, queue):
    sentinels = ",".join(f"127.0.0.1:{p}" for p in setup.sentinel_ports)
    # Jobs take 20 ms at concurrency 4 (200/s) while 500/s are added: a backlog waits on the
    # replica when the master dies, so the first job after the promotion is the worker's
    # doing, not the producer's (which itself needs a moment to find the new master).
    env = dict(os.environ, VALKEY_SENTINELS=sentinels, VALKEY_SENTINEL_MASTER=MASTER, SLEEP_MS="20")
    if impl == "rust":
        cmd = [RUST, "redis://127.0.0.1:1", queue]
    else:
        cmd = ["node", os.path.join(NODE_DIR, "failover-worker.cjs"), sentinels, MASTER, queue]
    worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=NODE_DIR)
    assert worker.stdout.readline().strip() == "ready"
    done = []
    reader = threading.Thread(target=lambda: done.extend(
        (line.split()[0], int(line.split()[1])) for line in worker.stdout if len(line.split()) == 2))
    reader.start()
    producer = subprocess.Popen(["node", os.path.join(NODE_DIR, "produce-sentinel.cjs"), sentinels, MASTER, queue, str(JOBS), "2"],
                                stdout=subprocess.PIPE, text=True, cwd=NODE_DIR)
    wait_for(lambda: len(done) >= JOBS // 3, 120, "a third of the jobs done")
    old = setup.kill_master()
    killed = time.time() * 1000
    wait_for(lambda: setup.master() not in (None, old), 60, "the promotion", step=0.02)
    promoted = time.time() * 1000
    out, _ = producer.communicate(timeout=300)
    produced = int(out.strip().splitlines()[-1].split('"produced":')[1].split(",")[0])
    ids = lambda: {i for i, _ in done}  # noqa: E731
    deadline = time.monotonic() + 60
    while len(ids()) < produced and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=30)
    reader.join(timeout=10)
    # Jobs whose processor was still running at the kill end just after it, on the dead
    # master's watch: the first job of the new master is the first to end after the promotion.
    after = [t for _, t in done if t > promoted]
    counts = {}
    for i, _ in done:
        counts[i] = counts.get(i, 0) + 1
    # The killed server comes back as a replica of the new master.
    new = setup.master()
    setup.start_server(old, replica_of=new)
    setup.wait_healthy()
    return {"produced": produced, "completed": len(counts), "lost": produced - len(counts),
            "twice": sum(1 for n in counts.values() if n > 1),
            "kill_to_first": (min(after) - killed) if after else None,
            "kill_to_promotion": promoted - killed,
            "promotion_to_first": (min(after) - promoted) if after else None}


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-bullmq", "--example", "failover_worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    work = tempfile.mkdtemp(prefix="tp-failover-bench-")
    setup = Setup(work)
    results = {"rust": [], "node": []}
    try:
        for n, impl in enumerate(("rust", "node", "node", "rust")):
            r = run(setup, impl, f"failover-{n}")
            results[impl].append(r)
            print(f"  {impl}: {r}", file=sys.stderr)
    finally:
        setup.close()
        shutil.rmtree(work, ignore_errors=True)

    def row(name, field, fmt=str):
        cells = [" / ".join(fmt(r[field]) for r in results[i]) for i in ("rust", "node")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")

    ms = lambda v: "-" if v is None else f"{v:.0f} ms"  # noqa: E731
    print(f"| figure ({JOBS} jobs a run, two runs each) | tp-bullmq worker | Node bullmq worker |")
    print("|---|---|---|")
    row("jobs produced (Node, ioredis sentinel options)", "produced")
    row("jobs completed", "completed")
    row("jobs lost (must be 0)", "lost")
    row("jobs run twice", "twice")
    row("master killed → promotion seen (sentinels, down-after 1 s)", "kill_to_promotion", ms)
    row("master killed → first job completed on the new master", "kill_to_first", ms)
    row("promotion → first job completed on the new master", "promotion_to_first", ms)
    print("\nA job runs twice when its end was written to the master that died before it reached the")
    print("replica: the new master still has it active, and BullMQ's stalled-job check runs it again.")


if __name__ == "__main__":
    main()
