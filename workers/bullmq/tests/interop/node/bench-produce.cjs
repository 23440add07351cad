// Fills a queue for the benchmarks with TestPlanIt-shaped jobs:
// node bench-produce.cjs URL QUEUE COUNT          (addBulk, batches of 1000)
// node bench-produce.cjs URL QUEUE COUNT SPACING  (one at a time, SPACING ms apart, data.t = wall-clock µs)
// DATA_JSON replaces the jobs' data (bench/workers.py gives real create-notification payloads).
const { Queue } = require(process.env.BULLMQ_MODULE || "bullmq");
const opts = { attempts: 3, backoff: { type: "exponential", delay: 5000 }, removeOnComplete: { age: 604800, count: 1000 }, removeOnFail: { age: 1209600 } };
(async () => {
  const [url, name, count, spacing] = process.argv.slice(2);
  const queue = new Queue(name, { connection: { url } });
  const data = process.env.DATA_JSON ? JSON.parse(process.env.DATA_JSON) : { userId: "u1", type: "X", title: "t", message: "m" };
  if (spacing) {
    for (let i = 0; i < Number(count); i++) {
      await queue.add("create-notification", { ...data, t: (performance.timeOrigin + performance.now()) * 1000 }, opts);
      await new Promise((r) => setTimeout(r, Number(spacing)));
    }
  } else {
    for (let i = 0; i < Number(count); i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(i + 1000, Number(count)); j++) batch.push({ name: "create-notification", data, opts });
      await queue.addBulk(batch);
    }
  }
  await queue.close();
})().catch((e) => { console.error(e); process.exit(1); });
