-- Login: POST the next JSON body of BENCH_BODIES ({"username": ..., "password": ...}).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local bodies
local i = 0

function setup(thread)
  offsets = (offsets or 0) + 1
  thread:set("offset", offsets)
end

function init(args)
  bodies = read_lines(os.getenv("BENCH_BODIES"))
  i = offset or 0
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[i])
end
