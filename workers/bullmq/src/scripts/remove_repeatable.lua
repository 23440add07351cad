--[[
  Removes a repeatable by key: its pending job (if still delayed), its zset member and hash.
  KEYS: 1 repeat, 2 delayed, 3 events
  ARGV: 1 key, 2 key prefix
  Returns 1 removed, 0 no such repeatable.
]]
local rcall = redis.call
local millis = rcall("ZSCORE", KEYS[1], ARGV[1])
if millis then
  local jobId = "repeat:" .. ARGV[1] .. ":" .. millis
  if rcall("ZREM", KEYS[2], jobId) == 1 then
    local k = ARGV[2] .. jobId
    rcall("DEL", k, k .. ":logs")
    rcall("XADD", KEYS[3], "*", "event", "removed", "jobId", jobId, "prev", "delayed")
  end
end
rcall("ZREM", KEYS[1], ARGV[1])
local existed = rcall("DEL", ARGV[2] .. "repeat:" .. ARGV[1])
if millis or existed == 1 then return 1 end
return 0
