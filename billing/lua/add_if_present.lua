-- A change the ledger already has (a grant) reaches a live counter (the prepaid balance), at
-- once or replayed after an outage. KEYS 1: the counter   2: this change's marker
-- ARGV 1: the signed amount. A counter not loaded is left alone: it is loaded from PostgreSQL,
-- which has the change. Applied once, even if retried. Never below 0.
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
