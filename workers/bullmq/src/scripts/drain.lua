--[[
  Removes every waiting job (wait, paused, prioritized, and delayed when asked), sparing the
  pending run of each repeatable. (shared/specs/bullmq-v5.md 5)
  KEYS: 1 key prefix
  ARGV: 1 "1" to drain delayed jobs too
  Returns the number removed.
]]
local rcall = redis.call
local prefix = KEYS[1]
local keep = {}
for _, member in ipairs(rcall("ZRANGE", prefix .. "repeat", 0, -1, "WITHSCORES")) do
  keep[#keep + 1] = member
end
local pending = {}
for i = 1, #keep, 2 do
  pending["repeat:" .. keep[i] .. ":" .. keep[i + 1]] = true
end
local n = 0
local function drop(id)
  local jobKey = prefix .. id
  rcall("DEL", jobKey, jobKey .. ":logs")
  n = n + 1
end
for _, list in ipairs({ "wait", "paused" }) do
  for _, id in ipairs(rcall("LRANGE", prefix .. list, 0, -1)) do
    if not pending[id] then
      rcall("LREM", prefix .. list, 0, id)
      drop(id)
    end
  end
end
local sets = { "prioritized" }
if ARGV[1] == "1" then table.insert(sets, "delayed") end
for _, set in ipairs(sets) do
  for _, id in ipairs(rcall("ZRANGE", prefix .. set, 0, -1)) do
    if not pending[id] then
      rcall("ZREM", prefix .. set, id)
      drop(id)
    end
  end
end
return n
