#!/usr/bin/env python3
"""tpctl web against `pm2 web` (issue: tpctl web). 200 apps and 20 queues: /metrics latency
(p50/p99 of sequential scrapes), the overview's DOMContentLoaded in headless Chromium, the
server's RSS and its CPU while idle with one page open; then PM2 7.0.4 with the same 200 apps
and its web JSON endpoint (PM2's lib/HttpInterface.js, which `pm2 web` started; PM2 7.0.4's CLI
no longer has the verb) measured the same way. Prints one table.

Needs the release build (built here), redis-server, Node with npm (PM2 from npm into a tools
directory: temporary unless --tools DIR names one to reuse) and, for the page timing, Debian's
chromium and chromedriver with the Selenium virtualenv (tests/support/install-web-test-tools).
Every process it starts is stopped.

usage: bench/web.py [--quick] [--tools DIR]
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
import urllib.request

from procstat import cpu_seconds, free_port, rss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
QUICK = "--quick" in sys.argv
ARG = lambda name: sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None  # noqa: E731
APPS, QUEUES = 200, 20
SCRAPES = 50 if QUICK else 300
IDLE_S = 15 if QUICK else 60
VENV_PY = os.path.join(ROOT, "target", "tmp", "web-test-venv", "bin", "python")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit(f"bench/web.py: timed out waiting for {what}")


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def latencies(url, n, headers=None):
    for _ in range(5):
        get(url, headers)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        get(url, headers)
        out.append((time.perf_counter() - t0) * 1000)
    out.sort()
    return out


def pct(values, p):
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def dom_content_loaded(url):
    """Median DOMContentLoaded of 10 loads in headless Chromium, or None without a browser."""
    if not (os.path.exists(VENV_PY) and shutil.which("chromium") and shutil.which("chromedriver")):
        log("  (no chromium/chromedriver/Selenium virtualenv: page timing skipped)")
        return None
    script = r'''
import json, statistics, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage"]:
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    ms = []
    for _ in range(11):
        d.get(sys.argv[1])
        ms.append(d.execute_script("const t = performance.getEntriesByType('navigation')[0]; return t.domContentLoadedEventEnd - t.startTime;"))
    print(json.dumps(ms[1:]))
finally:
    d.quit()
'''
    out = subprocess.run([VENV_PY, "-c", script, url], capture_output=True, text=True, check=True).stdout
    return statistics.median(json.loads(out.strip().splitlines()[-1]))


class Browser:
    """One page kept open (its live updates running) for the idle measurement."""

    def __init__(self, url):
        self.proc = None
        if not (os.path.exists(VENV_PY) and shutil.which("chromium")):
            return
        script = r'''
import sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage"]:
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    d.get(sys.argv[1])
    print("open", flush=True)
    sys.stdin.read()
finally:
    d.quit()
'''
        self.proc = subprocess.Popen([VENV_PY, "-c", script, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="tpctl-web-bench-", dir=os.path.expanduser("~"))
    tools = ARG("--tools") or os.path.join(work, "tools")
    sleeper = os.path.join(work, "sleeper")
    subprocess.run(["cc", "-O2", "-o", sleeper, os.path.join(ROOT, "bench", "apps", "sleeper.c")], check=True)
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    home = os.path.join(work, "home")
    env = dict(os.environ, TPCTL_HOME=home, VALKEY_URL=url, NO_COLOR="1")
    web = None
    pm2_env = None
    rows = []
    try:
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG", 10, "redis")
        with open(os.path.join(work, "ecosystem.toml"), "w") as f:
            for i in range(APPS):
                f.write(f'[[apps]]\nname = "worker-{i:03}"\nscript = "{sleeper}"\nqueue = "queue-{i % QUEUES:02}"\nmax_memory_restart = "100M"\n\n')
        log(f"starting {APPS} apps under tpctl")
        subprocess.run([TPCTL, "start", "--quiet"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        for q in range(QUEUES):
            subprocess.run([TPCTL, "queue", f"queue-{q:02}", "add", "job", "--data", "{}"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        wport = free_port()
        web = subprocess.Popen([TPCTL, "web", "--listen", f"127.0.0.1:{wport}"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{wport}"
        wait_for(lambda: subprocess.run(["curl", "-sf", base + "/api/v1/apps"], capture_output=True).returncode == 0, 20, "tpctl web")
        body = get(base + "/metrics").decode()
        assert body.count("tpctl_app_up{") == APPS and body.count('tpctl_queue_paused{') == QUEUES, "metrics incomplete"
        log(f"scraping /metrics {SCRAPES} times")
        m = latencies(base + "/metrics", SCRAPES)
        om = latencies(base + "/metrics", SCRAPES, {"Accept": "application/openmetrics-text"})
        api = latencies(base + "/api/v1/apps", SCRAPES)
        dcl = dom_content_loaded(base + "/")
        rss = rss_kib(web.pid)
        page = Browser(base + "/")
        time.sleep(3)
        c0, t0 = cpu_seconds(web.pid), time.monotonic()
        time.sleep(IDLE_S)
        c1, t1 = cpu_seconds(web.pid), time.monotonic()
        page.close()
        idle = (c1 - c0) / (t1 - t0) * 100
        rss_after = rss_kib(web.pid)
        rows += [
            ("/metrics (Prometheus text), 200 apps + 20 queues", f"p50 {pct(m, 50):.1f} ms, p99 {pct(m, 99):.1f} ms", "≤ 25 ms p50"),
            ("/metrics (OpenMetrics)", f"p50 {pct(om, 50):.1f} ms, p99 {pct(om, 99):.1f} ms", ""),
            ("/api/v1/apps (status --json)", f"p50 {pct(api, 50):.1f} ms, p99 {pct(api, 99):.1f} ms", ""),
            ("overview DOMContentLoaded (headless Chromium)", "skipped" if dcl is None else f"{dcl:.0f} ms", "≤ 300 ms"),
            ("tpctl web RSS", f"{rss / 1024:.1f} MiB (after {IDLE_S} s with a page open: {rss_after / 1024:.1f} MiB)", "≤ 20 MiB"),
            (f"tpctl web CPU idle, one page open ({IDLE_S} s)", f"{idle:.2f} % of a core", ""),
        ]
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=20)
        web = None
        subprocess.run([TPCTL, "kill"], env=env, capture_output=True)

        # PM2 with the same 200 apps, and its web JSON endpoint.
        pm2_dir = os.path.join(tools, "pm2")
        pm2 = os.path.join(pm2_dir, "node_modules", ".bin", "pm2")
        if not os.path.exists(pm2):
            log("installing pm2@7.0.4 from npm")
            os.makedirs(pm2_dir, exist_ok=True)
            subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", pm2_dir, "pm2@7.0.4"], cwd=pm2_dir, check=True)
        pm2_home = os.path.join(work, "pm2-home")
        os.makedirs(pm2_home, exist_ok=True)
        open(os.path.join(pm2_home, "touch"), "a").close()
        pm2_env = dict(os.environ, PM2_HOME=pm2_home, PM2_DISABLE_VERSION_CHECK="1")
        apps = [{"name": f"worker-{i:03}", "script": sleeper, "interpreter": "none", "max_memory_restart": "100M"} for i in range(APPS)]
        with open(os.path.join(work, "pm2.json"), "w") as f:
            json.dump({"apps": apps}, f)
        log(f"starting {APPS} apps under PM2")
        subprocess.run([pm2, "start", os.path.join(work, "pm2.json")], env=pm2_env, check=True, capture_output=True)
        pport = free_port()
        # PM2 7.0.4's CLI no longer has `web`; its lib/HttpInterface.js is still shipped and is
        # started the way `pm2 web PORT` started it: as the app pm2-http-interface.
        interface = os.path.join(pm2_dir, "node_modules", "pm2", "lib", "HttpInterface.js")
        subprocess.run([pm2, "start", interface, "--name", "pm2-http-interface"], env=dict(pm2_env, PM2_WEB_PORT=str(pport)),
                       check=True, capture_output=True)
        pbase = f"http://127.0.0.1:{pport}"
        wait_for(lambda: subprocess.run(["curl", "-sf", pbase + "/"], capture_output=True).returncode == 0, 30, "pm2 web")
        j = latencies(pbase + "/", SCRAPES)
        listing = json.loads(subprocess.run([pm2, "jlist"], env=pm2_env, check=True, capture_output=True, text=True).stdout)
        web_pid = next((p["pid"] for p in listing if p["name"] == "pm2-http-interface"), None)
        with open(os.path.join(pm2_home, "pm2.pid")) as f:
            daemon = int(f.read().strip())
        prss = (rss_kib(web_pid) if web_pid else 0) + rss_kib(daemon)
        rows += [
            ("pm2 web JSON (:9615 API), 200 apps", f"p50 {pct(j, 50):.1f} ms, p99 {pct(j, 99):.1f} ms", "(peer)"),
            ("pm2 web + its daemon RSS", f"{prss / 1024:.1f} MiB", "(peer)"),
        ]
    finally:
        if web:
            web.kill()
        subprocess.run([TPCTL, "kill"], env=env, capture_output=True)
        if pm2_env:
            pm2 = os.path.join(tools, "pm2", "node_modules", ".bin", "pm2")
            subprocess.run([pm2, "kill"], env=pm2_env, capture_output=True)
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("| figure | measured | target |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
