-- Runs admission (Room::tick) under a lease: only the node holding it calls anyone.
-- ARGV: now_ms, node id, lease ms, draw seed, sweep budget.
-- Returns { 0 } when another node holds the lease, else { 1, places called… }.
local now_ms, node, lease_ms, seed, sweep_budget =
  tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if not redis.call('SET', LEASE, node, 'NX', 'PX', lease_ms) then
  if redis.call('GET', LEASE) ~= node then
    return { 0 }
  end
  redis.call('PEXPIRE', LEASE, lease_ms)
end
if not init({ 'o_mode', 'o_max_active', 'c_max_active', 'o_new_per_minute', 'c_new_per_minute',
  'c_claim_window_ms', 'c_abandon_after_ms', 'o_ev_start', 'c_ev_start', 'c_ev_pre', 'c_ev_end',
  'refilled_ms', 'tokens', 'draw_base', 'head', 'calls_n', 'lapsed_total', 'abandoned_total' }) then
  return NOINIT
end
local now = floor(now_ms / 1000)
local out = { 1 }
refill(now_ms)
draw_if_due(now, seed)
local ev = S.event
if ev and (now < ev.start or (ev.stop and now >= ev.stop)) then
  save_meta()
  return out
end
redis.call('ZREMRANGEBYSCORE', SESSIONS, '-inf', '(' .. id(now))

-- Calls not claimed in time lapse (recallable for the recall window).
local lapsed = redis.call('ZRANGEBYSCORE', CALLED, '-inf', '(' .. id(now))
local states = {}
for _, p in ipairs(lapsed) do
  states[#states + 1] = p
  states[#states + 1] = 'x' .. id(now)
end
chunked('ZREM', CALLED, lapsed)
put('lapsed_total', num('lapsed_total', 0) + #lapsed)

-- Waiting visitors who stopped polling are skipped (recallable too).
local stale_before = max(0, now - S.abandon)
local stale = redis.call('ZRANGEBYSCORE', SEEN, '-inf', '(' .. id(stale_before),
  'LIMIT', 0, sweep_budget)
for _, p in ipairs(stale) do
  states[#states + 1] = p
  states[#states + 1] = 's' .. id(now)
end
chunked('ZREM', WAITING, stale)
chunked('ZREM', SEEN, stale)
local abandoned = #stale

local function finish()
  chunked('HSET', STATE, states)
  put('abandoned_total', num('abandoned_total', 0) + abandoned)
  save_meta()
  return out
end

if S.mode == 'paused' or S.mode == 'closed' then
  return finish()
end
local budget = S.npm == 0 and UNLIMITED or max(0, floor(num('tokens', 0)))
local free = max(0, S.max_active - redis.call('ZCARD', SESSIONS) - redis.call('ZCARD', CALLED))
local n = min(free, budget)
local deadline = now + S.claim
local called = {}
local function call(p)
  states[#states + 1] = p
  states[#states + 1] = 'c'
  called[#called + 1] = deadline
  called[#called + 1] = p
  out[#out + 1] = tonumber(p)
end
-- The recall lane first, then the head of the line.
while #out - 1 < n do
  local p = redis.call('LPOP', RECALL)
  if not p then
    break
  end
  call(p)
end
local head = num('head', 0)
-- Skips on the way are bounded like the sweep, so one script never blocks Redis long
-- (the rest are skipped at the next ticks).
local skip_budget = abandoned + sweep_budget
while #out - 1 < n and abandoned < skip_budget do
  local popped = redis.call('ZPOPMIN', WAITING, min(n - (#out - 1), 1000))
  if #popped == 0 then
    break
  end
  for i = 1, #popped, 2 do
    local p = popped[i]
    head = max(head, tonumber(p) + 1)
    local seen = tonumber(redis.call('ZSCORE', SEEN, p)) or now
    redis.call('ZREM', SEEN, p)
    if seen < stale_before then
      states[#states + 1] = p
      states[#states + 1] = 's' .. id(now)
      abandoned = abandoned + 1
    else
      call(p)
    end
  end
end
put('head', head)
chunked('ZADD', CALLED, called)
local k = #out - 1
if S.npm > 0 then
  put('tokens', num('tokens', 0) - k)
end
note_calls(now, k)
return finish()
