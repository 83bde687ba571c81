-- End every session in a user's hash except ARGV[1] (empty: keep none); return the ended ids.
-- KEYS[1]: the user's session hash.
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
