--[[
  Removes a job from whatever state it is in, with its sub-keys and deduplication slot;
  refuses a locked (running) job. (shared/specs/bullmq-v5.md 5)
  KEYS: 1 key prefix
  ARGV: 1 job id
  Returns 1 removed, 0 locked, -1 no such job.
]]
local rcall = redis.call
local prefix, id = KEYS[1], ARGV[1]
local jobKey = prefix .. id
if rcall("EXISTS", jobKey) == 0 then return -1 end
if rcall("EXISTS", jobKey .. ":lock") == 1 then return 0 end
local prev = "unknown"
for _, list in ipairs({ "wait", "paused", "active" }) do
  if rcall("LREM", prefix .. list, 0, id) > 0 then prev = list end
end
for _, set in ipairs({ "delayed", "prioritized", "completed", "failed", "waiting-children" }) do
  if rcall("ZREM", prefix .. set, id) > 0 then prev = set end
end
local deid = rcall("HGET", jobKey, "deid")
if deid and rcall("GET", prefix .. "de:" .. deid) == id then
  rcall("DEL", prefix .. "de:" .. deid)
end
rcall("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed", jobKey .. ":failed", jobKey .. ":unsuccessful")
rcall("XADD", prefix .. "events", "*", "event", "removed", "jobId", id, "prev", prev)
return 1
