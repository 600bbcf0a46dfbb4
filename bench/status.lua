-- bench/status.lua — wrk script for bench/cluster.sh: `GET /_usher/status?room=ROOM` as many
-- different visitors, spread over one or more usher nodes, from ONE wrk process (one
-- latency distribution, one req/s, whatever the number of nodes).
--
-- Environment (wrk's Lua has os.getenv; setup() gets no script arguments):
--   STATUS_TICKETS  file with one ticket per line; every request carries the next one
--                   (`Cookie: usher_ticket=…`), each thread starting at its own offset
--   STATUS_PORTS    "PORT[,PORT…]": thread i talks to port i mod n on 127.0.0.1 (so with
--                   -t2 and two ports, each node gets one thread and half the connections)
--   STATUS_ROOM     the room (default "booking")
--
-- The requests are formatted once in init(): request() only hands out a prepared string,
-- so the script adds little to wrk's own cost. Answers are not inspected here (that would
-- make wrk parse every body); wrk counts non-2xx (a store failure is 503 "unavailable") and
-- cluster.sh checks standings before and after. done() prints per-thread request counts:
--   status.lua: thread 1 port 18644 requests 123456
local threads, ports = {}, {}
for p in string.gmatch(os.getenv("STATUS_PORTS") or "", "%d+") do
  ports[#ports + 1] = p
end

function setup(thread)
  local i = #threads + 1
  threads[i] = thread
  local port = ports[(i - 1) % math.max(#ports, 1) + 1]
  if port then
    thread.addr = wrk.lookup("127.0.0.1", port)[1]
  end
  thread:set("id", i)
  thread:set("port", port or "url")
end

function init(args)
  local path = "/_usher/status?room=" .. (os.getenv("STATUS_ROOM") or "booking")
  local file = os.getenv("STATUS_TICKETS") or error("STATUS_TICKETS is not set")
  reqs = {}
  for t in io.lines(file) do
    if t ~= "" then
      reqs[#reqs + 1] = wrk.format("GET", path, { ["Cookie"] = "usher_ticket=" .. t })
    end
  end
  if #reqs == 0 then error("no tickets in " .. file) end
  -- Threads start far apart in the list (7919: a prime, so any count of tickets works).
  next_i = ((id - 1) * 7919) % #reqs
  n = 0
end

function request()
  n = n + 1
  next_i = next_i % #reqs + 1
  return reqs[next_i]
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("status.lua: thread %d port %s requests %d\n",
      t:get("id"), t:get("port"), t:get("n")))
  end
end
