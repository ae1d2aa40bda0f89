-- Shared by every bench workload: headers from the environment (set by bench/run.ts), and one
-- machine-readable result line from wrk's own latency histogram (microseconds).
local function env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then return nil end
  return value
end

local token = env("BENCH_TOKEN")
if token then wrk.headers["Authorization"] = "Bearer " .. token end
local ifNoneMatch = env("BENCH_IF_NONE_MATCH")
if ifNoneMatch then wrk.headers["If-None-Match"] = ifNoneMatch end
local method = env("BENCH_METHOD")
if method then wrk.method = method end
local body = env("BENCH_BODY")
if body then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local key = env("BENCH_IDEMPOTENCY_KEY")
if key then wrk.headers["Idempotency-Key"] = key end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,' ..
    '"errors":{"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
