-- wrk script of the inbound benchmark (bench/load.py): POST each pre-signed, unique message
-- once. Arguments: the bodies file (a line with the count, a line with each body's length,
-- then the bodies) and the number of wrk threads. Thread i sends bodies i, i + T, i + 2T...;
-- each thread writes "ready" to stderr when its slice is loaded and "stopped" once every body
-- it sent is answered, and a connection with nothing left to send waits idle (an empty
-- request writes nothing). done() prints one line "JSON {...}" for bench/load.py.

local threads = {}
local count = 0

function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local fh = assert(io.open(path, "rb"))
  local n = tonumber(fh:read("*l"))
  local lengths = {}
  for len in fh:read("*l"):gmatch("%d+") do lengths[#lengths + 1] = tonumber(len) end
  assert(#lengths == n, "bodies file: count and lengths disagree")
  reqs = {}
  local headers = {["Content-Type"] = "application/xml"}
  for i = 1, n do
    local body = fh:read(lengths[i])
    if (i - 1) % nthreads == tid then
      reqs[#reqs + 1] = wrk.format("POST", nil, headers, body)
    end
  end
  fh:close()
  sent, answered, ok, stopping = 0, 0, 0, false
  -- wrk calls request() once on its first thread to check the script, before any
  -- connection: that call sends nothing, so that thread starts one body further on
  phantom = (tid == 0) and 1 or 0
  io.stderr:write("ready\n")
end

function request()
  if sent >= #reqs then
    return ""
  end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 then ok = ok + 1 end
  if not stopping and sent >= #reqs and answered >= sent - phantom then
    stopping = true
    io.stderr:write("stopped\n")
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local okk, answeredd = 0, 0
  for _, t in ipairs(threads) do
    okk = okk + t:get("ok")
    answeredd = answeredd + t:get("answered")
  end
  io.write(string.format(
    'JSON {"ok": %d, "answered": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
    okk, answeredd, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout))
end
