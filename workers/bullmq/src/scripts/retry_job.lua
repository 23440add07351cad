--[[
  Puts a failed attempt back for another try: at once (wait or prioritized, with the marker)
  or after a back-off (delayed). Checks the worker's lock, records the failure's reason and
  stack trace, counts the attempt. (shared/specs/bullmq-v5.md 4.6)
  A hand-back (ARGV 8 = "1": a job interrupted by a worker stop) goes to the front of its
  line instead, with no attempt counted and no failure recorded, as BullMQ's rate-limit
  push-back does (4.6, special errors).

  KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 stalled, 6 paused, 7 meta, 8 pc,
        9 marker, 10 delayed
  ARGV: 1 key prefix, 2 job id, 3 now (ms), 4 token, 5 delay (ms, 0 = retry now),
        6 failed reason, 7 stacktrace JSON, 8 hand-back flag
  Returns 0, or -1 job missing, -2 lock missing, -3 not active, -6 lock owned by another.
]]
local rcall = redis.call
local prefix, id, now, delay = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local handBack = ARGV[8] == "1"
local jobKey = prefix .. id
local released = releaseLock(jobKey, id, ARGV[4], KEYS[5])
if released ~= 0 then
  return released
end
if rcall("LREM", KEYS[2], -1, id) == 0 then
  return -3
end
if not handBack then
  rcall("HSET", jobKey, "failedReason", ARGV[6], "stacktrace", ARGV[7])
  rcall("HINCRBY", jobKey, "atm", 1)
end
local maxEvents = rcall("HGET", KEYS[7], "opts.maxLenEvents") or 10000
if delay > 0 then
  local readyAt = now + delay
  rcall("HSET", jobKey, "delay", delay)
  addDelayed(KEYS[10], KEYS[9], id, readyAt)
  rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "delayed", "jobId", id, "delay", readyAt)
  return 0
end
local meta = rcall("HMGET", KEYS[7], "paused", "concurrency")
local paused = meta[1] ~= false
local maxed = meta[2] and rcall("LLEN", KEYS[2]) >= tonumber(meta[2])
local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
if priority == 0 then
  local target = paused and KEYS[6] or KEYS[1]
  -- Workers take from the right: RPUSH puts the job next in line.
  if handBack or cjson.decode(rcall("HGET", jobKey, "opts") or "{}")["lifo"] then
    rcall("RPUSH", target, id)
  else
    rcall("LPUSH", target, id)
  end
else
  -- Counter 0 puts a hand-back first among the jobs of its priority.
  local pc = handBack and 0 or rcall("INCR", KEYS[8])
  rcall("ZADD", KEYS[3], priority * 4294967296 + (pc % 4294967296), id)
end
if not paused and not maxed then
  rcall("ZADD", KEYS[9], 0, "0")
end
rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id, "prev", "active")
return 0
