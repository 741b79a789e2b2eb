-- POST pre-signed Meta webhook bodies, a different one per request (bench/payloads.py writes
-- them as "<X-Hub-Signature-256>\t<body>" lines, one file per thread: <prefix><n>.txt).
-- Usage: wrk ... -s signed.lua <url> -- <prefix>
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles (ms).

local thread_count = 0
local threads = {}

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

function init(args)
  sigs, bodies = {}, {}
  for line in io.lines(args[1] .. tid .. ".txt") do
    local tab = line:find("\t", 1, true)
    sigs[#sigs + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
  i, sent, wraps, non200 = 0, 0, 0, 0
end

function request()
  i = i + 1
  if i > #bodies then
    i = 1
    wraps = wraps + 1
  end
  sent = sent + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = sigs[i],
  }
  return wrk.format("POST", nil, headers, bodies[i])
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local sent_all, wraps_all, non200_all = 0, 0, 0
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    wraps_all = wraps_all + t:get("wraps")
    non200_all = non200_all + t:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.4f,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"sent":%d,"wraps":%d,"non200":%d}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, sent_all, wraps_all, non200_all))
end
