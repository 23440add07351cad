--[[
  Counts jobs per state, atomically, as Node's getJobCounts does: list lengths for wait,
  paused and active (a legacy "0:*" marker at the tail of wait or paused is not a job),
  zset cardinalities for the rest.

  KEYS: 1 key prefix ("bull:q:")
  ARGV: the state names
]]
local rcall = redis.call
local out = {}
for i, state in ipairs(ARGV) do
  local key = KEYS[1] .. (state == "waiting" and "wait" or state)
  if state == "waiting" or state == "paused" or state == "active" then
    local n = rcall("LLEN", key)
    if state ~= "active" and n > 0 then
      local tail = rcall("LINDEX", key, -1)
      if tail and string.sub(tail, 1, 2) == "0:" then
        n = n - 1
      end
    end
    out[i] = n
  else
    out[i] = rcall("ZCARD", key)
  end
end
return out
