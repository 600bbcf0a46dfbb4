-- A ticket holder polls (Room::poll). ARGV: now_ms, place, restore slack.
-- Returns { 0 waiting | 1 paused, ahead, behind, calls, first call, rate } or { 2 } called,
-- { 3 } admitted, { 4 } closed, { 5 } gone.
if not init({ 'o_mode', 'calls_n', 'c_new_per_minute', 'o_new_per_minute' }) then
  return NOINIT
end
local now_ms, place, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = floor(now_ms / 1000)
if S.mode == 'closed' then
  return { 4 }
end
-- ZRANK answers both "is it waiting?" and "how many ahead?" in one call (the common case).
local ahead = redis.call('ZRANK', WAITING, id(place))
local st = ahead and 'w' or redis.call('HGET', STATE, id(place)) or nil
local len = not st and num('len', 0)
if not st and place < len + slack then
  -- A ticket for a place this Redis does not know (it lost data): put its holder back at
  -- the same place if the line has not passed it, else as a recall candidate.
  put('len', max(len, place + 1))
  if place >= num('head', 0) then
    wait_at(place, now)
    st = 'w'
  else
    st = 's' .. id(now)
    redis.call('HSET', STATE, id(place), st)
  end
end
if st then
  local kind, at = string.sub(st, 1, 1), tonumber(string.sub(st, 2))
  if (kind == 's' or kind == 'x') and now <= at + S.recall then
    st = 'r'
    redis.call('HSET', STATE, id(place), st)
    redis.call('RPUSH', RECALL, id(place))
    put('recalled_total', num('recalled_total', 0) + 1)
  end
end
save_meta()
local paused = S.mode == 'paused' and 1 or 0
if st == 'w' then
  redis.call('ZADD', SEEN, 'GT', now, id(place))
  ahead = ahead or redis.call('ZRANK', WAITING, id(place))
  local behind = redis.call('ZCARD', WAITING) - ahead - 1
  return { paused, ahead, behind, rate() }
elseif st == 'r' then
  -- In the recall lane: nobody of the line is in front, and it pushes nobody back.
  return { paused, 0, redis.call('ZCARD', WAITING), rate() }
elseif st == 'c' then
  return { 2 }
elseif st == 'a' then
  return { 3 }
end
return { 5 }
