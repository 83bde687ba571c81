-- Refresh as chains: run with as many threads as connections (wrk -t N -c N), so each thread
-- owns one connection and one session. Every request presents the refresh token the previous
-- response returned, as a client rotating its own session does.
-- BENCH_TOKENS: one starting refresh token a line (line n for thread n).
-- BENCH_FIELD_IN / BENCH_FIELD_OUT: the request and response field names of the refresh token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local field_in = os.getenv("BENCH_FIELD_IN")
local pattern = '"' .. os.getenv("BENCH_FIELD_OUT") .. '"%s*:%s*"([^"]+)"'
local token

function setup(thread)
  chains = (chains or 0) + 1
  thread:set("chain", chains)
end

function init(args)
  token = read_lines(os.getenv("BENCH_TOKENS"))[chain]
end

function request()
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
    '{"' .. field_in .. '":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    token = body:match(pattern) or token
  end
end
