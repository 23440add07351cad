#!/usr/bin/env python3
"""Readiness, watchdog and health checks (issue: online that means working). 200 apps speaking
sd_notify (bench/apps/pinger.c: READY=1, then WATCHDOG=1 every second) under `notify = true`
and `watchdog = "3s"`; the same 200 apps (sleepers) with an http health check every second
against one local server; and the same 200 without either: the keepers' CPU and PSS, how long
after the watchdog window a silenced app is restarted (SIGUSR1 stops its pings), and how long
after the server turns sick (HTTP 500) the apps are restarted (retries 2, every 1s). Prints
one table; stops everything it started.

usage: bench/notify.py [--quick]
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from procstat import cpu_ns, free_port, pss_kib, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
QUICK = "--quick" in sys.argv
APPS = 200
WINDOW_MS = 3000
MEASURE_S = 15 if QUICK else 60
SILENCED = 5 if QUICK else 20


def keepers(env):
    rows = json.loads(subprocess.run([TPCTL, "status", "--json"], env=env, check=True, capture_output=True, text=True).stdout)
    return rows, [r["keeper_pid"] for r in rows if r.get("keeper_pid")]


HEALTH_SERVER = r'''
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Node's http server answers
    def do_GET(self):
        code = 500 if os.path.exists(sys.argv[2]) else 200
        self.send_response(code); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def run(work, name, app, notify, health_port=None):
    home = os.path.join(work, name)
    env = dict(os.environ, TPCTL_HOME=home, NO_COLOR="1", PING_MS="1000")
    eco = os.path.join(work, f"{name}.toml")
    with open(eco, "w") as f:
        for i in range(APPS):
            f.write(f'[[apps]]\nname = "a{i:03}"\nscript = "{app}"\nenv = {{ STAMPS = "{work}/{name}-{i:03}.stamp" }}\n')
            if notify:
                f.write(f'notify = true\nwatchdog = "{WINDOW_MS}ms"\n')
            if health_port:
                f.write(f'health = {{ http = "http://127.0.0.1:{health_port}/health", every = "1s", timeout = "500ms", retries = 2, grace = "0s" }}\n')
            f.write("\n")
    try:
        subprocess.run([TPCTL, "start", eco, "--quiet"], env=env, check=True, capture_output=True)
        wait_for(lambda: all(r["status"] == "online" for r in keepers(env)[0]), 60, "every app online")
        time.sleep(2)
        _, pids = keepers(env)
        c0 = sum(cpu_ns(p) for p in pids)
        t0 = time.monotonic()
        time.sleep(MEASURE_S)
        c1 = sum(cpu_ns(p) for p in pids)
        cpu = (c1 - c0) / 1e9 / (time.monotonic() - t0) * 100
        pss = statistics.median(pss_kib(p) for p in pids)
        late = []
        if health_port:
            sick_at = time.time() * 1000
            open(os.path.join(work, "sick"), "w").close()
            rows, _ = keepers(env)
            for r in rows[:SILENCED]:
                wait_for(lambda: json.loads(subprocess.run([TPCTL, "describe", r["id"], "--json"], env=env, capture_output=True, text=True).stdout)[0]["ledger"], 30, "the health restart")
                ledger = json.loads(subprocess.run([TPCTL, "describe", r["id"], "--json"], env=env, capture_output=True, text=True).stdout)[0]["ledger"]
                late.append(ledger[0]["at_ms"] - sick_at)
            os.remove(os.path.join(work, "sick"))
        if notify:
            rows, _ = keepers(env)
            for r in rows[:SILENCED]:
                os.kill(r["pid"], signal.SIGUSR1)
            for r in rows[:SILENCED]:
                wait_for(lambda: json.loads(subprocess.run([TPCTL, "describe", r["id"], "--json"], env=env, capture_output=True, text=True).stdout)[0]["ledger"], 30, "the watchdog restart")
                ledger = json.loads(subprocess.run([TPCTL, "describe", r["id"], "--json"], env=env, capture_output=True, text=True).stdout)[0]["ledger"]
                with open(f"{work}/{name}-{r['id'][1:]}.stamp") as f:
                    last_ping = int(f.read().strip())
                late.append(ledger[0]["at_ms"] - last_ping - WINDOW_MS)
        return cpu, pss, late
    finally:
        subprocess.run([TPCTL, "kill"], env=env, capture_output=True)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="tpctl-notify-bench-")
    try:
        for app in ("sleeper", "pinger"):
            subprocess.run(["cc", "-O2", "-o", os.path.join(work, app), os.path.join(ROOT, "bench", "apps", app + ".c")], check=True)
        plain = run(work, "plain", os.path.join(work, "sleeper"), False)
        notify = run(work, "notify", os.path.join(work, "pinger"), True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", HEALTH_SERVER, str(port), os.path.join(work, "sick")])
        try:
            health = run(work, "health", os.path.join(work, "sleeper"), False, port)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    late = sorted(notify[2])
    sick = sorted(health[2])
    print("| figure | neither | notify, WATCHDOG every 1 s | http health check every 1 s | target |")
    print("|---|---|---|---|---|")
    print(f"| keepers' CPU, {APPS} apps, all together ({MEASURE_S} s) | {plain[0]:.3f} % of a core | {notify[0]:.3f} % | {health[0]:.3f} % | < 1 % |")
    print(f"| keeper PSS (median) | {plain[1]:.0f} KiB | {notify[1]:.0f} KiB | {health[1]:.0f} KiB | unchanged |")
    print(f"| missed watchdog ({WINDOW_MS} ms window): restart after the window, median (max), n={len(late)} | | {statistics.median(late):.0f} ms ({late[-1]} ms) | | |")
    print(f"| failing health (every 1s, retries 2): restart after the endpoint turned sick, median (max), n={len(sick)} | | | {statistics.median(sick):.0f} ms ({sick[-1]:.0f} ms) | ≈ 2 × every |")


if __name__ == "__main__":
    main()
