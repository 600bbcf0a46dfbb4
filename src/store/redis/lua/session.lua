-- A session showed activity or ended. ARGV: 'touch', session id, expiry (s) — extends an
-- existing session, never shortens it, returns 0; or 'end', session id, now (s), bound (s),
-- channel — returns 1 if it was active.
-- An ended session is revoked on every node: its id and when its last pass expires (the
-- later of its recorded expiry and `bound`, which no pass of it outlives) are added to
-- REVOKED (trimmed of what has expired) and published on `channel`. Always, even for a
-- session Redis no longer counts: a node may still hold a live pass for it.
local op, session = ARGV[1], ARGV[2]
if op == 'touch' then
  redis.call('ZADD', SESSIONS, 'XX', 'GT', ARGV[3], session)
  return 0
end
local now, bound, channel = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local last = max(bound, tonumber(redis.call('ZSCORE', SESSIONS, session)) or 0)
local was = redis.call('ZREM', SESSIONS, session)
redis.call('ZREMRANGEBYSCORE', REVOKED, '-inf', '(' .. id(now))
redis.call('ZADD', REVOKED, 'GT', id(last), session)
redis.call('PUBLISH', channel, session .. ' ' .. id(last))
return was
