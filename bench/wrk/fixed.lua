-- Every fixed-request workload (W1-W3, W5-W7, the baseline): method, headers, body from the env.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
