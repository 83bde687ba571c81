-- Authenticated GET: each request sends the next access token of BENCH_TOKENS (one a line,
-- each from its own session), so the session checks spread over many sessions and users.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local tokens
local i = 0

function init(args)
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  i = offset or 0
end

function setup(thread)
  offsets = (offsets or 0) + 7
  thread:set("offset", offsets)
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
