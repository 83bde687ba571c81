-- The session record, shared by the scripts that read it (prepended to them by redis.py,
-- after a line that sets PREVIOUS_JTI_LENGTH from its Python constant).
-- A record is one string of 9 fields joined by '|':
--   1 current jti, 2 the first PREVIOUS_JTI_LENGTH characters of the previous jti ('' before
--   the first rotation),
--   3 grace_until (ms), 4 last_used (ms; the current refresh token's iat is its whole second),
--   5 expires (s), 6 created (ms), 7 'r' and the replays of the previous jti since the last
--   rotation, 8 ip, 9 user agent (raw-deflated, may hold any byte).
-- Numbers are base 36. The previous release (0.1) wrote the same record without field 7: its
-- 7th field is the ip, which is never 'r' and base-36 digits (an address holds '.' or ':', or
-- is empty), so the 'r' tells the two apart. parse() reads a 0.1 record as one with 0 replays
-- (the sessions of users who logged in before an upgrade go on), and every write stores this
-- format. parse() returns fields 1-7 (numbers decoded) and the record from the ip on, which
-- every write carries along untouched.
local function parse(raw)
  local fields, pos = {}, 1
  for i = 1, 7 do
    local bar = string.find(raw, '|', pos, true)
    if not bar then
      return nil -- not this format (written by an older version): the caller treats it as ended
    end
    fields[i] = string.sub(raw, pos, bar - 1)
    pos = bar + 1
  end
  -- Strictly this layout: a record of another format (an old JSON array) never passes.
  if not string.find(fields[1], '^[%w_-]+$') or not string.find(fields[2], '^[%w_-]*$') then
    return nil
  end
  for i = 3, 6 do
    if not string.find(fields[i], '^[0-9a-z]+$') then
      return nil
    end
    fields[i] = tonumber(fields[i], 36)
  end
  local tail
  if string.find(fields[7], '^r[0-9a-z]+$') then
    if not string.find(raw, '|', pos, true) then
      return nil -- the ip and the agent are missing
    end
    fields[7] = tonumber(string.sub(fields[7], 2), 36)
    tail = string.sub(raw, pos)
  else
    -- A 0.1 record: field 7 is its ip, and the ip and agent are the tail.
    tail = fields[7] .. '|' .. string.sub(raw, pos)
    fields[7] = 0
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
    'r' .. b36(rec[7]), tail}, '|')
end

-- Redis' own time (ms) as the script starts, and whether that is past the caller's deadline:
-- a call the client has already given up on (Redis stalled past its socket timeout, so the
-- client answered 503) applies nothing, so that its retry finds the session as it left it.
-- deadline: ms on Redis' clock (the caller keeps the offset to its own), 0 for none (then the
-- time is not read and is 0). Every reply carries the time, so the caller can follow Redis'
-- clock.
local function check_deadline(deadline)
  deadline = tonumber(deadline)
  if deadline == 0 then
    return 0, false
  end
  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  return now_ms, now_ms > deadline
end
