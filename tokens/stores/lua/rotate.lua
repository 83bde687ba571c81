-- Rotate a session's refresh token atomically: tokens.rules.decide_refresh(), mirrored.
-- KEYS[1]: the user's session hash.
-- ARGV: session id, presented jti, now (s), new jti, refresh lifetime (s), grace (s),
-- max age (s), max replays, the presented token's parent jti ('' if none), deadline (ms on
-- Redis' clock, 0: none).
-- Returns {outcome, time, jti, iat, exp, replays}; outcome is rotated, grace, reused, revoked,
-- expired or late (nothing applied: the caller had given up); time is Redis' (ms, see
-- check_deadline()).
local redis_now, late = check_deadline(ARGV[10])
if late then
  return {'late', redis_now}
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {'revoked', redis_now}
end
local rec, kept = parse(raw)
if not rec then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'revoked', redis_now}
end
local now = tonumber(ARGV[3])
if rec[5] <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'expired', redis_now}
end
-- The current jti, or its successor whose rotation was lost (tokens.rules.is_current()).
if ARGV[2] == rec[1] or (ARGV[9] ~= '' and ARGV[9] == rec[1]) then
  -- The new token's iat is the second of last_used, which a grace refresh re-mints it from.
  local now_ms = math.floor(now * 1000)
  local issued = math.floor(now_ms / 1000)
  local expires = math.floor(math.min(issued + tonumber(ARGV[5]), rec[6] / 1000 + tonumber(ARGV[7])))
  redis.call('HSET', KEYS[1], ARGV[1], encode({
    ARGV[4], string.sub(ARGV[2], 1, PREVIOUS_JTI_LENGTH), now_ms + math.floor(tonumber(ARGV[6]) * 1000),
    now_ms, expires, rec[6], 0}, kept))
  local ttl = expires - issued
  if redis.call('TTL', KEYS[1]) < ttl then
    redis.call('EXPIRE', KEYS[1], ttl)
  end
  return {'rotated', redis_now, ARGV[4], string.format('%d', issued),
    string.format('%d', expires)}
end
if rec[2] ~= '' and string.sub(ARGV[2], 1, PREVIOUS_JTI_LENGTH) == rec[2]
    and math.floor(now * 1000) < rec[3] and rec[7] < tonumber(ARGV[8]) then
  -- An honest concurrent refresh with the token just rotated away: hand back the same
  -- successor, and count it against the cap.
  rec[7] = rec[7] + 1
  redis.call('HSET', KEYS[1], ARGV[1], encode(rec, kept))
  return {'grace', redis_now, rec[1], string.format('%d', math.floor(rec[4] / 1000)),
    string.format('%d', rec[5]), rec[7]}
end
-- Any other token of this session (rotated away earlier, or replayed past the window or the
-- cap): someone replays it. End the session.
redis.call('HDEL', KEYS[1], ARGV[1])
return {'reused', redis_now}
