--[[
  Makes a delayed job ready now. (shared/specs/bullmq-v5.md 5)
  KEYS: 1 delayed, 2 wait, 3 paused, 4 meta, 5 prioritized, 6 pc, 7 marker, 8 events
  ARGV: 1 key prefix, 2 job id
  Returns 0, or -3 when the job is not delayed.
]]
local rcall = redis.call
local id = ARGV[2]
if rcall("ZREM", KEYS[1], id) == 0 then return -3 end
local jobKey = ARGV[1] .. id
local paused = rcall("HEXISTS", KEYS[4], "paused") == 1
local priority = tonumber(rcall("HGET", jobKey, "priority")) or 0
if priority == 0 then
  rcall("LPUSH", paused and KEYS[3] or KEYS[2], id)
else
  local pc = rcall("INCR", KEYS[6])
  rcall("ZADD", KEYS[5], priority * 4294967296 + (pc % 4294967296), id)
end
if not paused then rcall("ZADD", KEYS[7], 0, "0") end
rcall("HSET", jobKey, "delay", 0)
local maxEvents = rcall("HGET", KEYS[4], "opts.maxLenEvents") or 10000
rcall("XADD", KEYS[8], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id, "prev", "delayed")
return 0
