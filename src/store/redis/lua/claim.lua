-- A called visitor comes in (Room::claim). ARGV: now_ms, place, session id.
-- Returns 1 if the call became a session, 0 if the place was not (or no longer) called.
if not init({ 'c_session_idle_ms', 'admitted_total' }) then
  return NOINIT
end
local now_ms, place, session = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if redis.call('HGET', STATE, id(place)) ~= 'c' then
  return 0
end
redis.call('HSET', STATE, id(place), 'a')
redis.call('ZREM', CALLED, id(place))
open_session(session, floor(now_ms / 1000))
save_meta()
return 1
