--[[
  The "take the next job" step, shared by move_to_active.lua and move_to_finished.lua (which
  takes the next job in the same call, saving a round trip per job). Prepended to both at
  load time. (shared/specs/bullmq-v5.md 4.2, 4.7)

  k: wait, active, prioritized, events, limiter, delayed, paused, meta, pc, marker (keys)
  args: prefix, now, token, lockDuration, max, duration, name
  Returns { flat job hash | 0, job id | 0, rate-limit delay ms, next delayed ms }.
]]
local rcall = redis.call
local function moveToActive(k, args)
  local prefix, now = args.prefix, tonumber(args.now)
  local maxEvents = rcall("HGET", k.meta, "opts.maxLenEvents") or 10000
  local meta = rcall("HMGET", k.meta, "paused", "concurrency", "max", "duration")
  local paused = meta[1] ~= false
  local maxed = false
  if meta[2] then
    maxed = rcall("LLEN", k.active) >= tonumber(meta[2])
  end
  local target = paused and k.paused or k.wait

  -- Promote delayed jobs that are due.
  local due = rcall("ZRANGEBYSCORE", k.delayed, 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
  if #due > 0 then
    rcall("ZREM", k.delayed, unpack(due))
    for _, id in ipairs(due) do
      local priority = tonumber(rcall("HGET", prefix .. id, "priority")) or 0
      if priority == 0 then
        rcall("LPUSH", target, id)
      else
        local pc = rcall("INCR", k.pc)
        rcall("ZADD", k.prioritized, priority * 4294967296 + (pc % 4294967296), id)
      end
      rcall("XADD", k.events, "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id, "prev", "delayed")
      rcall("HSET", prefix .. id, "delay", 0)
    end
    if not paused and not maxed then
      rcall("ZADD", k.marker, 0, "0")
    end
  end

  local maxJobs = tonumber(meta[3]) or tonumber(args.max)
  if maxJobs then
    local used = tonumber(rcall("GET", k.limiter))
    if used and used >= maxJobs then
      local ttl = rcall("PTTL", k.limiter)
      if ttl > 0 then
        return { 0, 0, ttl, 0 }
      end
      rcall("DEL", k.limiter)
    end
  end
  if paused or maxed then
    return { 0, 0, 0, 0 }
  end

  local id = rcall("RPOPLPUSH", k.wait, k.active)
  if id and string.sub(id, 1, 2) == "0:" then
    rcall("LREM", k.active, 1, id)
    id = rcall("RPOPLPUSH", k.wait, k.active)
  end
  if not id then
    local popped = rcall("ZPOPMIN", k.prioritized)
    if #popped > 0 then
      id = popped[1]
      rcall("LPUSH", k.active, id)
    else
      rcall("DEL", k.pc)
    end
  end

  if id then
    if maxJobs then
      if rcall("INCR", k.limiter) == 1 then
        local duration = tonumber(args.duration) or tonumber(meta[4])
        if duration then
          rcall("PEXPIRE", k.limiter, math.floor(math.abs(duration)))
        end
      end
    end
    local jobKey = prefix .. id
    if args.token ~= "0" then
      rcall("SET", jobKey .. ":lock", args.token, "PX", args.lockDuration)
    end
    rcall("XADD", k.events, "MAXLEN", "~", maxEvents, "*", "event", "active", "jobId", id, "prev", "waiting")
    if args.name ~= "" then
      rcall("HMSET", jobKey, "processedOn", now, "pb", args.name)
    else
      rcall("HSET", jobKey, "processedOn", now)
    end
    rcall("HINCRBY", jobKey, "ats", 1)
    rcall("ZADD", k.marker, 0, "0")
    return { rcall("HGETALL", jobKey), id, 0, 0 }
  end

  local first = rcall("ZRANGE", k.delayed, 0, 0, "WITHSCORES")
  if #first > 0 then
    return { 0, 0, 0, math.floor(tonumber(first[2]) / 4096) }
  end
  return { 0, 0, 0, 0 }
end
