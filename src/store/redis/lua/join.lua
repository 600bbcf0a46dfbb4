-- A visitor arrives (Room::join). ARGV: now_ms, session id, draw seed.
-- Returns { 0 } admitted (session opened), { 1, place } queued, { 2, entry } pre-queued,
-- { 3 } closed.
if not init({ 'o_mode', 'o_ev_start', 'c_ev_start', 'c_ev_pre', 'c_ev_end', 'refilled_ms', 'tokens',
  'c_new_per_minute', 'o_new_per_minute', 'draw_seed', 'draw_base', 'prequeue_len', 'len' }) then
  return NOINIT
end
local now_ms, session, seed = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local now = floor(now_ms / 1000)
refill(now_ms)
local ev = S.event
local reply
if ev and (now < ev.pre or (ev.stop and now >= ev.stop)) then
  reply = { 3 }
elseif ev and now < ev.start and S.mode ~= 'closed' then
  -- The draw's seed is picked now, so each entry's key (and so its place in the
  -- draw) is fixed, and visitors can be told to come back in draw order.
  if not M.draw_seed then
    put('draw_seed', seed)
  end
  local entry = num('prequeue_len', 0)
  put('prequeue_len', entry + 1)
  reply = { 2, entry }
else
  if ev then
    draw_if_due(now, seed)
  end
  if S.mode == 'closed' then
    reply = { 3 }
  elseif S.mode == 'open' then
    open_session(session, now)
    reply = { 0 }
  elseif S.mode == 'auto'
    and redis.call('ZCARD', WAITING) == 0
    and redis.call('LLEN', RECALL) == 0
    and S.max_active - redis.call('ZCARD', SESSIONS) - redis.call('ZCARD', CALLED) > 0
    and num('tokens', 0) >= 1 then
    put('tokens', num('tokens', 0) - 1)
    note_calls(now, 1)
    open_session(session, now)
    reply = { 0 }
  else
    reply = { 1, line_join(now) }
  end
end
save_meta()
return reply
