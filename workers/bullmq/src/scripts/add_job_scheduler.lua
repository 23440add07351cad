--[[
  Creates or replaces a job scheduler (Node's upsertJobScheduler) up to its first job, which
  the caller then adds with the returned id and delay (shared/specs/bullmq-v5.md 6.1, 6.4):
  the pending job of the previous definition is removed while it has not started, `every`
  schedules keep their slot unless `every` changed, and the hash is rewritten keeping its
  iteration count and offset.

  KEYS: 1 repeat, 2 delayed, 3 prioritized, 4 wait, 5 paused, 6 meta, 7 events
  ARGV: 1 scheduler id, 2 next millis (a pattern's, computed by the caller; ignored for
        every), 3 every or "", 4 start date or "", 5 now, 6 key prefix ("bull:q:"),
        7 template opts (msgpack map), 8 template data JSON or "",
        9.. the definition's fields and values (name first)
  Returns {job id, next millis, delay}, or -10 when a pattern's next job id is taken by a job
  that has started, or -11 when an every schedule finds its next two slots taken.
]]
local rcall = redis.call
local id, now, prefix = ARGV[1], tonumber(ARGV[5]), ARGV[6]
local schedulerKey = KEYS[1] .. ":" .. id
local every = tonumber(ARGV[3])
local startDate = tonumber(ARGV[4])
local prev = tonumber(rcall("ZSCORE", KEYS[1], id))
local nextMillis = tonumber(ARGV[2])
local newOffset = 0
local everyChanged = false

if every then
  local from = prev
  if prev and tonumber(rcall("HGET", schedulerKey, "every")) ~= every then
    from = nil
    everyChanged = true
  end
  if not from then
    nextMillis = now
    if startDate and startDate > now then nextMillis = startDate end
  else
    nextMillis = from + every
    if nextMillis < now then
      nextMillis = math.floor(now / every) * every + every
    end
  end
  newOffset = nextMillis - math.floor(nextMillis / every) * every
end

-- The previous definition's job goes if it has not started.
local removedPrev = false
if prev then
  local prevId = "repeat:" .. id .. ":" .. prev
  local prevKey = prefix .. prevId
  local paused = rcall("HEXISTS", KEYS[6], "paused") == 1
  if rcall("EXISTS", prevKey) == 1 and (rcall("ZREM", KEYS[2], prevId) == 1 or rcall("ZREM", KEYS[3], prevId) == 1
      or rcall("LREM", paused and KEYS[5] or KEYS[4], 1, prevId) > 0) then
    rcall("DEL", prevKey, prevKey .. ":logs")
    removedPrev = true
  end
end
local keepOffset = false
if removedPrev then
  keepOffset = true
  if every and not everyChanged then nextMillis = prev end
end

local jobId = "repeat:" .. id .. ":" .. nextMillis
if rcall("EXISTS", prefix .. jobId) == 1 then
  if every then
    nextMillis = nextMillis + every
    jobId = "repeat:" .. id .. ":" .. nextMillis
    if rcall("EXISTS", prefix .. jobId) == 1 then return -11 end
  elseif not removedPrev then
    return -10
  end
end

-- The definition: its fields in Node's order, the offset, the template, the count so far.
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
local offset = nil
if not keepOffset then offset = newOffset end
if offset == nil then offset = tonumber(rcall("HGET", schedulerKey, "offset")) end
if offset ~= nil then
  fields[#fields + 1] = "offset"
  fields[#fields + 1] = offset
end
-- Encoded here, as Node's definition is, so that both write the same bytes.
local templateOpts = cjson.encode(cmsgpack.unpack(ARGV[7]))
if templateOpts ~= "{}" then
  fields[#fields + 1] = "opts"
  fields[#fields + 1] = templateOpts
end
if ARGV[8] ~= "" and ARGV[8] ~= "{}" then
  fields[#fields + 1] = "data"
  fields[#fields + 1] = ARGV[8]
end
fields[#fields + 1] = "ic"
fields[#fields + 1] = rcall("HGET", schedulerKey, "ic") or 1
rcall("DEL", schedulerKey)
rcall("HSET", schedulerKey, unpack(fields))
rcall("ZADD", KEYS[1], nextMillis, id)
local delay = nextMillis - now
if delay < 0 then delay = 0 end
return {jobId, nextMillis, delay}
