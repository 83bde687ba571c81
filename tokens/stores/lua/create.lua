-- Add a session to a user's hash, pruning expired ones and, past max_sessions, the least
-- recently used: tokens.rules.admits_login() and sessions_to_evict(), mirrored.
-- KEYS[1]: the user's session hash; KEYS[2]: the user's "ended before" time (ms).
-- ARGV: session id, record (see record.lua), now (s), max sessions (0: no limit), expires (s),
-- login started (ms, 0: no check), deadline (ms on Redis' clock, 0: none).
-- Returns {'late', time} (nothing applied: the caller had given up), {'refused', time} (the
-- user's sessions were ended after this login started), or {'created', time, evicted ids...};
-- time is Redis' (ms, see check_deadline()).
local redis_now, late = check_deadline(ARGV[7])
if late then
  return {'late', redis_now}
end
local started = tonumber(ARGV[6])
if started > 0 then
  local ended = redis.call('GET', KEYS[2])
  if ended and started <= tonumber(ended) then
    return {'refused', redis_now}
  end
end
local now = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local live = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local rec = parse(fields[i + 1])
  if not rec or rec[5] <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    live[#live + 1] = {fields[i], rec[4], rec[6]}
  end
end
local result = {'created', redis_now}
if max > 0 and #live >= max then
  table.sort(live, function(a, b)
    if a[2] == b[2] then return a[3] < b[3] end
    return a[2] < b[2]
  end)
  for i = 1, #live - max + 1 do
    redis.call('HDEL', KEYS[1], live[i][1])
    result[#result + 1] = live[i][1]
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = math.ceil(tonumber(ARGV[5]) - now)
if redis.call('TTL', KEYS[1]) < ttl then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return result
