-- POST one fixed body with fixed headers; count the answers with the expected status.
-- Usage: wrk ... -s post.lua <url> -- <body file> <expected status> "Name: value" ...
-- done() prints one line "BENCH_JSON {...}" like signed.lua (sent, wraps 0, non200 = answers
-- other than the expected status).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = io.open(args[1], "rb")
  body = file:read("*a")
  file:close()
  expected = tonumber(args[2])
  headers = {}
  for i = 3, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  sent, wraps, non200 = 0, 0, 0
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= expected then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local sent_all, non200_all = 0, 0
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    non200_all = non200_all + t:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.4f,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f,"sent":%d,"wraps":0,"non200":%d}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, sent_all, non200_all))
end
