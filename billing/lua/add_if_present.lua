-- After an outage: a counter Redis kept catches up on a change made while it was unreachable
-- (a grant to the live balance). KEYS 1: the counter   2: this change's replay marker
-- ARGV 1: the signed amount. A counter Redis lost is left alone: it is rebuilt from PostgreSQL,
-- which already has the change. Applied once, even if the replay is retried. Never below 0.
if not redis.call("SET", KEYS[2], 1, "NX", "EX", 86400) then
  return 0
end
if redis.call("EXISTS", KEYS[1]) == 1 then
  local value = math.max(0, tonumber(redis.call("GET", KEYS[1]) or "0") + tonumber(ARGV[1]))
  local ttl = redis.call("PTTL", KEYS[1])
  if ttl > 0 then
    redis.call("SET", KEYS[1], value, "PX", ttl)
  else
    redis.call("SET", KEYS[1], value)
  end
end
return 1
