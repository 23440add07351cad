--[[
  Finishes an active job as completed or failed: checks the worker's lock, leaves active,
  counts the attempt, keeps or removes the job per removeOnComplete/removeOnFail, releases a
  deduplication slot, and records events. (shared/specs/bullmq-v5.md 4.5, 4.6, 4.8)

  With ARGV[12] = "1" it then takes the next job for the same worker (move_to_active_fn.lua,
  prepended at load time), as Node does: one round trip per job instead of two.

  KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 stalled, 6 target set (completed or
        failed), 7 meta, 8 limiter, 9 delayed, 10 paused, 11 pc, 12 marker, 13 metrics hash of
        the target (metrics:completed or metrics:failed), 14 its per-minute list (…:data)
  ARGV: 1 key prefix, 2 job id, 3 now (ms), 4 "completed" or "failed", 5 return value JSON or
        failed reason, 6 token, 7 keep count (-1 keep all, 0 remove, n keep n),
        8 keep age (s, 0 none), 9 keep limit, 10 attempts, 11 stacktrace JSON or "",
        12 fetch next ("1"/"0"), 13 next token, 14 lockDuration, 15 limiter max or "",
        16 limiter duration or "", 17 worker name or "", 18 metrics data points to keep ("" or
        0: no metrics, as Node without its `metrics` option)
  Returns 0 or the next job (as move_to_active), or -1 job missing, -2 lock missing, -3 not
  active, -6 lock owned by another.
]]
local rcall = redis.call
local prefix, id, now, target = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local jobKey = prefix .. id
local released = releaseLock(jobKey, id, ARGV[6], KEYS[5])
if released ~= 0 then
  return released
end
if rcall("LREM", KEYS[2], -1, id) == 0 then
  return -3
end
local maxEvents = rcall("HGET", KEYS[7], "opts.maxLenEvents") or 10000
rcall("XTRIM", KEYS[4], "MAXLEN", "~", maxEvents)

local deid = rcall("HGET", jobKey, "deid")
if deid then
  local deKey = prefix .. "de:" .. deid
  local ttl = rcall("PTTL", deKey)
  if ttl == 0 or (ttl == -1 and rcall("GET", deKey) == id) then
    rcall("DEL", deKey)
  end
end

