--[[
  Registers a legacy repeatable: the repeat zset scores it by its next run, its hash holds the
  definition. The first job is added by add_job. (shared/specs/bullmq-v5.md 6.1, 6.2)
  KEYS: 1 repeat, 2 repeat:<key>
  ARGV: 1 next millis, 2 key, 3 name, 4 pattern or "", 5 every or "", 6 tz or "", 7 endDate or ""
]]
local rcall = redis.call
rcall("ZADD", KEYS[1], ARGV[1], ARGV[2])
local fields = { "name", ARGV[3] }
if ARGV[6] ~= "" then table.insert(fields, "tz"); table.insert(fields, ARGV[6]) end
if ARGV[4] ~= "" then table.insert(fields, "pattern"); table.insert(fields, ARGV[4]) end
if ARGV[7] ~= "" then table.insert(fields, "endDate"); table.insert(fields, ARGV[7]) end
if ARGV[5] ~= "" then table.insert(fields, "every"); table.insert(fields, ARGV[5]) end
rcall("HMSET", KEYS[2], unpack(fields))
return 0
