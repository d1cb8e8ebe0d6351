-- wrk script for bench/api_bench.py: sends the requests listed in a file, cycling, and
-- counts the answers that are not 2xx and those whose body lacks a marker.
--
--   wrk -t1 -c32 -d10s -s api_wrk.lua URL -- REQUESTS_FILE [MARKER]
--
-- REQUESTS_FILE: one request a line, "GET <path>" or "POST <path> <JSON body>". The
-- headers given with -H (Authorization, Content-Type) go with every request.
-- Prints one line at the end:
--   WRK_RESULT requests=N duration_s=F rps=F non2xx=N misses=N errors=N p50_ms=F p99_ms=F

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local method, path, body = line:match("^(%u+) (%S+) ?(.*)$")
    if method then
      table.insert(requests, wrk.format(method, path, nil, body ~= "" and body or nil))
    end
  end
  file:close()
  marker = args[2]
  index = tid or 0
  misses = 0
  non2xx = 0
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if marker and not (body and string.find(body, marker, 1, true)) then
    misses = misses + 1
  end
end

function done(summary, latency, requests)
  local missed, failed = 0, 0
  for _, thread in ipairs(threads) do
    missed = missed + (thread:get("misses") or 0)
    failed = failed + (thread:get("non2xx") or 0)
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "WRK_RESULT requests=%d duration_s=%.3f rps=%.1f non2xx=%d misses=%d errors=%d p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, seconds, summary.requests / seconds, failed, missed,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
