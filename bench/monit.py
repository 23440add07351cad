#!/usr/bin/env python3
"""CPU and memory of `tpctl monit` (issue: monit dashboard; target: < 2% of a core at 1 Hz with
20 apps). Starts 20 apps (each consuming a queue that holds jobs) and a private redis-server,
runs the release monit in a private tmux terminal for a while, and reads its CPU time from
/proc before and after. Cleans up everything it started.

usage: bench/monit.py [--seconds N] [--interval S]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from procstat import cpu_seconds, free_port, rss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPCTL = os.path.join(ROOT, "target", "release", "tpctl")
APPS = 20


def arg(name, default):
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


SECONDS = arg("--seconds", 60)
INTERVAL = arg("--interval", 1)





def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tpctl"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="tpctl-monit-bench-")
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    env = dict(os.environ, TPCTL_HOME=os.path.join(work, "home"), VALKEY_URL=url, TERM="xterm-256color")
    env.pop("TMUX", None)
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    sock = os.path.join(work, "tmux.sock")
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.05)
        with open(os.path.join(work, "ecosystem.toml"), "w") as f:
            for i in range(APPS):
                f.write(f'[[apps]]\nname = "worker-{i:02}"\nscript = "/bin/sh"\n'
                        f'args = ["-c", "while true; do echo tick; sleep 1; done"]\nqueue = "queue-{i:02}"\n\n')
        subprocess.run([TPCTL, "start", "--quiet"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        for i in range(APPS):
            for n in range(5):
                subprocess.run([TPCTL, "queue", f"queue-{i:02}", "add", "job", "--data", f'{{"n":{n}}}'],
                               cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["tmux", "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "60",
                        f"exec {TPCTL} monit --interval {INTERVAL}"], cwd=work, env=env, check=True)
        pid = None
        for _ in range(100):
            out = subprocess.run(["pgrep", "-f", f"^{TPCTL} monit"], capture_output=True, text=True).stdout.split()
            if out:
                pid = int(out[0])
                break
            time.sleep(0.05)
        if pid is None:
            sys.exit("monit did not start")
        time.sleep(3)  # past start-up (first reads, first full draw)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(SECONDS)
        c1, t1 = cpu_seconds(pid), time.monotonic()
        screen = subprocess.run(["tmux", "-S", sock, "capture-pane", "-p"], capture_output=True, text=True).stdout
        if "worker-19" not in screen or "queue-19" not in screen:
            sys.exit("monit did not show all apps and queues:\n" + screen)
        pct = (c1 - c0) / (t1 - t0) * 100
        print(f"| apps | interval | measured | monit CPU (% of a core) | monit RSS |")
        print(f"|---|---|---|---|---|")
        print(f"| {APPS} | {INTERVAL:g} s | {t1 - t0:.0f} s | {pct:.2f}% | {rss_kib(pid) / 1024:.1f} MiB |")
    finally:
        subprocess.run(["tmux", "-S", sock, "kill-server"], capture_output=True)
        subprocess.run([TPCTL, "kill"], cwd=work, env=env, capture_output=True)
        redis.kill()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
