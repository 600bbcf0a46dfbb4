-- Where the pre-queue stands (Room::prequeue); draws it if the start has come.
-- ARGV: now_ms, draw seed.
-- Returns { drawn 0|1, first drawn place, entries drawn, seed, entries joined, start (-1: no
-- event), drawn by this call 0|1 }.
if not init({ 'o_ev_start', 'c_ev_start', 'c_ev_pre', 'c_ev_end', 'draw_base', 'draw_n', 'draw_seed',
  'prequeue_len', 'len' }) then
  return NOINIT
end
local now_ms, seed = tonumber(ARGV[1]), ARGV[2]
local before = M.draw_base
draw_if_due(floor(now_ms / 1000), seed)
save_meta()
return {
  M.draw_base and 1 or 0,
  num('draw_base', 0),
  num('draw_n', 0),
  M.draw_seed or '0',
  num('prequeue_len', 0),
  S.event and S.event.start or -1,
  (M.draw_base and not before) and 1 or 0,
}
