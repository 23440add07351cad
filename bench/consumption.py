#!/usr/bin/env python3
"""Queue consumption (issue: online that means working). 200 apps, each a small worker that
holds a BullMQ-named blocking connection on its own queue (as Node's Worker does) and
reconnects a second after losing it, under tpctl with `queue` set: the keepers' CPU and PSS
while they watch (every 10 s when only reporting; every 1 s with restart_when_not_consuming =
"4s"), beside the same 200 apps without `queue`; then 5 workers are kept out of Valkey (their
connection killed as soon as it appears) and the table says how long after the window each
was restarted. Prints one table; stops everything it started.

usage: bench/consumption.py [--quick]
"""
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from procstat import cpu_ns, free_port, pss_kib, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
QUICK = "--quick" in sys.argv
APPS = 200
WINDOW_S = 4
MEASURE_S = 15 if QUICK else 60
KEPT_OUT = 5

WORKER = r'''
import base64, socket, sys, time
port, queue = int(sys.argv[1]), sys.argv[2]
name = "bull:" + base64.b64encode(queue.encode()).decode()
def cmd(*words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(cmd("CLIENT", "SETNAME", name))
        while True:
            s.sendall(cmd("BZPOPMIN", "bull:" + queue + ":marker", "10"))
            while s.recv(4096).count(b"\n") == 0:
                pass
    except OSError:
        time.sleep(1)
'''


def status(env):
    return json.loads(subprocess.run([TPCTL, "status", "--json"], env=env, check=True, capture_output=True, text=True).stdout)


def resp(sock, *words):
    out = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in (x.encode() for x in words))
    sock.sendall(out)


def keep_out(port, queues, stop):
    """Kills the named connections of `queues` as soon as they show, until `stop` is set."""
    names = {"bull:" + base64.b64encode(q.encode()).decode() for q in queues}
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        while not stop.is_set():
            resp(s, "CLIENT", "LIST")
            size = int(f.readline()[1:])
            listing = f.read(size + 2).decode()
            for line in listing.splitlines():
                fields = dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
                if fields.get("name") in names:
                    resp(s, "CLIENT", "KILL", "ID", fields["id"])
                    f.readline()
            time.sleep(0.01)


def run(work, name, port, queue, window=None):
    home = os.path.join(work, name)
    env = dict(os.environ, TPCTL_HOME=home, NO_COLOR="1")
    eco = os.path.join(work, f"{name}.toml")
    with open(eco, "w") as f:
        for i in range(APPS):
            f.write(f'[[apps]]\nname = "w{i:03}"\nscript = "{sys.executable}"\nargs = ["{work}/worker.py", "{port}", "q{i:03}"]\n')
            f.write(f'env = {{ VALKEY_URL = "redis://127.0.0.1:{port}" }}\nmin_uptime = "500ms"\n')
            if queue:
                f.write(f'queue = "q{i:03}"\n')
            if window:
                f.write(f'restart_when_not_consuming = "{window}s"\n')
            f.write("\n")
    try:
        subprocess.run([TPCTL, "start", eco, "--quiet"], env=env, check=True, capture_output=True)
        wait_for(lambda: all(r["status"] == "online" for r in status(env)), 120, "every app online")
        if queue:
            wait_for(lambda: all(r.get("consumption", [{}])[0].get("state") == "consuming" for r in status(env)), 60, "every app consuming")
        time.sleep(2)
        pids = [r["keeper_pid"] for r in status(env)]
        c0 = sum(cpu_ns(p) for p in pids)
        t0 = time.monotonic()
        time.sleep(MEASURE_S)
        cpu = (sum(cpu_ns(p) for p in pids) - c0) / 1e9 / (time.monotonic() - t0) * 100
        pss = statistics.median(pss_kib(p) for p in pids)
        late, shown = [], []
        if window:
            victims = [f"w{i:03}" for i in range(KEPT_OUT)]
            stop = threading.Event()
            killer = threading.Thread(target=keep_out, args=(port, [f"q{i:03}" for i in range(KEPT_OUT)], stop))
            lost_at = time.time() * 1000
            killer.start()
            try:
                def restarted(app):
                    d = json.loads(subprocess.run([TPCTL, "describe", app, "--json"], env=env, capture_output=True, text=True).stdout)[0]
                    return [e for e in d["ledger"] if e["cause"]["kind"] == "not_consuming"]
                for app in victims:
                    wait_for(lambda: any(r["id"] == app and r.get("consumption", [{}])[0].get("state") == "not_consuming" for r in status(env)), 30, "not consuming shown")
                    shown.append(time.time() * 1000 - lost_at)
                for app in victims:
                    wait_for(lambda: restarted(app), 60, "the restart")
                    late.append(restarted(app)[0]["at_ms"] - lost_at - window * 1000)
            finally:
                stop.set()
                killer.join()
        return cpu, pss, late, shown
    finally:
        subprocess.run([TPCTL, "kill"], env=env, capture_output=True)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="tpctl-consumption-bench-")
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "2000"], stdout=subprocess.DEVNULL)
    try:
        with open(os.path.join(work, "worker.py"), "w") as f:
            f.write(WORKER)
        time.sleep(0.5)
        plain = run(work, "plain", port, False)
        report = run(work, "report", port, True)
        windowed = run(work, "windowed", port, True, WINDOW_S)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    late, shown = sorted(windowed[2]), sorted(windowed[3])
    print(f"| figure | no queue | queue, report only (look every 10 s) | restart_when_not_consuming = \"{WINDOW_S}s\" (look every 1 s) | target |")
    print("|---|---|---|---|---|")
    print(f"| keepers' CPU, {APPS} apps, all together ({MEASURE_S} s) | {plain[0]:.3f} % of a core | {report[0]:.3f} % | {windowed[0]:.3f} % | < 1 % |")
    print(f"| keeper PSS (median) | {plain[1]:.0f} KiB | {report[1]:.0f} KiB | {windowed[1]:.0f} KiB | unchanged |")
    print(f"| lost consumption: shown `not consuming` after the loss, median (max), n={len(shown)} | | | {statistics.median(shown):.0f} ms ({shown[-1]:.0f} ms) | ≈ one look (1 s) |")
    print(f"| lost consumption: restart after the loss + window, median (max), n={len(late)} | | | {statistics.median(late):.0f} ms ({late[-1]:.0f} ms) | ≤ 2 looks |")


if __name__ == "__main__":
    main()
