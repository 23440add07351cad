--[[
  Runs a finished job again (job.retry()): out of completed or failed, result fields cleared,
  back at the front of the queue. (shared/specs/bullmq-v5.md 5)
  KEYS: 1 job key, 2 from set (completed or failed), 3 wait, 4 paused, 5 meta, 6 marker,
        7 events
  ARGV: 1 job id, 2 "completed" or "failed"
  Returns 1, or -1 job missing, -3 not in that state.
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 0 then return -1 end
if rcall("ZREM", KEYS[2], ARGV[1]) == 0 then return -3 end
local field = ARGV[2] == "failed" and "failedReason" or "returnvalue"
rcall("HDEL", KEYS[1], "finishedOn", "processedOn", field)
local paused = rcall("HEXISTS", KEYS[5], "paused") == 1
local opts = cjson.decode(rcall("HGET", KEYS[1], "opts") or "{}")
local target = paused and KEYS[4] or KEYS[3]
if opts["lifo"] then rcall("RPUSH", target, ARGV[1]) else rcall("LPUSH", target, ARGV[1]) end
if not paused then rcall("ZADD", KEYS[6], 0, "0") end
local maxEvents = rcall("HGET", KEYS[5], "opts.maxLenEvents") or 10000
rcall("XADD", KEYS[7], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", ARGV[1], "prev", ARGV[2])
return 1
