--[[
  Produces the next iteration of a repeatable when its current one is taken by a worker.
  Idempotent: only the current iteration (id repeat:<key>:<score>) produces, and only once.
  Serves legacy repeatables and job schedulers alike, as Node 5.67's worker does.
  (shared/specs/bullmq-v5.md 6.3)

  KEYS: 1 repeat, 2 delayed, 3 id, 4 events, 5 meta, 6 marker
  ARGV: 1 next millis, 2 key, 3 data JSON, 4 opts (msgpack), 5 now, 6 key prefix,
        7 producer job id
  Returns the new job id, or "" when nothing was produced.
]]
local rcall = redis.call
local prefix, key, now = ARGV[6], ARGV[2], tonumber(ARGV[5])
local prev = rcall("ZSCORE", KEYS[1], key)
if not prev then
  return "" -- the repeatable was removed
end
local defKey = prefix .. "repeat:" .. key
local next = tonumber(ARGV[1])
local opts = cmsgpack.unpack(ARGV[4])
local repeatOpts = type(opts["repeat"]) == "table" and opts["repeat"] or {}
-- `every` schedules are computed here, from the stored slot: the previous run plus the period,
-- or the first slot (plus the definition's offset) after now when runs were missed.
local every = tonumber(rcall("HGET", defKey, "every")) or tonumber(repeatOpts["every"])
if every then
  local offset = tonumber(rcall("HGET", defKey, "offset")) or tonumber(repeatOpts["offset"]) or 0
  next = tonumber(prev) + every
  if next < now then
    next = math.floor(now / every) * every + every + offset
  end
  -- As Node: the client's guess of the run time is not kept for every schedules.
  opts["prevMillis"] = nil
end
if ARGV[7] ~= "repeat:" .. key .. ":" .. prev then
  return ""
end
local jobId = "repeat:" .. key .. ":" .. next
local jobKey = prefix .. jobId
local maxEvents = rcall("HGET", KEYS[5], "opts.maxLenEvents") or 10000
if rcall("EXISTS", jobKey) == 1 then
  rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "duplicated", "jobId", jobId)
  return ""
end
rcall("ZADD", KEYS[1], next, key)
rcall("HINCRBY", defKey, "ic", 1)
rcall("INCR", KEYS[3])
local data = rcall("HGET", defKey, "data")
if not data then
  data = ARGV[3]
  if data ~= "{}" then
    rcall("HSET", defKey, "data", data)
  end
end
local name = rcall("HGET", defKey, "name")
local delay = math.max(0, next - now)
opts["delay"] = delay
opts["jobId"] = jobId
rcall("HMSET", jobKey, "name", name, "data", data, "opts", cjson.encode(opts), "timestamp", now, "delay", delay,
  "priority", tonumber(opts["priority"]) or 0, "rjk", key)
rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "added", "jobId", jobId, "name", name)
addDelayed(KEYS[2], KEYS[6], jobId, next)
rcall("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "delayed", "jobId", jobId, "delay", next)
rcall("HSET", prefix .. ARGV[7], "nrjid", jobId)
return jobId
