-- Settlement of one admitted call: free its in-flight lease, count its tokens in the
-- tokens-per-minute window, and give back its quota units and credits if it failed.
-- KEYS: 1 quota5h events   2 quota5h sum   3 weekly counter   6 tokens events   7 tokens sum
--       8 in-flight leases   9 monthly credits used   (same order as admit.lua; 4 and 5 unused)
-- ARGV: 1 now   2 call id   3 quota units   4 tokens   5 succeeded (1/0)   6 credit cost
--       7 prepaid micro-dollars reserved at admission   8 micro-dollars the call cost
-- KEYS 10: the prepaid balance   11 what the key spent in the monthly period
-- ARGV: 10 what admission took of the key's monthly spend   11 what the call spent of it
--       (the difference is given back, or taken, as for the credits and the balance)
--
-- Replayed after an outage (billing/fallback.py), ARGV 9 is "replay", or "replay-if-leased"
-- when the first attempt timed out (it may have run: then it removed the lease), and KEYS 12
-- marks the call settled, so a replay that is itself retried is applied once. A counter Redis
-- lost meanwhile is left alone: it is rebuilt from PostgreSQL, which already counts the call.
local now, call = tonumber(ARGV[1]), ARGV[2]
local units, tokens = tonumber(ARGV[3]), tonumber(ARGV[4])
local mode = ARGV[9] or ""
if mode ~= "" then
  if mode == "replay-if-leased" and not redis.call("ZSCORE", KEYS[8], call) then
    return 0
  end
  if not redis.call("SET", KEYS[12], 1, "NX", "EX", 86400) then
    return 0
  end
end
local function kept(key)
  return mode == "" or redis.call("EXISTS", key) == 1
end

local removed = redis.call("ZREM", KEYS[8], call)
if tokens > 0 then
  redis.call("ZADD", KEYS[6], now, tokens .. ":" .. call)
  redis.call("INCRBY", KEYS[7], tokens)
  redis.call("EXPIRE", KEYS[6], 120)
  redis.call("EXPIRE", KEYS[7], 120)
end
if ARGV[5] == "0" then
  if units > 0 and redis.call("ZREM", KEYS[1], units .. ":" .. call) == 1 then
    if kept(KEYS[2]) then redis.call("DECRBY", KEYS[2], units) end
    if kept(KEYS[3]) then redis.call("DECRBY", KEYS[3], units) end
  end
  local cost = tonumber(ARGV[6])
  if cost > 0 and kept(KEYS[9]) then
    redis.call("DECRBY", KEYS[9], cost)
  end
end
-- The reservation comes back, the cost goes out; a cost above the reservation (an upstream that
-- counted more than our estimate) is taken as far as the balance goes, never below zero.
local reserved, charged = tonumber(ARGV[7] or "0"), tonumber(ARGV[8] or "0")
if (reserved > 0 or charged > 0) and kept(KEYS[10]) then
  local balance = tonumber(redis.call("GET", KEYS[10]) or "0") + reserved
  redis.call("SET", KEYS[10], math.max(0, balance - charged))
end
local key_taken, key_spent = tonumber(ARGV[10] or "0"), tonumber(ARGV[11] or "0")
if key_spent ~= key_taken and kept(KEYS[11]) then
  local spent = tonumber(redis.call("GET", KEYS[11]) or "0") + key_spent - key_taken
  local ttl = redis.call("PTTL", KEYS[11])
  if ttl > 0 then
    redis.call("SET", KEYS[11], math.max(0, spent), "PX", ttl)
  else
    redis.call("SET", KEYS[11], math.max(0, spent))
  end
end
return removed
