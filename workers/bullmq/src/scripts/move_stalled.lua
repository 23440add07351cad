--[[
  The stalled-job checker: jobs left in active without a lock since the previous check are
  put back to run next; one stalled too often is marked to fail on its next activation.
  Runs at most once per stalledInterval across all workers. (shared/specs/bullmq-v5.md 4.9)

  KEYS: 1 stalled, 2 wait, 3 active, 4 stalled-check, 5 meta, 6 paused, 7 marker, 8 events
  ARGV: 1 maxStalledCount, 2 key prefix, 3 now (ms), 4 stalledInterval (ms)
  Returns the ids put back.
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[4]) == 1 then
  return {}
end
rcall("SET", KEYS[4], ARGV[3], "PX", ARGV[4])
local maxEvents = rcall("HGET", KEYS[5], "opts.maxLenEvents") or 10000
rcall("XTRIM", KEYS[8], "MAXLEN", "~", maxEvents)
local meta = rcall("HMGET", KEYS[5], "paused", "concurrency")
local paused = meta[1] ~= false
local target = paused and KEYS[6] or KEYS[2]
local recovered = {}
local candidates = rcall("SMEMBERS", KEYS[1])
rcall("DEL", KEYS[1])
for _, id in ipairs(candidates) do
  if string.sub(id, 1, 2) == "0:" then
    rcall("LREM", KEYS[3], 1, id)
  else
    local jobKey = ARGV[2] .. id
    if rcall("EXISTS", jobKey .. ":lock") == 0 and rcall("LREM", KEYS[3], 1, id) > 0 then
      local stc = rcall("HINCRBY", jobKey, "stc", 1)
      local rjk = rcall("HGET", jobKey, "rjk")
      local repeatable = rjk and (rcall("EXISTS", ARGV[2] .. "repeat:" .. rjk) == 1 or rcall("ZSCORE", ARGV[2] .. "repeat", rjk))
      if stc > tonumber(ARGV[1]) and not repeatable then
        rcall("HSET", jobKey, "defa", "job stalled more than allowable limit")
      end
      rcall("RPUSH", target, id)
      if not paused then
        rcall("ZADD", KEYS[7], 0, "0")
      end
      rcall("XADD", KEYS[8], "*", "event", "waiting", "jobId", id, "prev", "active")
      rcall("XADD", KEYS[8], "*", "event", "stalled", "jobId", id)
      table.insert(recovered, id)
    end
  end
end
local active = rcall("LRANGE", KEYS[3], 0, -1)
for i = 1, #active, 7000 do
  rcall("SADD", KEYS[1], unpack(active, i, math.min(i + 6999, #active)))
end
return recovered
