--[[
  Takes the next job for a worker (the work is in move_to_active_fn.lua): promotes due delayed jobs, honours the rate limit and a
  paused or maxed queue, takes from wait (FIFO from the tail) before prioritized, locks it,
  records the activation and wakes the next worker. (shared/specs/bullmq-v5.md 4.2)

  KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 limiter, 6 delayed, 7 paused, 8 meta,
        9 pc, 10 marker
  ARGV: 1 key prefix, 2 now (ms), 3 token, 4 lockDuration (ms), 5 limiter max or "",
        6 limiter duration or "", 7 worker name or ""
  Returns { flat job hash | 0, job id | 0, rate-limit delay ms, next delayed ms }.
]]
return moveToActive(
  { wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], limiter = KEYS[5],
    delayed = KEYS[6], paused = KEYS[7], meta = KEYS[8], pc = KEYS[9], marker = KEYS[10] },
  { prefix = ARGV[1], now = ARGV[2], token = ARGV[3], lockDuration = ARGV[4], max = ARGV[5],
    duration = ARGV[6], name = ARGV[7] })
