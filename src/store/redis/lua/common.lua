-- Shared by every usher script: src/store/redis/mod.rs puts this file in front of each one.
-- The same Lua runs on every node, atomically, so several proxies see one fair line.
-- Times: `now` is Unix seconds, `now_ms` Unix milliseconds (given by the calling node).
--
-- KEYS, in this order, all under one hash tag per room:
--   1 meta      hash: counters, token bucket, totals, pre-queue, configured settings (c_*)
--               and operator overrides (o_*)
--   2 waiting   zset place → place: the live line, so ZRANK is the exact `ahead`
--   3 seen      zset place → last poll (s): the abandonment sweep is a range query
--   4 called    zset place → claim deadline (s)
--   5 recall    list of places: the recall lane, served before the line
--   6 state     hash place → what became of a place that is not waiting:
--               c called, r recalled, a admitted, l left, s<t> skipped at t, x<t> lapsed at t
--   7 sessions  zset session id → expiry (s)
--   8 calls     list "<second>:<count>": calls of the last minute, for the ETA
--   9 lease     string: the node that runs admission (SET NX PX)
--  10 revoked   zset session id → when its last pass expires (s): sessions ended on any
--               node, read by a node catching up after its subscription was down
local META, WAITING, SEEN, CALLED, RECALL, STATE, SESSIONS, CALLS, LEASE, REVOKED =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local floor, max, min = math.floor, math.max, math.min
-- "No rate limit" (the memory room's f64::MAX).
local UNLIMITED = 1e300
local MODES = { open = true, auto = true, queue = true, paused = true, closed = true }

-- M: the meta fields this run has read or written. A field is fetched when first used
-- (HGET; false when absent) and kept for the rest of the run; `init` fetches the ones a
-- script always needs in one HMGET. A status poll so reads the handful it needs instead of
-- HGETALL of the whole hash (counters, totals, every setting) and a table built from it.
local M = setmetatable({}, {
  __index = function(t, k)
    local v = redis.call('HGET', META, k)
    rawset(t, k, v)
    return v
  end,
})
local dirty = {}

-- An integer as a member or field name (never in exponent notation).
local function id(n)
  return string.format('%d', n)
end

local function num(k, default)
  local v = M[k]
  if not v or v == '' then
    return default
  end
  return tonumber(v)
end

local function put(k, v)
  M[k] = v
  dirty[k] = true
end

local function save_meta()
  local set, del = {}, {}
  for k in pairs(dirty) do
    local v = M[k]
    if not v then
      del[#del + 1] = k
    else
      set[#set + 1] = k
      set[#set + 1] = type(v) == 'number' and string.format('%.17g', v) or v
    end
  end
  if #set > 0 then
    redis.call('HSET', META, unpack(set))
  end
  if #del > 0 then
    redis.call('HDEL', META, unpack(del))
  end
  dirty = {}
end

-- Runs `cmd key items…` in chunks (Lua's unpack has a limit); pairs stay aligned.
local function chunked(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, min(#items, i + 999)))
  end
end

-- A setting in force: the configured one with the operator's override on top. (One
-- function, not a table of them: every closure made here is made again on every call.)
local function setting(k)
  if k == 'mode' then
    local o = M.o_mode
    return (o and MODES[o]) and o or M.c_mode
  elseif k == 'npm' then
    return num('o_new_per_minute', num('c_new_per_minute', 0))
  elseif k == 'max_active' then
    return num('o_max_active', num('c_max_active', 0))
  elseif k == 'event' then
    -- { pre, start, stop } of the scheduled sale, or false.
    local p = M.o_ev_start and 'o_ev_' or 'c_ev_'
    local start = num(p .. 'start', nil)
    return start and { pre = num(p .. 'pre', 0), start = start, stop = num(p .. 'end', nil) }
      or false
  end
  -- Durations, configured in ms, used in whole seconds.
  local field = ({ idle = 'c_session_idle_ms', claim = 'c_claim_window_ms',
    abandon = 'c_abandon_after_ms', recall = 'c_recall_window_ms' })[k]
  return floor(num(field, 0) / 1000)
end

-- S: the settings in force, each worked out on first use (so from the fields it needs) and
-- kept until `forget_settings`.
local S = setmetatable({}, {
  __index = function(t, k)
    local v = setting(k)
    rawset(t, k, v)
    return v
  end,
})

-- Forgets the settings worked out so far (the fields changed); false when the room's
-- settings were never pushed (or were lost).
local function forget_settings()
  for k in pairs(S) do
    S[k] = nil
  end
  return M.c_mode and true or false
end

-- Fetches `fields` of meta in one round (the ones the script always reads); false when the
-- room's settings were never pushed (or were lost).
local function init(fields)
  local vals = redis.call('HMGET', META, 'c_mode', unpack(fields))
  rawset(M, 'c_mode', vals[1])
  for i, f in ipairs(fields) do
    rawset(M, f, vals[i + 1])
  end
  return forget_settings()
end

local NOINIT = { err = 'NOINIT room settings missing' }

-- Admissions that may happen back to back: one second's worth, at least one.
local function burst()
  return max(1, S.npm / 60)
end

local function refill(now_ms)
  local at = num('refilled_ms', now_ms)
  local elapsed = max(0, now_ms - at)
  put('refilled_ms', max(at, now_ms))
  if S.npm == 0 then
    put('tokens', UNLIMITED)
    return
  end
  local tokens = num('tokens', burst())
  if tokens >= UNLIMITED then
    tokens = burst()
  end
  put('tokens', min(tokens + elapsed * (S.npm / 60000), burst()))
end

local function parse_call(entry)
  local t, c = string.match(entry, '^(%d+):(%d+)$')
  return tonumber(t), tonumber(c)
end

-- Notes `k` calls at `now`; forgets those older than a minute.
local function note_calls(now, k)
  if k == 0 then
    return
  end
  local last = redis.call('LINDEX', CALLS, -1)
  local t, c = nil, 0
  if last then
    t, c = parse_call(last)
  end
  if t == now then
    redis.call('LSET', CALLS, -1, id(now) .. ':' .. id(c + k))
  else
    redis.call('RPUSH', CALLS, id(now) .. ':' .. id(k))
  end
  local n = num('calls_n', 0) + k
  while true do
    local first = redis.call('LINDEX', CALLS, 0)
    if not first then
      break
    end
    local ft, fc = parse_call(first)
    if ft + 60 >= now then
      break
    end
    redis.call('LPOP', CALLS)
    n = n - fc
  end
  put('calls_n', n)
end

-- { calls in the last minute, time of the first (-1: none), configured rate }.
local function rate()
  local first = redis.call('LINDEX', CALLS, 0)
  local t = first and parse_call(first) or -1
  return num('calls_n', 0), t, S.npm
end

local function open_session(session, now)
  redis.call('ZADD', SESSIONS, now + S.idle, session)
  put('admitted_total', num('admitted_total', 0) + 1)
end

local function wait_at(p, now)
  redis.call('ZADD', WAITING, p, id(p))
  redis.call('ZADD', SEEN, now, id(p))
end

-- A new place at the back of the line.
local function line_join(now)
  local p = num('len', 0)
  put('len', p + 1)
  wait_at(p, now)
  return p
end

-- 'w' waiting, a state string (see KEYS above), or nil: never handed out here.
local function slot(p)
  if redis.call('ZSCORE', WAITING, id(p)) then
    return 'w'
  end
  return redis.call('HGET', STATE, id(p)) or nil
end

-- The pre-queue draw, once the start has come: its entries get the next places in line
-- (their order is the permutation of the seed, computed by each node in Rust).
local function draw_if_due(now, seed)
  local ev = S.event
  if not ev or M.draw_base or now < ev.start then
    return
  end
  if not M.draw_seed then
    put('draw_seed', seed)
  end
  local base, n = num('len', 0), num('prequeue_len', 0)
  local w, s = {}, {}
  for p = base, base + n - 1 do
    w[#w + 1] = p
    w[#w + 1] = id(p)
    s[#s + 1] = now
    s[#s + 1] = id(p)
  end
  chunked('ZADD', WAITING, w)
  chunked('ZADD', SEEN, s)
  put('len', base + n)
  put('draw_base', base)
  put('draw_n', n)
end
