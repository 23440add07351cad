#!/usr/bin/env python3
"""tp-bullmq's worker over TLS against the same worker in plain text (issue: Valkey as
production runs it). One redis-server with both a plain and a TLS port (certificates made
here by openssl: a CA and a server certificate for 127.0.0.1), the same jobs added by Node's
addBulk before each drain, plain and TLS alternating: jobs/s and worker CPU per job at
concurrency 1 and 50. Prints one table with the TLS/plain ratio (target: CPU per job at most
1.3x).

usage: bench/tls.py [--quick]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from procstat import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "workers", "bullmq", "tests", "interop", "node")
RUST = os.path.join(ROOT, "target", "release", "examples", "bench_worker")
QUICK = "--quick" in sys.argv
JOBS = 10_000 if QUICK else 50_000
REPS = 1 if QUICK else 3


def certificates(work):
    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(work, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "tp-bullmq", "--example", "bench_worker"], cwd=ROOT, check=True)
    subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    work = tempfile.mkdtemp(prefix="tp-tls-bench-")
    certificates(work)
    port, tls_port = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--tls-port", str(tls_port), "--bind", "127.0.0.1",
                              "--tls-cert-file", "server.pem", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.pem",
                              "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", work],
                             cwd=work, stdout=subprocess.DEVNULL)
    plain = f"redis://127.0.0.1:{port}"
    urls = {"plain": plain, "tls": f"rediss://127.0.0.1:{tls_port}"}
    env = dict(os.environ, VALKEY_TLS_CA=os.path.join(work, "ca.pem"))
    results = {}
    try:
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        for conc in (1, 50):
            for rep in range(REPS):
                for kind in ("plain", "tls") if rep % 2 == 0 else ("tls", "plain"):
                    subprocess.run(["redis-cli", "-p", str(port), "flushall"], capture_output=True, check=True)
                    subprocess.run(["node", os.path.join(NODE_DIR, "bench-produce.cjs"), plain, "bench", str(JOBS)], check=True)
                    p = subprocess.Popen([RUST, urls[kind], "bench", str(conc), str(JOBS)], stdout=subprocess.PIPE, text=True, env=env)
                    assert p.stdout.readline().strip() == "ready"
                    out = json.loads(p.stdout.readline())
                    p.wait(timeout=300)
                    results.setdefault((kind, conc), []).append(out)
                    print(f"  {kind} concurrency {conc}: {out['jobs_per_s']:.0f} jobs/s", file=sys.stderr)
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)

    def med(kind, conc, field):
        return statistics.median(r[field] for r in results[(kind, conc)])

    print(f"| figure ({JOBS} jobs, median of {REPS}) | plain | TLS | TLS ÷ plain | target |")
    print("|---|---|---|---|---|")
    for conc in (1, 50):
        jp, jt = med("plain", conc, "jobs_per_s"), med("tls", conc, "jobs_per_s")
        cp, ct = med("plain", conc, "cpu_us_per_job"), med("tls", conc, "cpu_us_per_job")
        print(f"| concurrency {conc}: jobs/s | {jp:.0f} | {jt:.0f} | {jt / jp:.2f} | |")
        print(f"| concurrency {conc}: worker CPU per job | {cp:.1f} µs | {ct:.1f} µs | {ct / cp:.2f} | ≤ 1.3 |")


if __name__ == "__main__":
    main()
