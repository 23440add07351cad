// Processes COUNT jobs with a Node worker and prints each as a JSON line (id, name, data,
// opts, attemptsMade), in the order they ran: node consume.cjs URL QUEUE COUNT TIMEOUT_MS
// (SLEEP_MS: how long each job takes; LOCK_MS, STALLED_MS: lockDuration, stalledInterval;
// FAIL: every job throws; FAIL_MARKED: jobs whose data has fail: true throw "boom"; DRAIN_S: drainDelay, the idle worker's blocking wait;
// METRICS: the metrics option's maxDataPoints)
const { Worker } = require(process.env.BULLMQ_MODULE || "bullmq");
(async () => {
  const [url, name, count, timeout] = process.argv.slice(2);
  let seen = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const worker = new Worker(
    name,
    async (job) => {
      if (process.env.SLEEP_MS) await new Promise((r) => setTimeout(r, Number(process.env.SLEEP_MS)));
      if (process.env.FAIL_MARKED && job.data && job.data.fail) {
        seen += 1;
        if (seen >= Number(count)) setImmediate(done);
        throw new Error("boom");
      }
      if (process.env.FAIL) {
        seen += 1;
        if (seen >= Number(count)) setImmediate(done);
        throw new Error("boom " + job.id);
      }
      console.log(JSON.stringify({ id: job.id, name: job.name, data: job.data, opts: job.opts, attemptsMade: job.attemptsMade, startedAt: Date.now() }));
      seen += 1;
      if (seen >= Number(count)) setImmediate(done);
      return { ok: job.id };
    },
    { connection: { url }, concurrency: 1, lockDuration: Number(process.env.LOCK_MS || 30000), stalledInterval: Number(process.env.STALLED_MS || 30000), drainDelay: Number(process.env.DRAIN_S || 5), ...(process.env.METRICS ? { metrics: { maxDataPoints: Number(process.env.METRICS) } } : {}) },
  );
  const timer = setTimeout(done, Number(timeout));
  await finished;
  clearTimeout(timer);
  await worker.close();
  process.exit(seen >= Number(count) ? 0 : 2);
})().catch((e) => { console.error(e); process.exit(1); });
