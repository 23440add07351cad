// Adds COUNT jobs through Sentinel, as TestPlanIt's newer releases connect (ioredis's
// `sentinels` and `name` options), one every INTERVAL_MS, retrying an add that fails while a
// failover is under way (job ids j0, j1, … make a retried add idempotent):
//   node produce-sentinel.cjs "host:port,host:port" MASTER QUEUE COUNT INTERVAL_MS
// Prints {"produced": N, "retries": R} once every add was acknowledged.
const { Queue } = require(process.env.BULLMQ_MODULE || "bullmq");
(async () => {
  const [list, name, queueName, count, interval] = process.argv.slice(2);
  const sentinels = list.split(",").map((s) => {
    const i = s.lastIndexOf(":");
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  });
  const queue = new Queue(queueName, {
    connection: { sentinels, name, maxRetriesPerRequest: null, enableReadyCheck: false },
  });
  queue.on("error", () => {});
  let produced = 0;
  let retries = 0;
  for (let i = 0; i < Number(count); i++) {
    for (;;) {
      try {
        await queue.add("failover", { i }, { jobId: `j${i}` });
        produced += 1;
        break;
      } catch (e) {
        retries += 1;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await new Promise((r) => setTimeout(r, Number(interval)));
  }
  console.log(JSON.stringify({ produced, retries }));
  await queue.close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
