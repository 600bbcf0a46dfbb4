-- A waiting, recalled or called visitor gives up the place (Room::leave). ARGV: place.
-- Returns 1 if the place was given up, 0 if it was not live.
local place = tonumber(ARGV[1])
local st = slot(place)
if st == 'w' then
  redis.call('ZREM', WAITING, id(place))
  redis.call('ZREM', SEEN, id(place))
elseif st == 'c' then
  redis.call('ZREM', CALLED, id(place))
elseif st == 'r' then
  redis.call('LREM', RECALL, 0, id(place))
else
  return 0
end
redis.call('HSET', STATE, id(place), 'l')
return 1
