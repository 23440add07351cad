// Reads or changes a queue from Node: node inspect.cjs URL QUEUE counts|paused|repeatables|workers|pause|resume|jobs STATE|job ID|logs - ID
//   |obliterate-force|flow PARENT_NAME|schedulers|upsert-scheduler '{"id":..,"repeat":{..},"template":{..}}'|remove-scheduler ID|retry ID
const { Queue, Job, FlowProducer } = require(process.env.BULLMQ_MODULE || "bullmq");
(async () => {
  const [url, name, what, arg] = process.argv.slice(2);
  // BULLMQ_PREFIX as TestPlanIt reads it (default "bull").
  const prefix = process.env.BULLMQ_PREFIX || "bull";
  const queue = new Queue(name, { connection: { url }, prefix });
  // Ready before anything else: a queue closed while its connection still initialises (the
  // flow command never uses it) rejects that initialisation with "Connection is closed",
  // emitted where no listener is, which kills node after the answer was printed.
  await queue.waitUntilReady();
  let out;
  if (what === "counts") out = await queue.getJobCounts();
  else if (what === "paused") out = await queue.isPaused();
  else if (what === "repeatables") out = await queue.getRepeatableJobs();
  else if (what === "jobs") out = (await queue.getJobs([arg], 0, 100)).map((j) => j.id);
  else if (what === "workers") out = (await queue.getWorkers()).length;
  else if (what === "metrics") out = { completed: await queue.getMetrics("completed"), failed: await queue.getMetrics("failed") };
  else if (what === "logs") out = await queue.getJobLogs(process.argv[6]);
  else if (what === "schedulers") out = await queue.getJobSchedulers();
  else if (what === "obliterate-force") {
    await queue.pause();
    out = await queue.obliterate({ force: true });
  } else if (what === "flow") {
    const flow = new FlowProducer({ connection: { url }, prefix });
    const tree = await flow.add({ name: arg, queueName: name, data: {}, children: [{ name: "child", queueName: name, data: {} }] });
    out = tree.job.id;
    await flow.close();
  }
  else if (what === "upsert-scheduler") {
    const { id, repeat, template } = JSON.parse(arg);
    const job = await queue.upsertJobScheduler(id, repeat, template);
    out = job && job.id;
  } else if (what === "remove-scheduler") out = await queue.removeJobScheduler(arg);
  else if (what === "retry") {
    // As Admin › Job Queues retries a failed job.
    const job = await Job.fromId(queue, arg);
    await job.retry();
    out = true;
  }
  else if (what === "pause") out = await queue.pause();
  else if (what === "resume") out = await queue.resume();
  else if (what === "job") {
    // The state first, then the fields: a job seen completed or failed is read after it
    // finished, never with the fields of its running self (a race on a loaded machine).
    const state = await queue.getJobState(arg);
    const job = await Job.fromId(queue, arg);
    out = job && {
      id: job.id, name: job.name, data: job.data, opts: job.opts, delay: job.delay, priority: job.priority, timestamp: job.timestamp,
      returnvalue: job.returnvalue, attemptsMade: job.attemptsMade, attemptsStarted: job.attemptsStarted, failedReason: job.failedReason,
      stacktrace: job.stacktrace, finishedOn: job.finishedOn, processedOn: job.processedOn, state,
      progress: job.progress,
    };
  } else throw new Error("unknown command " + what);
  console.log(JSON.stringify(out === undefined ? null : out));
  await queue.close();
})().catch((e) => { console.error(e); process.exit(1); });
