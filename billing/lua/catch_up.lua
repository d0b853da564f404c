-- After an outage: a call admitted while Redis was unreachable (billing/fallback.py) takes its
-- share on the counters Redis kept, as admit.lua would have: its quota units, its credits, its
-- prepaid reservation and its in-flight lease (its settlement is replayed after this, by
-- settle.lua). A counter Redis lost is left alone: it is rebuilt from PostgreSQL.
-- KEYS: 1 quota5h events   2 quota5h sum   3 weekly counter   4 monthly credits used
--       5 prepaid balance   6 in-flight leases   7 this call's replay marker
--       8 what the key spent in the monthly period
-- ARGV: 1 call id   2 quota units   3 admitted at   4 credit cost   5 reserved micro-dollars
--       6 lease expiry   7 what the call took of the key's monthly spend
if not redis.call("SET", KEYS[7], 1, "NX", "EX", 86400) then
  return 0
end
local call, units, at = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local function add(key, amount)
  if amount ~= 0 and redis.call("EXISTS", key) == 1 then
    local value = math.max(0, tonumber(redis.call("GET", key) or "0") + amount)
    local ttl = redis.call("PTTL", key)
    if ttl > 0 then
      redis.call("SET", key, value, "PX", ttl)
    else
      redis.call("SET", key, value)
    end
  end
end

if units > 0 and redis.call("EXISTS", KEYS[2]) == 1 then
  redis.call("ZADD", KEYS[1], at, units .. ":" .. call)
  redis.call("EXPIRE", KEYS[1], 18060)
  add(KEYS[2], units)
end
add(KEYS[3], units)
add(KEYS[4], tonumber(ARGV[4]))
add(KEYS[5], -tonumber(ARGV[5]))
if KEYS[8] then add(KEYS[8], tonumber(ARGV[7] or "0")) end
redis.call("ZADD", KEYS[6], tonumber(ARGV[6]), call)
redis.call("EXPIRE", KEYS[6], 3600)
return 1
