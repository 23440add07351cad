--[[
  Adds one job: standard (wait or paused list, LPUSH, RPUSH when lifo), delayed (delayed
  zset, score readyAt*4096+k) or prioritized (prioritized zset, score priority*2^32+pc),
  with the custom-id duplicate rule and simple deduplication. Written for tpctl from the
  BullMQ v5 layout description (shared/specs/bullmq-v5.md sections 1 and 3).

  KEYS: 1 wait, 2 paused, 3 meta, 4 id, 5 delayed, 6 prioritized, 7 pc, 8 marker, 9 events,
        10 active
  ARGV: 1 key prefix ("bull:q:"), 2 custom id or "", 3 name, 4 timestamp (ms),
        5 data (JSON), 6 opts (msgpack map), 7 repeat job key or ""
  Returns the job id (the existing one for a duplicate id or a deduplicated add).
]]
local rcall = redis.call
local prefix = ARGV[1]
local opts = cmsgpack.unpack(ARGV[6])
local counter = rcall("INCR", KEYS[4])

local maxEvents = rcall("HGET", KEYS[3], "opts.maxLenEvents")
if not maxEvents then
  maxEvents = 10000
  rcall("HSET", KEYS[3], "opts.maxLenEvents", maxEvents)
end
local function event(...)
  rcall("XADD", KEYS[9], "MAXLEN", "~", maxEvents, "*", "event", ...)
end

local jobId = ARGV[2]
if jobId == "" then
  jobId = tostring(counter)
elseif rcall("EXISTS", prefix .. jobId) == 1 then
  event("duplicated", "jobId", jobId)
  return jobId
end
local jobKey = prefix .. jobId

local dedupId = nil
if type(opts["de"]) == "table" and opts["de"]["id"] then
  dedupId = tostring(opts["de"]["id"])
  local dedupKey = prefix .. "de:" .. dedupId
  local ttl = tonumber(opts["de"]["ttl"])
  local taken
  if ttl and ttl > 0 then
    taken = rcall("SET", dedupKey, jobId, "PX", ttl, "NX")
  else
    taken = rcall("SET", dedupKey, jobId, "NX")
  end
  if not taken then
    local holder = rcall("GET", dedupKey)
    event("debounced", "jobId", holder, "debounceId", dedupId)
    event("deduplicated", "jobId", holder, "deduplicationId", dedupId, "deduplicatedJobId", jobId)
    return holder
  end
end

local delay = tonumber(opts["delay"]) or 0
local priority = tonumber(opts["priority"]) or 0
local timestamp = tonumber(ARGV[4])
local fields = { "name", ARGV[3], "data", ARGV[5], "opts", cjson.encode(opts), "timestamp", ARGV[4],
  "delay", delay, "priority", priority }
if dedupId then
  table.insert(fields, "deid")
  table.insert(fields, dedupId)
end
if ARGV[7] ~= "" then
  table.insert(fields, "rjk")
  table.insert(fields, ARGV[7])
end
rcall("HMSET", jobKey, unpack(fields))
event("added", "jobId", jobId, "name", ARGV[3])

local paused = rcall("HEXISTS", KEYS[3], "paused") == 1
local maxed = false
local concurrency = rcall("HGET", KEYS[3], "concurrency")
if concurrency then
  maxed = rcall("LLEN", KEYS[10]) >= tonumber(concurrency)
end

if delay > 0 then
  local readyAt = timestamp + delay
  addDelayed(KEYS[5], KEYS[8], jobId, readyAt)
  event("delayed", "jobId", jobId, "delay", readyAt)
  return jobId
end

if priority > 0 then
  local pc = rcall("INCR", KEYS[7])
  rcall("ZADD", KEYS[6], priority * 4294967296 + (pc % 4294967296), jobId)
else
  local target = KEYS[1]
  if paused then
    target = KEYS[2]
  end
  if opts["lifo"] then
    rcall("RPUSH", target, jobId)
  else
    rcall("LPUSH", target, jobId)
  end
end
if not paused and not maxed then
  rcall("ZADD", KEYS[8], 0, "0")
end
event("waiting", "jobId", jobId)
return jobId
