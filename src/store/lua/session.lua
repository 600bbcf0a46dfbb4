-- A session showed activity or ended. ARGV: 'touch', session id, expiry (s) — extends an
-- existing session, never shortens it, returns 0; or 'end', session id — returns 1 if it
-- was active.
local op, session = ARGV[1], ARGV[2]
if op == 'touch' then
  redis.call('ZADD', SESSIONS, 'XX', 'GT', ARGV[3], session)
  return 0
end
return redis.call('ZREM', SESSIONS, session)
