-- Rotate a session's refresh token atomically. KEYS[1]: the user's session hash.
-- ARGV: session id, presented jti, now, new jti, refresh lifetime (s), grace (s), max age (s).
-- Returns {outcome, jti, iat, exp}; outcome is rotated, grace, reused, revoked or expired.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {'revoked'}
end
local rec = cjson.decode(raw)
local now = tonumber(ARGV[3])
if tonumber(rec[7]) <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'expired'}
end
if ARGV[2] == rec[1] then
  local issued = math.floor(now)
  local expires = math.floor(math.min(issued + tonumber(ARGV[5]), tonumber(rec[5]) + tonumber(ARGV[7])))
  rec[3] = rec[1]
  rec[4] = now + tonumber(ARGV[6])
  rec[1] = ARGV[4]
  rec[2] = issued
  rec[6] = now
  rec[7] = expires
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
  local ttl = expires - issued
  if redis.call('TTL', KEYS[1]) < ttl then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return {'rotated', rec[1], string.format('%d', issued), string.format('%d', expires)}
end
if ARGV[2] == rec[3] and now < tonumber(rec[4]) then
  -- An honest concurrent refresh with the token just rotated away: hand back the same successor.
  return {'grace', rec[1], string.format('%d', rec[2]), string.format('%d', rec[7])}
end
-- Any other token of this session was rotated away earlier: someone replays it. End the session.
redis.call('HDEL', KEYS[1], ARGV[1])
return {'reused'}
