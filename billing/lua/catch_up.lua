-- After an outage: counters Redis kept catch up on what was spent while it was unreachable.
-- KEYS[i]: a counter; ARGV[i]: the signed amount to add to it. A counter Redis no longer has is
-- left alone: it is rebuilt from PostgreSQL, which already counts what was spent. Never below 0.
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[i])
  if amount ~= 0 and redis.call("EXISTS", key) == 1 then
    local value = tonumber(redis.call("GET", key) or "0") + amount
    local ttl = redis.call("PTTL", key)
    if ttl > 0 then
      redis.call("SET", key, math.max(0, value), "PX", ttl)
    else
      redis.call("SET", key, math.max(0, value))
    end
  end
end
return 1
