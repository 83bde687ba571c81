-- The session record, shared by the scripts that read it (prepended to them by redis.py,
-- after a line that sets PREVIOUS_JTI_LENGTH from its Python constant).
-- A record is one string of 9 fields joined by '|':
--   1 current jti, 2 the first PREVIOUS_JTI_LENGTH characters of the previous jti ('' before
--   the first rotation),
--   3 grace_until (ms), 4 last_used (ms; the current refresh token's iat is its whole second),
--   5 expires (s), 6 created (ms), 7 a letter saying how field 9 holds the user agent, then
--   the replays of the previous jti since the last rotation, 8 ip, 9 user agent (may hold
--   any byte, '|' included).
-- Numbers are base 36. The letter of field 7 is 't' (the agent as UTF-8 text, what Python's
-- _encode() writes) or 'r' (the agent raw-deflated against a legacy dictionary, written before;
-- Python still reads it). The previous release (0.1) wrote the record without field 7 and
-- with a deflated agent: its 7th field is the ip, which is never a letter and base-36 digits
-- (an address holds '.' or ':', or is empty), so the letter tells the two apart. parse() reads
-- a 0.1 record as an 'r' record with 0 replays (the sessions of users who logged in before an
-- upgrade go on). parse() returns fields 1-7 (numbers decoded) and what every write carries
-- along untouched: the agent's letter and the record from the ip on. Lua never reads the
-- agent, so a rotation keeps a record's letter with the agent it describes.
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
  local kept
  if string.find(fields[7], '^[tr][0-9a-z]+$') then
    if not string.find(raw, '|', pos, true) then
      return nil -- the ip and the agent are missing
    end
    kept = {agent_format = string.sub(fields[7], 1, 1), tail = string.sub(raw, pos)}
    fields[7] = tonumber(string.sub(fields[7], 2), 36)
  else
    -- A 0.1 record: field 7 is its ip, and the ip and the deflated agent are the tail.
    kept = {agent_format = 'r', tail = fields[7] .. '|' .. string.sub(raw, pos)}
    fields[7] = 0
  end
  return fields, kept
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

-- The stored form of fields 1-7 of rec and what parse() returned to carry along.
local function encode(rec, kept)
  return table.concat({rec[1], rec[2], b36(rec[3]), b36(rec[4]), b36(rec[5]), b36(rec[6]),
    kept.agent_format .. b36(rec[7]), kept.tail}, '|')
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
