// Next run times from the cron-parser that bullmq itself uses, as its repeat strategy calls
// it: node cron.cjs '[{"pattern": "...", "tz": "...", "after": MS}, ...]' prints one JSON
// array of millis (null where cron-parser throws).
const bullmq = require.resolve(process.env.BULLMQ_MODULE || "bullmq");
const { parseExpression } = require(require.resolve("cron-parser", { paths: [bullmq] }));
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify(cases.map(({ pattern, tz, after }) => {
  try {
    return parseExpression(pattern, { tz, currentDate: new Date(after) }).next().getTime();
  } catch (e) {
    return null;
  }
})));
