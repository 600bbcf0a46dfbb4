-- A room's settings. ARGV[1]:
--   'get'
--   'set', then the configured fields (FIELDS below, in order): a config load or
--     reload; the line is not touched; creates the room if new
--   'override', then mode, max_active, new_per_minute, ev_pre, ev_start, ev_end ('' = no
--     change; with ev_start given, ev_end '' = no end): an operator's change
-- Returns the configured fields then the overrides, '' where absent (the node applies
-- the overrides in Rust, as the memory room does).
local FIELDS = { 'mode', 'max_active', 'new_per_minute', 'session_idle_ms', 'session_max_ms',
  'claim_window_ms', 'abandon_after_ms', 'recall_window_ms', 'ev_pre', 'ev_start', 'ev_end' }
local OVERRIDES = { 'mode', 'max_active', 'new_per_minute', 'ev_pre', 'ev_start', 'ev_end' }
local op = ARGV[1]
local wanted = { 'tokens' }
for _, f in ipairs(FIELDS) do
  wanted[#wanted + 1] = 'c_' .. f
end
for _, f in ipairs(OVERRIDES) do
  wanted[#wanted + 1] = 'o_' .. f
end
local fresh = not init(wanted) or not M.tokens
if op == 'set' then
  for i, f in ipairs(FIELDS) do
    put('c_' .. f, ARGV[i + 1])
  end
elseif fresh then
  return NOINIT
elseif op == 'override' then
  for i, f in ipairs(OVERRIDES) do
    local v = ARGV[i + 1]
    if v ~= '' or (f == 'ev_end' and ARGV[6] ~= '') then
      put('o_' .. f, v)
    end
  end
end
if op ~= 'get' then
  forget_settings()
  if fresh then
    -- A new room: a full bucket, refilled from its first use on (as Room::new).
    put('tokens', burst())
  else
    put('tokens', min(num('tokens', 0), burst()))
  end
  save_meta()
end
local reply = {}
for _, f in ipairs(FIELDS) do
  reply[#reply + 1] = M['c_' .. f] or ''
end
for _, f in ipairs(OVERRIDES) do
  reply[#reply + 1] = M['o_' .. f] or ''
end
return reply
