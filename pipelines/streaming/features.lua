-- Apply one batch of the features consumer atomically (a Lua script runs as one transaction).
-- ARGV[1] is JSON: {seen = {hash key = [event ids]}, seen_ttl, cfg = {...}, ops = [[name, ...]]}.
-- Refuses (returns 0, writes nothing) if any event is already marked applied: the caller
-- re-reads the marks and recomputes. Otherwise runs every op in order, marks the events,
-- returns 1. Every argument arrives as a string; keys come from shopflow/keys.py.
local CHUNK = 1000  -- stay far below Lua's unpack limit
local batch = cjson.decode(ARGV[1])
for key, ids in pairs(batch.seen) do
  for start = 1, #ids, CHUNK do
    local marks = redis.call('HMGET', key, unpack(ids, start, math.min(start + CHUNK - 1, #ids)))
    for _, mark in ipairs(marks) do
      if mark then return 0 end
    end
  end
end
local cfg = batch.cfg

local categories = {}
local function category(item, given)
  if given ~= '' then return given end
  local found = categories[item]
  if found == nil then
    found = redis.call('HGET', cfg.item_prefix .. item, 'category')
    categories[item] = found
  end
  return found
end

local function trim(key, cap)
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(cap) + 1))
end

local function fmt(x) return string.format('%.17g', x) end

local ops = {}

-- INCR key ttl n: a counter; the TTL is set when the key is created.
function ops.INCR(op)
  local n = tonumber(op[4])
  if redis.call('INCRBY', op[2], n) == n then redis.call('EXPIRE', op[2], op[3]) end
end

-- RECENT key ttl cap item ts ...: last touch time per item, capped to the newest.
function ops.RECENT(op)
  local args = {'ZADD', op[2], 'GT'}
  for i = 5, #op, 2 do
    args[#args + 1] = op[i + 1]
    args[#args + 1] = op[i]
  end
  if redis.call(unpack(args)) > 0 then trim(op[2], op[4]) end
  redis.call('EXPIRE', op[2], op[3])
end

-- CART key ttl item delta ...: quantities in order; a line at or below 0 (or delta 'x') goes.
function ops.CART(op)
  for i = 4, #op, 2 do
    if op[i + 1] == 'x' or redis.call('HINCRBY', op[2], op[i], op[i + 1]) <= 0 then
      redis.call('HDEL', op[2], op[i])
    end
  end
  redis.call('EXPIRE', op[2], op[3])
end

-- AFFINITY key ref_key ttl half_life rebase_after item category weight t ...: decayed category
-- scores by forward decay: a score is sum(w * 2^((t - ref) / h)), ref = GET(ref_key), so an
-- update only adds; when t runs past ref by rebase_after the set is rescaled to a new ref
-- (and trimmed to the USER_CATEGORIES_CAP best). Ranking by score is ranking by affinity now.
function ops.AFFINITY(op)
  local key, ref_key, ttl, h = op[2], op[3], op[4], tonumber(op[5])
  local adds, latest = {}, nil
  for i = 7, #op, 4 do
    local cat = category(op[i], op[i + 1])
    if cat then
      local t = tonumber(op[i + 3])
      adds[#adds + 1] = {cat, tonumber(op[i + 2]), t}
      if latest == nil or t > latest then latest = t end
    end
  end
  if #adds == 0 then return end
  local ref = tonumber(redis.call('GET', ref_key))
  if ref == nil or latest - ref > tonumber(op[6]) then
    if ref ~= nil then
      redis.call('ZUNIONSTORE', key, 1, key, 'WEIGHTS', fmt(2 ^ (-(latest - ref) / h)))
      trim(key, cfg.categories_cap)
    end
    ref = latest
    redis.call('SET', ref_key, fmt(ref), 'EX', ttl)
  else
    redis.call('EXPIRE', ref_key, ttl)
  end
  local scores = {}
  for _, add in ipairs(adds) do
    scores[add[1]] = (scores[add[1]] or 0) + add[2] * 2 ^ ((add[3] - ref) / h)
  end
  for cat, score in pairs(scores) do redis.call('ZINCRBY', key, fmt(score), cat) end
  redis.call('EXPIRE', key, ttl)
end

-- TRENDING key ref_key half_life rebase_after cap base item score ...: forward decay.
-- A score is sum(w * 2^((t - ref) / h)); scores arrive relative to ``base``. When base runs
-- past ref by ``rebase_after`` seconds the whole set is rescaled to base.
function ops.TRENDING(op)
  local key, ref_key, h = op[2], op[3], tonumber(op[4])
  local base, ref = tonumber(op[7]), tonumber(redis.call('GET', ref_key))
  if ref == nil then
    ref = base
    redis.call('SET', ref_key, op[7])
  elseif base - ref > tonumber(op[5]) then
    redis.call('ZUNIONSTORE', key, 1, key, 'WEIGHTS', fmt(2 ^ (-(base - ref) / h)))
    ref = base
    redis.call('SET', ref_key, op[7])
  end
  local factor = 2 ^ ((base - ref) / h)
  for i = 8, #op, 2 do
    redis.call('ZINCRBY', key, fmt(tonumber(op[i + 1]) * factor), op[i])
  end
  trim(key, op[6])
end

-- COVIEW session_key item ...: each item new to the session pairs once with every earlier one.
-- Co-view sets touched are trimmed and given their TTL once, at the end of the batch.
local coview_touched = {}
function ops.COVIEW(op)
  local key, cap = op[2], tonumber(cfg.session_cap)
  local members, count, added = {}, 0, {}
  for _, item in ipairs(redis.call('SMEMBERS', key)) do
    members[#members + 1], count = item, count + 1
    members[item] = true
  end
  for i = 3, #op do
    local item = op[i]
    if not members[item] and count < cap then
      local item_key = cfg.coview_prefix .. item
      for j = 1, count do
        local other_key = cfg.coview_prefix .. members[j]
        redis.call('ZINCRBY', item_key, 1, members[j])
        redis.call('ZINCRBY', other_key, 1, item)
        coview_touched[item_key], coview_touched[other_key] = true, true
      end
      count = count + 1
      members[count], members[item] = item, true
      added[#added + 1] = item
    end
  end
  if #added > 0 then redis.call('SADD', key, unpack(added)) end
  redis.call('EXPIRE', key, cfg.session_ttl)
end

-- CATVIEWS key ttl item category n ...: views per category in one minute.
function ops.CATVIEWS(op)
  for i = 4, #op, 3 do
    local cat = category(op[i], op[i + 1])
    if cat then redis.call('HINCRBY', op[2], cat, op[i + 2]) end
  end
  redis.call('EXPIRE', op[2], op[3])
end

-- PFADD key ttl member ...: active users (HyperLogLog).
function ops.PFADD(op)
  redis.call('PFADD', op[2], unpack(op, 4))
  redis.call('EXPIRE', op[2], op[3])
end

-- HSET / SADD key ...: plain writes.
function ops.HSET(op) redis.call('HSET', unpack(op, 2)) end
function ops.SADD(op) redis.call('SADD', unpack(op, 2)) end

for _, op in ipairs(batch.ops) do ops[op[1]](op) end
for key, _ in pairs(coview_touched) do
  trim(key, cfg.coview_cap)
  redis.call('EXPIRE', key, cfg.coview_ttl)
end
for key, ids in pairs(batch.seen) do
  for start = 1, #ids, CHUNK do
    local args = {'HSET', key}
    for i = start, math.min(start + CHUNK - 1, #ids) do
      args[#args + 1] = ids[i]
      args[#args + 1] = '1'
    end
    redis.call(unpack(args))
  end
  redis.call('EXPIRE', key, batch.seen_ttl)
end
return 1
