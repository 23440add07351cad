// Benchmark worker for bench/failover.py: Node bullmq's own worker on QUEUE through Sentinel
// (ioredis's `sentinels` and `name`, as TestPlanIt configures it); prints "<job id> <unix ms>"
// as each job's processor ends, until SIGINT. Each job takes SLEEP_MS (2 by default).
//   node failover-worker.cjs "host:port,host:port" MASTER QUEUE
const { Worker } = require(process.env.BULLMQ_MODULE || "bullmq");
const [list, name, queue] = process.argv.slice(2);
const sentinels = list.split(",").map((s) => {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
});
const worker = new Worker(
  queue,
  async (job) => {
    await new Promise((r) => setTimeout(r, Number(process.env.SLEEP_MS || 2)));
    process.stdout.write(`${job.id} ${Date.now()}\n`);
    return null;
  },
  {
    connection: { sentinels, name, maxRetriesPerRequest: null, enableReadyCheck: false },
    concurrency: 4,
    lockDuration: 5000,
    stalledInterval: 2000,
    drainDelay: 0.2,
  },
);
worker.on("error", () => {});
worker.waitUntilReady().then(() => console.log("ready"));
process.on("SIGINT", async () => {
  await worker.close();
  process.exit(0);
});
