--[[
  Renews a job's lock if this worker still owns it. (shared/specs/bullmq-v5.md 4.4)
  KEYS: 1 lock key, 2 stalled set
  ARGV: 1 token, 2 lockDuration (ms), 3 job id
  Returns 1 renewed, 0 lost.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  redis.call("SREM", KEYS[2], ARGV[3])
  return 1
end
return 0
