--[[
  The "is this still my job?" step, shared by move_to_finished.lua and retry_job.lua. Prepended
  at load time. (shared/specs/bullmq-v5.md)

  With token "0" (a forced finish) the lock is not checked. Otherwise the job's lock must hold
  the worker's token; it is then released and the job leaves the stalled set.
  Returns 0, or -1 job missing, -2 lock missing, -6 lock owned by another.
]]
local function releaseLock(jobKey, id, token, stalledKey)
  if redis.call("EXISTS", jobKey) == 0 then
    return -1
  end
  if token ~= "0" then
    local lock = redis.call("GET", jobKey .. ":lock")
    if lock ~= token then
      if lock then return -6 end
      return -2
    end
    redis.call("DEL", jobKey .. ":lock")
    redis.call("SREM", stalledKey, id)
  end
  return 0
end
