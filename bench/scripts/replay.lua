-- wrk script for `python -m bench.serve`: replay a file of prepared requests and print the
-- exact results of the run as one JSON line.
--
--   wrk -c N -t T -d 20s --latency -s replay.lua http://127.0.0.1:P -- requests.tsv [marker]
--
-- requests.tsv holds one request per line: METHOD <tab> PATH [<tab> JSON BODY]. Every request
-- is formatted once in init() (building one per call costs more than a fast server answers),
-- and each thread starts at its own offset so threads do not send the same sequence in step.
-- `marker`, when given, is a substring counted in response bodies (e.g. '"degraded":true').
-- The last line printed is `BENCH_JSON {...}` with latency percentiles in microseconds.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  if path == nil then
    error("replay.lua: pass the requests file after --, e.g. -- /tmp/requests.tsv")
  end
  marker = args[2]
  queue = {}
  for line in io.lines(path) do
    local method, target, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method == nil then
      error("replay.lua: " .. path .. " line " .. (#queue + 1) ..
            ": expected METHOD<tab>PATH[<tab>BODY], found '" .. line:sub(1, 80) .. "'")
    end
    if body == "" then
      queue[#queue + 1] = wrk.format(method, target)
    else
      queue[#queue + 1] = wrk.format(method, target, {["Content-Type"] = "application/json"}, body)
    end
  end
  if #queue == 0 then
    error("replay.lua: " .. path .. " holds no requests; the benchmark writes at least one")
  end
  -- a prime stride spreads the threads' starting points over the whole file
  position = (thread_index * 7919) % #queue
  non2xx = 0
  marked = 0
end

function request()
  position = position % #queue + 1
  return queue[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if marker ~= nil and body ~= nil and string.find(body, marker, 1, true) then
    marked = marked + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, marked_total = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
    marked_total = marked_total + (thread:get("marked") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"marked":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"min_us":%d,"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p95_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, non2xx_total, marked_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency:percentile(99.9)))
end
