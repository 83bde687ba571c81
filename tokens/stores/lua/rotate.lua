-- Rotate a session's refresh token atomically. KEYS[1]: the user's session hash.
-- ARGV: session id, presented jti, now (s), new jti, refresh lifetime (s), grace (s),
-- max age (s). Returns {outcome, jti, iat, exp}; outcome is rotated, grace, reused, revoked or
-- expired.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {'revoked'}
end
local rec, tail = parse(raw)
if not rec then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'revoked'}
end
local now = tonumber(ARGV[3])
if rec[5] <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'expired'}
end
if ARGV[2] == rec[1] then
  -- The new token's iat is the second of last_used, which a grace refresh re-mints it from.
  local now_ms = math.floor(now * 1000)
  local issued = math.floor(now_ms / 1000)
  local expires = math.floor(math.min(issued + tonumber(ARGV[5]), rec[6] / 1000 + tonumber(ARGV[7])))
  redis.call('HSET', KEYS[1], ARGV[1], table.concat({
    ARGV[4], string.sub(rec[1], 1, PREVIOUS_JTI_LENGTH), b36(now_ms + tonumber(ARGV[6]) * 1000), b36(now_ms),
    b36(expires), tail}, '|'))
  local ttl = expires - issued
  if redis.call('TTL', KEYS[1]) < ttl then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return {'rotated', ARGV[4], string.format('%d', issued), string.format('%d', expires)}
end
if rec[2] ~= '' and string.sub(ARGV[2], 1, PREVIOUS_JTI_LENGTH) == rec[2] and now * 1000 < rec[3] then
  -- An honest concurrent refresh with the token just rotated away: hand back the same successor.
  return {'grace', rec[1], string.format('%d', math.floor(rec[4] / 1000)), string.format('%d', rec[5])}
end
-- Any other token of this session was rotated away earlier: someone replays it. End the session.
redis.call('HDEL', KEYS[1], ARGV[1])
return {'reused'}
