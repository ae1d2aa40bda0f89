-- W4: every request carries a new Idempotency-Key (a counter after a per-run prefix; one wrk
-- thread, so one counter), so each one claims a key, inserts a project and stores the response.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local prefix = os.getenv("BENCH_KEY_PREFIX") or tostring(os.time())
local counter = 0

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format()
end
