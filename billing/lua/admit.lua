-- Admission: check every limit of one call and, only if all pass, take its share of each.
-- One round trip, atomic. Limits of -1 are unlimited.
--
-- KEYS: 1 quota5h events (zset: member "units:call", score = time)   2 quota5h sum
--       3 weekly counter   4 workspace requests/60 s (zset)   5 key requests/60 s (zset)
--       6 tokens/60 s events (zset: member "tokens:call")   7 tokens/60 s sum
--       8 in-flight leases (zset: member = call, score = lease expiry)   9 monthly credits used
-- ARGV: 1 now   2 call id   3 quota units   4 limit 5h   5 limit week   6 week ttl
--       7 workspace rpm   8 key rpm   9 tpm   10 max concurrency   11 lease expiry
--       12 monthly credits   13 credit cost   14 credits ttl   15 seconds to week reset
--       16 seconds to credits reset   17 prepaid reservation in micro-dollars (-1: not prepaid)
-- KEYS 10: the prepaid balance in micro-dollars
-- KEYS 11: what the key spent in the monthly period (credits; micro-dollars on a prepaid plan)
-- ARGV: 18 the key's monthly cap in that unit (-1: none)   19 what this call takes of it
--       (its credit cost; its prepaid reservation), counted whether or not there is a cap
-- Returns {admitted (1/0), failed limit name or "", retry after seconds,
--          used 5h, used week, used rpm (workspace), used tpm, used credits, in flight,
--          seconds until the rpm window frees a slot, seconds until the tpm window frees,
--          prepaid balance left (micro-dollars), used rpm (key), key's monthly spend}

local now = tonumber(ARGV[1])
local call = ARGV[2]
local units = tonumber(ARGV[3])
local limit_5h, limit_week = tonumber(ARGV[4]), tonumber(ARGV[5])
local rpm_ws, rpm_key, tpm = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local max_conc, lease_expiry = tonumber(ARGV[10]), tonumber(ARGV[11])
local credits, cost = tonumber(ARGV[12]), tonumber(ARGV[13])

-- Drop what has left a window; a running sum is kept for the weighted windows.
local function expire_weighted(events, sum, horizon)
  local gone = redis.call("ZRANGEBYSCORE", events, "-inf", horizon)
  if #gone > 0 then
    local total = 0
    for _, member in ipairs(gone) do
      total = total + tonumber(string.match(member, "^(%d+):"))
    end
    redis.call("ZREMRANGEBYSCORE", events, "-inf", horizon)
    redis.call("DECRBY", sum, total)
  end
  return tonumber(redis.call("GET", sum) or "0")
end

-- Seconds until enough weight has left the window for `need` more units to fit.
local function wait_weighted(events, excess, span)
  local freed = 0
  local entries = redis.call("ZRANGE", events, 0, -1, "WITHSCORES")
  for i = 1, #entries, 2 do
    freed = freed + tonumber(string.match(entries[i], "^(%d+):"))
    if freed >= excess then
      return math.min(span, math.max(1, math.ceil(tonumber(entries[i + 1]) + span - now)))
    end
  end
  return span
end

local function oldest_wait(events, span)
  local first = redis.call("ZRANGE", events, 0, 0, "WITHSCORES")
  if #first == 0 then return 0 end
  -- (a racing caller's clock may be a little behind the entry's: never more than the span)
  return math.min(span, math.max(1, math.ceil(tonumber(first[2]) + span - now)))
end

local used_5h = expire_weighted(KEYS[1], KEYS[2], now - 18000)
local used_tpm = expire_weighted(KEYS[6], KEYS[7], now - 60)
redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", now - 60)
redis.call("ZREMRANGEBYSCORE", KEYS[5], "-inf", now - 60)
redis.call("ZREMRANGEBYSCORE", KEYS[8], "-inf", now)
local used_week = tonumber(redis.call("GET", KEYS[3]) or "0")
local used_rpm = redis.call("ZCARD", KEYS[4])
local used_key_rpm = redis.call("ZCARD", KEYS[5])
local in_flight = redis.call("ZCARD", KEYS[8])
local used_credits = tonumber(redis.call("GET", KEYS[9]) or "0")

local function balance()
  return tonumber(redis.call("GET", KEYS[10]) or "0")
end

local key_cap, key_amount = tonumber(ARGV[18] or "-1"), tonumber(ARGV[19] or "0")
local key_spent = tonumber(redis.call("GET", KEYS[11]) or "0")

local function refuse(name, wait)
  return {0, name, wait, used_5h, used_week, used_rpm, used_tpm, used_credits, in_flight,
          oldest_wait(KEYS[4], 60), oldest_wait(KEYS[6], 60), balance(), used_key_rpm, key_spent}
end

if limit_5h >= 0 and used_5h + units > limit_5h then
  return refuse("requests_per_5h", wait_weighted(KEYS[1], used_5h + units - limit_5h, 18000))
end
if limit_week >= 0 and used_week + units > limit_week then
  return refuse("requests_per_week", math.max(1, tonumber(ARGV[15])))
end
if rpm_ws >= 0 and used_rpm >= rpm_ws then
  return refuse("rpm", oldest_wait(KEYS[4], 60))
end
if rpm_key >= 0 and used_key_rpm >= rpm_key then
  return refuse("key_rpm", oldest_wait(KEYS[5], 60))
end
if tpm >= 0 and used_tpm >= tpm then
  return refuse("tpm", wait_weighted(KEYS[6], used_tpm - tpm + 1, 60))
end
if max_conc >= 0 and in_flight >= max_conc then
  return refuse("max_concurrency", 1)
end
if credits >= 0 and used_credits + cost > credits then
  return refuse("monthly_credits", math.max(1, tonumber(ARGV[16])))
end
if key_cap >= 0 and key_spent + key_amount > key_cap then
  return refuse("key_monthly_cap", math.max(1, tonumber(ARGV[16])))
end
local reserve = tonumber(ARGV[17])
if reserve >= 0 and balance() < reserve then
  return refuse("balance", 0)
end
if reserve > 0 then
  redis.call("DECRBY", KEYS[10], reserve)
end

if units > 0 then
  redis.call("ZADD", KEYS[1], now, units .. ":" .. call)
  redis.call("INCRBY", KEYS[2], units)
  redis.call("EXPIRE", KEYS[1], 18060)
  redis.call("EXPIRE", KEYS[2], 18060)
  redis.call("INCRBY", KEYS[3], units)
  redis.call("EXPIRE", KEYS[3], tonumber(ARGV[6]))
end
redis.call("ZADD", KEYS[4], now, call)
redis.call("EXPIRE", KEYS[4], 120)
redis.call("ZADD", KEYS[5], now, call)
redis.call("EXPIRE", KEYS[5], 120)
redis.call("ZADD", KEYS[8], lease_expiry, call)
redis.call("EXPIRE", KEYS[8], 3600)
if cost > 0 then
  redis.call("INCRBY", KEYS[9], cost)
  redis.call("EXPIRE", KEYS[9], tonumber(ARGV[14]))
end
if key_amount > 0 then
  redis.call("INCRBY", KEYS[11], key_amount)
  redis.call("EXPIRE", KEYS[11], tonumber(ARGV[14]))
end
return {1, "", 0, used_5h + units, used_week + units, used_rpm + 1, used_tpm,
        used_credits + cost, in_flight + 1, oldest_wait(KEYS[4], 60), oldest_wait(KEYS[6], 60),
        balance(), used_key_rpm + 1, key_spent + key_amount}
