-- Apply one aggregated batch of the features consumer atomically (a script runs as one
-- transaction). ARGV[1] is the JSON of ``features.BatchPlan.body()``: each section lists
-- distinct keys with their summed effects, so the work is per key, not per event.
-- Returns 0 and writes nothing if any event of the batch is already marked applied (the
-- caller re-reads the marks); else applies everything, marks the events, returns 1.
local CHUNK = 1000  -- most ids per HMGET/HSET (Lua's unpack has a stack limit)
local call = redis.call
local b = cjson.decode(ARGV[1])
local cfg, base = b.cfg, b.base

for key, ids in pairs(b.seen) do
  for s = 1, #ids, CHUNK do
    local marks = call('HMGET', key, unpack(ids, s, math.min(s + CHUNK - 1, #ids)))
    for i = 1, #marks do
      if marks[i] then return 0 end
    end
  end
end

local function fmt(x) return string.format('%.17g', x) end
local function trim(key, cap) call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end

-- catalog first, so the category look-ups below see this batch's products
for _, op in ipairs(b.info) do call('HSET', unpack(op)) end

local categories = {}
local function category(item)  -- false when the item has no category
  local found = categories[item]
  if found == nil then
    found = call('HGET', cfg.item_prefix .. item, 'category')
    categories[item] = found
  end
  return found
end

-- counts: hash ttl item n ...
for _, op in ipairs(b.counts) do
  for i = 3, #op, 2 do call('HINCRBY', op[1], op[i], op[i + 1]) end
  call('EXPIRE', op[1], op[2])
end

-- recent: key ts item ... (the user's newest touches; ZADD GT keeps the latest time)
for _, op in ipairs(b.recent) do
  if call('ZADD', op[1], 'GT', unpack(op, 2)) > 0 then trim(op[1], cfg.recent_cap) end
  call('EXPIRE', op[1], cfg.user_ttl)
end

-- carts: key item add floor ...: the line becomes max(q + add, floor), or floor when add is
-- 'x' (bought); a line at or below 0 goes. This is the user's changes replayed in order.
for _, op in ipairs(b.carts) do
  local key = op[1]
  for i = 2, #op, 3 do
    local item, add, floor = op[i], op[i + 1], op[i + 2]
    local q, set = floor, true
    if add ~= 'x' then
      q = call('HINCRBY', key, item, add)
      set = q < floor
      if set then q = floor end
    end
    if q <= 0 then
      call('HDEL', key, item)
    elseif set then
      call('HSET', key, item, q)
    end
  end
  call('EXPIRE', key, cfg.user_ttl)
end

-- bought: key item ...
for _, op in ipairs(b.bought) do call('SADD', unpack(op)) end

-- Forward decay (affinity, trending): a score is sum(w * 2^((t - ref) / h)) with ref in
-- ref_key; scores arrive at ``base``. When base runs rebase_after past ref, the set is
-- rescaled to base. Ranking by score is ranking by decayed weight now.
local function reference(key, ref_key, h, rebase_after, cap, ttl)
  local ref = tonumber(call('GET', ref_key))
  if ref ~= nil and base - ref <= rebase_after then
    if ttl then call('EXPIRE', ref_key, ttl) end
    return 2 ^ ((base - ref) / h)
  end
  if ref ~= nil then
    call('ZUNIONSTORE', key, 1, key, 'WEIGHTS', fmt(2 ^ (-(base - ref) / h)))
    trim(key, cap)
  end
  if ttl then call('SET', ref_key, base, 'EX', ttl) else call('SET', ref_key, base) end
  return 1
end

-- affinity: key ref_key item score ... (category per item from the catalog)
for _, op in ipairs(b.affinity) do
  local sums, any = {}, false
  for i = 3, #op, 2 do
    local cat = category(op[i])
    if cat then
      sums[cat], any = (sums[cat] or 0) + op[i + 1], true
    end
  end
  if any then
    local factor = reference(op[1], op[2], cfg.affinity_half_life, cfg.affinity_rebase,
      cfg.categories_cap, cfg.user_ttl)
    for cat, score in pairs(sums) do call('ZINCRBY', op[1], fmt(score * factor), cat) end
    call('EXPIRE', op[1], cfg.user_ttl)
  end
end

-- trending: item score ...
local trending = b.trending
if #trending > 0 then
  local factor = reference(cfg.trending, cfg.trending_ref, cfg.trending_half_life,
    cfg.trending_rebase, cfg.trending_cap, nil)
  for i = 1, #trending, 2 do
    call('ZINCRBY', cfg.trending, fmt(trending[i + 1] * factor), trending[i])
  end
  trim(cfg.trending, cfg.trending_cap)
end

-- sessions: key item ... (the session's distinct views in order): each item new to the
-- session pairs once with every earlier one; pair counts are summed, then written once.
local coviews = {}
local function pair(item, other)
  local row = coviews[item]
  if row == nil then
    row = {}
    coviews[item] = row
  end
  row[other] = (row[other] or 0) + 1
end
for _, op in ipairs(b.sessions) do
  local key = op[1]
  local members = call('SMEMBERS', key)
  local count, known, added = #members, {}, {}
  for i = 1, count do known[members[i]] = true end
  for i = 2, #op do
    if count >= cfg.session_cap then break end
    local item = op[i]
    if not known[item] then
      for j = 1, count do
        pair(item, members[j])
        pair(members[j], item)
      end
      count = count + 1
      members[count], known[item] = item, true
      added[#added + 1] = item
    end
  end
  if #added > 0 then call('SADD', key, unpack(added)) end
  call('EXPIRE', key, cfg.session_ttl)
end
for item, row in pairs(coviews) do
  local key = cfg.coview_prefix .. item
  for other, n in pairs(row) do call('ZINCRBY', key, n, other) end
  trim(key, cfg.coview_cap)
  call('EXPIRE', key, cfg.coview_ttl)
end

-- live metrics: key n (INCRBY); users: key user ... (PFADD); catviews: key item n ...
for _, op in ipairs(b.live) do
  call('INCRBY', op[1], op[2])
  call('EXPIRE', op[1], cfg.live_ttl)
end
for _, op in ipairs(b.users) do
  call('PFADD', unpack(op))
  call('EXPIRE', op[1], cfg.live_ttl)
end
for _, op in ipairs(b.catviews) do
  local sums = {}
  for i = 2, #op, 2 do
    local cat = category(op[i])
    if cat then sums[cat] = (sums[cat] or 0) + op[i + 1] end
  end
  for cat, n in pairs(sums) do call('HINCRBY', op[1], cat, n) end
  call('EXPIRE', op[1], cfg.live_ttl)
end

local clock = call('TIME')  -- each mark holds when it was applied (epoch ms)
local applied_ms = string.format('%d', clock[1] * 1000 + math.floor(clock[2] / 1000))
for key, ids in pairs(b.seen) do
  for s = 1, #ids, CHUNK do
    local args = {'HSET', key}
    for i = s, math.min(s + CHUNK - 1, #ids) do
      args[#args + 1] = ids[i]
      args[#args + 1] = applied_ms
    end
    call(unpack(args))
  end
  call('EXPIRE', key, cfg.seen_ttl)
end
return 1
