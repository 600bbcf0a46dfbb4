-- A room's counters (Room::stats). Returns { waiting, recalled waiting, called, active,
-- admitted, lapsed, abandoned and recalled totals, refilled_ms, calls, first call, rate }.
if not init({ 'admitted_total', 'lapsed_total', 'abandoned_total', 'recalled_total', 'refilled_ms',
  'calls_n', 'c_new_per_minute', 'o_new_per_minute' }) then
  return NOINIT
end
return {
  redis.call('ZCARD', WAITING),
  redis.call('LLEN', RECALL),
  redis.call('ZCARD', CALLED),
  redis.call('ZCARD', SESSIONS),
  num('admitted_total', 0),
  num('lapsed_total', 0),
  num('abandoned_total', 0),
  num('recalled_total', 0),
  num('refilled_ms', 0),
  rate(),
}
