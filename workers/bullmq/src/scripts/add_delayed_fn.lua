--[[
  Puts a job in the delayed zset and moves the "1" marker to the earliest due time, shared by
  add_job.lua, retry_job.lua and next_iteration.lua. Prepended at load time.

  Scores are readyAt * 4096 + k, k counting up from 0 for jobs due in the same ms, so jobs due
  together keep their insertion order (shared/specs/bullmq-v5.md).
]]
local function addDelayed(delayedKey, markerKey, id, readyAt)
  local low = readyAt * 4096
  local high = low + 4095
  local score = low
  local top = redis.call("ZREVRANGEBYSCORE", delayedKey, high, low, "WITHSCORES", "LIMIT", 0, 1)
  if #top > 0 then
    score = math.min(tonumber(top[2]) + 1, high)
  end
  redis.call("ZADD", delayedKey, score, id)
  local first = redis.call("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
  redis.call("ZADD", markerKey, math.floor(tonumber(first[2]) / 4096), "1")
end
