-- End every session in a user's hash except ARGV[1] (empty: keep none); return the ended ids.
-- KEYS[1]: the user's session hash; KEYS[2]: the user's "ended before" time (ms).
-- ARGV[2]: the time to record there (ms, 0: record nothing), ARGV[3]: its TTL (s).
-- Recording it in the same step means no login that started before it can create a session
-- after the sessions are gone (see create.lua).
local ended_at = tonumber(ARGV[2])
if ended_at > 0 then
  local known = redis.call('GET', KEYS[2])
  if not known or tonumber(known) < ended_at then
    redis.call('SET', KEYS[2], string.format('%d', ended_at), 'EX', tonumber(ARGV[3]))
  end
end
local ids = redis.call('HKEYS', KEYS[1])
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
  return ids
end
local ended = {}
for _, id in ipairs(ids) do
  if id ~= ARGV[1] then
    ended[#ended + 1] = id
  end
end
-- HDEL in chunks: unpack() of a very long list would overflow Lua's stack.
for i = 1, #ended, 1000 do
  redis.call('HDEL', KEYS[1], unpack(ended, i, math.min(i + 999, #ended)))
end
return ended
