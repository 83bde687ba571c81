-- The session record, shared by the scripts that read it (prepended to them by redis.py,
-- after a line that sets PREVIOUS_JTI_LENGTH from its Python constant).
-- A record is one string of 9 fields joined by '|':
--   1 current jti, 2 the first PREVIOUS_JTI_LENGTH characters of the previous jti ('' before
--   the first rotation),
--   3 grace_until (ms), 4 last_used (ms; the current refresh token's iat is its whole second),
--   5 expires (s), 6 created (ms), 7 replays of the previous jti since the last rotation,
--   8 ip, 9 user agent (raw-deflated, may hold any byte).
-- Numbers are base 36. parse() returns fields 1-7 (numbers decoded) and the record from field 8
-- on, which every write carries along untouched.
local function parse(raw)
  local fields, pos, tail = {}, 1, nil
  for i = 1, 7 do
    local bar = string.find(raw, '|', pos, true)
    if not bar then
      return nil -- not this format (written by an older version): the caller treats it as ended
    end
    fields[i] = string.sub(raw, pos, bar - 1)
    pos = bar + 1
  end
  tail = string.sub(raw, pos)
  -- Strictly this layout: a record of another format (an old JSON array, or the 8-field
  -- record before the replay count, whose field 7 is an address) never passes.
  if not string.find(fields[1], '^[%w_-]+$') or not string.find(fields[2], '^[%w_-]*$') then
    return nil
  end
  for i = 3, 7 do
    if not string.find(fields[i], '^[0-9a-z]+$') then
      return nil
    end
    fields[i] = tonumber(fields[i], 36)
  end
  return fields, tail
end

local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  n = math.floor(n)
  local out = ''
  repeat
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = math.floor(n / 36)
  until n == 0
  return out
end

local function encode(rec, tail)
  return table.concat({rec[1], rec[2], b36(rec[3]), b36(rec[4]), b36(rec[5]), b36(rec[6]),
    b36(rec[7]), tail}, '|')
end

-- A call the client has already given up on (Redis stalled past its socket timeout, so the
-- client answered 503): apply nothing, so that its retry finds the session as it left it.
-- ARGV deadline: ms on the caller's clock, 0 for none.
local function too_late(deadline)
  deadline = tonumber(deadline)
  if deadline == 0 then
    return false
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) > deadline
end
