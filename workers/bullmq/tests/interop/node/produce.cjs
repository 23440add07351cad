// Adds jobs the way TestPlanIt's web app does: node produce.cjs URL QUEUE '[{"name","data","opts"}]'
// Prints the ids as a JSON array.
const { Queue } = require(process.env.BULLMQ_MODULE || "bullmq");
(async () => {
  const [url, name, jobs] = process.argv.slice(2);
  // BULLMQ_PREFIX as TestPlanIt reads it (default "bull").
  const prefix = process.env.BULLMQ_PREFIX || "bull";
  const queue = new Queue(name, { connection: { url }, prefix });
  const ids = [];
  for (const j of JSON.parse(jobs)) {
    const job = await queue.add(j.name, j.data, j.opts || {});
    ids.push(job.id);
  }
  console.log(JSON.stringify(ids));
  await queue.close();
})().catch((e) => { console.error(e); process.exit(1); });
