-- The floor: GET a view that does no authentication and no I/O.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
