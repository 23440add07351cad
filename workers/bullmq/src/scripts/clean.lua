--[[
  Removes up to `limit` jobs of one state older than a cutoff: completed and failed by
  finishedOn, delayed, prioritized, wait and paused by timestamp; running jobs are never
  touched. (shared/specs/bullmq-v5.md 5)
  KEYS: 1 key prefix
  ARGV: 1 state, 2 cutoff (ms), 3 limit
  Returns the ids removed.
]]
local rcall = redis.call
local prefix, state, cutoff, limit = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local key = prefix .. state
local removed = {}
local function drop(id)
  local jobKey = prefix .. id
  rcall("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed", jobKey .. ":failed", jobKey .. ":unsuccessful")
  table.insert(removed, id)
end
if state == "completed" or state == "failed" then
  local ids = rcall("ZRANGEBYSCORE", key, 0, cutoff, "LIMIT", 0, limit)
  for _, id in ipairs(ids) do drop(id) end
  if #ids > 0 then rcall("ZREM", key, unpack(ids)) end
else
  local ids
  local isList = state == "wait" or state == "paused"
  if isList then ids = rcall("LRANGE", key, 0, -1) else ids = rcall("ZRANGE", key, 0, -1) end
  for _, id in ipairs(ids) do
    if #removed >= limit then break end
    local ts = tonumber(rcall("HGET", prefix .. id, "timestamp")) or 0
    if ts <= cutoff then
      if isList then rcall("LREM", key, 0, id) else rcall("ZREM", key, id) end
      drop(id)
    end
  end
end
if #removed > 0 then
  rcall("XADD", prefix .. "events", "*", "event", "cleaned", "count", #removed)
end
return removed