-- A flow child that completes releases its parent (in whatever queue) once no dependency is
-- left: to delayed, prioritized or the head of wait, as Node's moveToFinished does. Failure
-- policies of flows (fpof, cpof, idof, rdof) are not implemented: TestPlanIt adds no flows.
if target == "completed" then
  local parentKey = rcall("HGET", jobKey, "parentKey")
  if parentKey and rcall("SREM", parentKey .. ":dependencies", jobKey) == 1 then
    rcall("HSET", parentKey .. ":processed", jobKey, ARGV[5])
    local parentId = string.match(parentKey, "([^:]+)$")
    local q = string.sub(parentKey, 1, #parentKey - #parentId)
    if rcall("SCARD", parentKey .. ":dependencies") == 0 and rcall("ZREM", q .. "waiting-children", parentId) == 1 then
      local parentPaused = rcall("HEXISTS", q .. "meta", "paused") == 1
      local delay = tonumber(rcall("HGET", parentKey, "delay")) or 0
      local priority = tonumber(rcall("HGET", parentKey, "priority")) or 0
      if delay > 0 then
        addDelayed(q .. "delayed", q .. "marker", parentId, now + delay)
        rcall("XADD", q .. "events", "*", "event", "delayed", "jobId", parentId, "delay", now + delay)
      else
        if priority > 0 then
          local pc = rcall("INCR", q .. "pc")
          rcall("ZADD", q .. "prioritized", priority * 4294967296 + (pc % 4294967296), parentId)
        else
          rcall("RPUSH", parentPaused and (q .. "paused") or (q .. "wait"), parentId)
        end
        if not parentPaused then
          rcall("ZADD", q .. "marker", 0, "0")
        end
        rcall("XADD", q .. "events", "*", "event", "waiting", "jobId", parentId, "prev", "waiting-children")
      end
    end
  end
end

local atm = rcall("HINCRBY", jobKey, "atm", 1)
local count, age, limit = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local function removeJob(jid)
  local k = prefix .. jid
  rcall("DEL", k, k .. ":logs", k .. ":lock", k .. ":dependencies", k .. ":processed", k .. ":failed", k .. ":unsuccessful")
end
if count == 0 then
  removeJob(id)
else
  local field = target == "completed" and "returnvalue" or "failedReason"
  rcall("ZADD", KEYS[6], now, id)
  rcall("HSET", jobKey, field, ARGV[5], "finishedOn", now)
  if target == "failed" then
    rcall("HDEL", jobKey, "defa")
    if ARGV[11] ~= "" then
      rcall("HSET", jobKey, "stacktrace", ARGV[11])
    end
  end
  if age > 0 then
    local old = rcall("ZRANGEBYSCORE", KEYS[6], 0, now - age * 1000, "LIMIT", 0, limit)
    for _, jid in ipairs(old) do
      removeJob(jid)
    end
    if #old > 0 then
      rcall("ZREM", KEYS[6], unpack(old))
    end
  end
  if count > 0 then
    local extra = rcall("ZREVRANGE", KEYS[6], count, -1)
    for _, jid in ipairs(extra) do
      removeJob(jid)
    end
    if #extra > 0 then
      rcall("ZREMRANGEBYRANK", KEYS[6], 0, -(count + 1))
    end
  end
end

-- Per-minute metrics as Node's `metrics: {maxDataPoints}` worker option records them (read by
-- Queue.getMetrics): a running count, and per minute the jobs finished in it, newest first,
-- zeros for minutes without any, at most maxDataPoints of them.
local maxPoints = tonumber(ARGV[18])
if maxPoints and maxPoints > 0 then
  local total = rcall("HINCRBY", KEYS[13], "count", 1) - 1
  local prevTS = rcall("HGET", KEYS[13], "prevTS")
  if not prevTS then
    rcall("HSET", KEYS[13], "prevTS", now, "prevCount", 0)
  else
    local minutes = math.min(math.floor(now / 60000) - math.floor(tonumber(prevTS) / 60000), maxPoints)
    if minutes > 0 then
      local delta = total - (tonumber(rcall("HGET", KEYS[13], "prevCount")) or 0)
      rcall("LPUSH", KEYS[14], delta)
      -- The minutes since without a job, in batches (unpack has a stack limit).
      local left = minutes - 1
      while left > 0 do
        local zeros = {}
        for i = 1, math.min(left, 1000) do
          zeros[i] = 0
        end
        rcall("LPUSH", KEYS[14], unpack(zeros))
        left = left - #zeros
      end
      rcall("LTRIM", KEYS[14], 0, maxPoints - 1)
      rcall("HSET", KEYS[13], "prevCount", total, "prevTS", now)
    end
  end
end

if target == "completed" then
  rcall("XADD", KEYS[4], "*", "event", "completed", "jobId", id, "returnvalue", ARGV[5], "prev", "active")
else
  rcall("XADD", KEYS[4], "*", "event", "failed", "jobId", id, "failedReason", ARGV[5], "prev", "active")
  if atm >= (tonumber(ARGV[10]) or 0) then
    rcall("XADD", KEYS[4], "*", "event", "retries-exhausted", "jobId", id, "attemptsMade", atm)
  end
end
if ARGV[12] == "1" then
  local nextJob = moveToActive(
    { wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], limiter = KEYS[8],
      delayed = KEYS[9], paused = KEYS[10], meta = KEYS[7], pc = KEYS[11], marker = KEYS[12] },
    { prefix = ARGV[1], now = ARGV[3], token = ARGV[13], lockDuration = ARGV[14], max = ARGV[15],
      duration = ARGV[16], name = ARGV[17] })
  if nextJob[1] ~= 0 then
    return nextJob
  end
end
if rcall("LLEN", KEYS[1]) == 0 and rcall("LLEN", KEYS[2]) == 0 and rcall("ZCARD", KEYS[3]) == 0 then
  rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "drained")
end
return 0
