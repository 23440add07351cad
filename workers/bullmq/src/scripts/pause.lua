--[[
  Pauses or resumes a queue. Pause renames wait to paused, sets meta.paused and deletes the
  marker; resume renames paused back, clears meta.paused and sets the marker when jobs are
  ready (else the delayed marker).

  KEYS: 1 wait, 2 paused, 3 meta, 4 prioritized, 5 events, 6 delayed, 7 marker
  ARGV: 1 "paused" or "resumed"
]]
local rcall = redis.call
local maxEvents = rcall("HGET", KEYS[3], "opts.maxLenEvents") or 10000
if ARGV[1] == "paused" then
  if rcall("EXISTS", KEYS[1]) == 1 then
    rcall("RENAME", KEYS[1], KEYS[2])
  end
  rcall("HSET", KEYS[3], "paused", 1)
  rcall("DEL", KEYS[7])
else
  local moved = false
  if rcall("EXISTS", KEYS[2]) == 1 then
    rcall("RENAME", KEYS[2], KEYS[1])
    moved = true
  end
  rcall("HDEL", KEYS[3], "paused")
  if moved or rcall("ZCARD", KEYS[4]) > 0 then
    rcall("ZADD", KEYS[7], 0, "0")
  else
    local first = rcall("ZRANGE", KEYS[6], 0, 0, "WITHSCORES")
    if #first > 0 then
      rcall("ZADD", KEYS[7], math.floor(tonumber(first[2]) / 4096), "1")
    end
  end
end
rcall("XADD", KEYS[5], "MAXLEN", "~", maxEvents, "*", "event", ARGV[1])
return 0
