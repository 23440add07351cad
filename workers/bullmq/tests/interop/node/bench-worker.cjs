// Benchmark counterpart of examples/bench_worker.rs, with Node bullmq:
// node bench-worker.cjs URL QUEUE CONCURRENCY COUNT [latency|idle SECONDS]
const { Worker } = require(process.env.BULLMQ_MODULE || "bullmq");
(async () => {
  const [url, name, concurrency, count, mode, idleSecs] = process.argv.slice(2);
  const n = Number(count);
  let started = 0, t0 = null, cpu0 = null, done;
  const lat = [];
  const finished = new Promise((r) => (done = r));
  const worker = new Worker(
    name,
    async (job) => {
      const now = performance.timeOrigin + performance.now();
      if (t0 === null) { t0 = process.hrtime.bigint(); cpu0 = process.cpuUsage(); }
      if (job.data && job.data.t) lat.push(now - job.data.t / 1000);
      if (++started === n) setImmediate(done);
    },
    { connection: { url }, concurrency: Number(concurrency) },
  );
  if (mode === "idle") {
    const c0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, Number(idleSecs) * 1000));
    const c = process.cpuUsage(c0);
    console.log(JSON.stringify({ rss_mb: process.memoryUsage().rss / 1048576, cpu_s: (c.user + c.system) / 1e6 }));
    await worker.close();
    process.exit(0);
  }
  await worker.waitUntilReady();
  console.log("ready");
  await finished;
  await worker.close();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.round((lat.length - 1) * p)] : 0);
  console.log(JSON.stringify({
    jobs_per_s: n / secs,
    cpu_us_per_job: (cpu.user + cpu.system) / n,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
  }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
