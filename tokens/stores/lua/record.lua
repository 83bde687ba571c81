-- The session record, shared by the scripts that read it (prepended to them by redis.py,
-- after a line that sets PREVIOUS_JTI_LENGTH from its Python constant).
-- A record is one string of 8 fields joined by '|':
--   1 current jti, 2 the first PREVIOUS_JTI_LENGTH characters of the previous jti ('' before
--   the first rotation),
--   3 grace_until (ms), 4 last_used (ms; the current refresh token's iat is its whole second),
--   5 expires (s), 6 created (ms), 7 ip, 8 user agent (raw-deflated, may hold any byte).
-- Numbers are base 36. parse() returns fields 1-6 (numbers decoded) and the record from field 6
-- on, which a rotation carries along untouched.
local function parse(raw)
  local fields, pos, tail = {}, 1, nil
  for i = 1, 6 do
    local bar = string.find(raw, '|', pos, true)
    if not bar then
      return nil -- not this format (written by an older version): the caller treats it as ended
    end
    if i == 6 then
      tail = string.sub(raw, pos)
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
