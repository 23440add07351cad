--[[
  Takes the next job for a worker: promotes due delayed jobs, honours the rate limit and a
  paused or maxed queue, takes from wait (FIFO from the tail) before prioritized, locks it,
  records the activation and wakes the next worker. (shared/specs/bullmq-v5.md 4.2)

  KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 limiter, 6 delayed, 7 paused, 8 meta,
        9 pc, 10 marker
  ARGV: 1 key prefix, 2 now (ms), 3 token, 4 lockDuration (ms), 5 limiter max or "",
        6 limiter duration or "", 7 worker name or ""
  Returns { flat job hash | 0, job id | 0, rate-limit delay ms, next delayed ms }.
]]
local rcall = redis.call
local prefix, now = ARGV[1], tonumber(ARGV[2])
local maxEvents = rcall("HGET", KEYS[8], "opts.maxLenEvents") or 10000
local meta = rcall("HMGET", KEYS[8], "paused", "concurrency", "max", "duration")
local paused = meta[1] ~= false
local maxed = false
if meta[2] then
  maxed = rcall("LLEN", KEYS[2]) >= tonumber(meta[2])
end
local target = paused and KEYS[7] or KEYS[1]

-- Promote delayed jobs that are due.
local due = rcall("ZRANGEBYSCORE", KEYS[6], 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
if #due > 0 then
  rcall("ZREM", KEYS[6], unpack(due))
  for _, id in ipairs(due) do
    local priority = tonumber(rcall("HGET", prefix .. id, "priority")) or 0
    if priority == 0 then
      rcall("LPUSH", target, id)
    else
      local pc = rcall("INCR", KEYS[9])
      rcall("ZADD", KEYS[3], priority * 4294967296 + (pc % 4294967296), id)
    end
    rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id, "prev", "delayed")
    rcall("HSET", prefix .. id, "delay", 0)
  end
  if not paused and not maxed then
    rcall("ZADD", KEYS[10], 0, "0")
  end
end

local maxJobs = tonumber(meta[3]) or tonumber(ARGV[5])
if maxJobs then
  local used = tonumber(rcall("GET", KEYS[5]))
  if used and used >= maxJobs then
    local ttl = rcall("PTTL", KEYS[5])
    if ttl > 0 then
      return { 0, 0, ttl, 0 }
    end
    rcall("DEL", KEYS[5])
  end
end
if paused or maxed then
  return { 0, 0, 0, 0 }
end

local id = rcall("RPOPLPUSH", KEYS[1], KEYS[2])
if id and string.sub(id, 1, 2) == "0:" then
  rcall("LREM", KEYS[2], 1, id)
  id = rcall("RPOPLPUSH", KEYS[1], KEYS[2])
end
if not id then
  local popped = rcall("ZPOPMIN", KEYS[3])
  if #popped > 0 then
    id = popped[1]
    rcall("LPUSH", KEYS[2], id)
  else
    rcall("DEL", KEYS[9])
  end
end

if id then
  if maxJobs then
    if rcall("INCR", KEYS[5]) == 1 then
      local duration = tonumber(ARGV[6]) or tonumber(meta[4])
      if duration then
        rcall("PEXPIRE", KEYS[5], math.floor(math.abs(duration)))
      end
    end
  end
  local jobKey = prefix .. id
  if ARGV[3] ~= "0" then
    rcall("SET", jobKey .. ":lock", ARGV[3], "PX", ARGV[4])
  end
  rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "active", "jobId", id, "prev", "waiting")
  if ARGV[7] ~= "" then
    rcall("HMSET", jobKey, "processedOn", now, "pb", ARGV[7])
  else
    rcall("HSET", jobKey, "processedOn", now)
  end
  rcall("HINCRBY", jobKey, "ats", 1)
  rcall("ZADD", KEYS[10], 0, "0")
  return { rcall("HGETALL", jobKey), id, 0, 0 }
end

local first = rcall("ZRANGE", KEYS[6], 0, 0, "WITHSCORES")
if #first > 0 then
  return { 0, 0, 0, math.floor(tonumber(first[2]) / 4096) }
end
return { 0, 0, 0, 0 }
