-- wrk script for bench/booking.sh: every request books one coupon with its own
-- Idempotency-Key, presenting one of several usher passes.
--
--   wrk ... -s bench/booking.lua URL -- EVENT_ID RUN_TAG PASS_FILE [header|cookie]
--
--   EVENT_ID   the coupon event to book
--   RUN_TAG    makes the keys unique across runs (keys are RUN_TAG-THREAD-N)
--   PASS_FILE  usher passes, one per line; request N uses pass N mod count
--   header     send the pass as `X-Usher-Pass` (apps; what the backend reads directly)
--   cookie     send it as `Cookie: usher_pass=...` (browsers; only the proxy reads it)
--
-- Counts per thread what it sent and what came back; done() prints one line per thread:
--   booking.lua: thread T sent S answered A created C other O
-- (+ the first unexpected status and body). S - A = requests still in flight when wrk
-- stopped: the backend may have committed them, but nobody read the answer.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  event = args[1] or error("booking.lua: EVENT_ID missing (wrk ... -- EVENT_ID RUN_TAG PASS_FILE)")
  tag = args[2] or error("booking.lua: RUN_TAG missing")
  local file = args[3] or error("booking.lua: PASS_FILE missing")
  via = args[4] or "header"
  passes = {}
  for line in io.lines(file) do
    if line ~= "" then passes[#passes + 1] = line end
  end
  if #passes == 0 then error("booking.lua: no passes in " .. file) end
  path = "/api/events/" .. event .. "/bookings"
  body = '{"quantity":1}'
  prefix = tag .. "-" .. tid .. "-"
  sent = 0; answered = 0; created = 0; other = 0
  firstbad = ""
end

function request()
  sent = sent + 1
  local pass = passes[(sent % #passes) + 1]
  local h = {
    ["Host"] = wrk.host,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. sent,
  }
  if via == "cookie" then
    h["Cookie"] = "usher_pass=" .. pass
  else
    h["X-Usher-Pass"] = pass
  end
  return wrk.format("POST", path, h, body)
end

function response(status, headers, resp)
  answered = answered + 1
  -- 201 with a confirmed booking is the only good answer: a replayed key would also say
  -- 201, but the keys are unique, and booking.sh checks the database against `created`.
  if status == 201 and string.find(resp, '"status":"confirmed"', 1, true) then
    created = created + 1
  else
    other = other + 1
    if firstbad == "" then firstbad = status .. " " .. string.sub(resp or "", 1, 300) end
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("booking.lua: thread %d sent %d answered %d created %d other %d\n",
      t:get("tid"), t:get("sent"), t:get("answered"), t:get("created"), t:get("other")))
    local fb = t:get("firstbad")
    if fb ~= "" then io.write("booking.lua: first unexpected answer: " .. fb .. "\n") end
  end
end
