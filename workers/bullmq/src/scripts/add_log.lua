--[[
  Appends a line to a job's log, keeping the last `keep` lines when set.
  KEYS: 1 job key, 2 job logs key
  ARGV: 1 line, 2 keep (0 = all)
  Returns the number of lines, or -1 when the job is gone.
]]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
local n = redis.call("RPUSH", KEYS[2], ARGV[1])
local keep = tonumber(ARGV[2])
if keep > 0 and n > keep then
  redis.call("LTRIM", KEYS[2], -keep, -1)
  return keep
end
return n
