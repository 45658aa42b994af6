-- Apply one aggregated batch of the features consumer atomically (a script runs as one
-- transaction). ARGV[1] is the JSON of ``features.BatchPlan.body()``: each section lists
-- distinct keys with their summed effects, so the work is per key, not per event, and each
-- key costs as few commands as possible (a read of the fields it changes, one write).
-- Numbers go to Redis as Lua numbers (Redis formats them with %.17g: exact).
-- Returns 0 and writes nothing if any event of the batch is already marked applied (the
-- caller re-reads the marks); else applies everything, marks the events, returns 1.
local CHUNK = 1000  -- most fields or members per command (Lua's unpack has a stack limit)
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

local function trim(key, cap) call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end

-- Sum into hash fields: flat = field n field n ... from index ``from``; one HMGET and one
-- HSET per CHUNK fields instead of one HINCRBY each.
local function hash_add(key, flat, from)
  for s = from, #flat, 2 * CHUNK do
    local fields, args = {}, {}
    for i = s, math.min(s + 2 * CHUNK - 1, #flat), 2 do fields[#fields + 1] = flat[i] end
    local olds = call('HMGET', key, unpack(fields))
    for j = 1, #fields do
      args[2 * j - 1] = fields[j]
      args[2 * j] = (tonumber(olds[j]) or 0) + flat[s + 2 * j - 1]
    end
    call('HSET', key, unpack(args))
  end
end

-- Sum into sorted-set scores: flat = member score ..., each score times ``factor``; one
-- ZMSCORE and one ZADD per CHUNK members (ZINCRBY for a single member).
local function zset_add(key, flat, factor)
  if #flat == 2 then
    call('ZINCRBY', key, flat[2] * factor, flat[1])
    return
  end
  for s = 1, #flat, 2 * CHUNK do
    local members, args = {}, {}
    for i = s, math.min(s + 2 * CHUNK - 1, #flat), 2 do members[#members + 1] = flat[i] end
    local olds = call('ZMSCORE', key, unpack(members))
    for j = 1, #members do
      args[2 * j - 1] = (tonumber(olds[j]) or 0) + flat[s + 2 * j - 1] * factor
      args[2 * j] = members[j]
    end
    call('ZADD', key, unpack(args))
  end
end

-- catalog: key field value ...
for _, op in ipairs(b.info) do call('HSET', unpack(op)) end

-- counts: hash ttl item n ...
for _, op in ipairs(b.counts) do
  hash_add(op[1], op, 3)
  call('EXPIRE', op[1], op[2])
end

-- Forward decay (affinity, trending): a score is sum(w * 2^((t - ref) / h)) with ref the
-- reference time; scores arrive at ``base``. When base runs rebase_after past ref, the
-- scores are rescaled to base. Ranking by score is ranking by decayed weight now.

-- A user's affinities rescaled from ``ref`` to base, the top categories_cap kept. Returns
-- field -> new score of the kept ones.
local function rebase_affinity(key, ref)
  local all, kept, scale = call('HGETALL', key), {}, 2 ^ (-(base - ref) / cfg.affinity_half_life)
  local prefix = cfg.affinity_field
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, #prefix) == prefix then
      kept[#kept + 1] = {all[i], all[i + 1] * scale}
    end
  end
  table.sort(kept, function(p, q) return p[2] > q[2] end)
  local out, args, drop = {}, {}, {}
  for i, row in ipairs(kept) do
    if i <= cfg.categories_cap then
      out[row[1]] = row[2]
      args[#args + 1], args[#args + 2] = row[1], row[2]
    else
      drop[#drop + 1] = row[1]
    end
  end
  if #args > 0 then call('HSET', key, unpack(args)) end
  if #drop > 0 then call('HDEL', key, unpack(drop)) end
  return out
end

-- users: user {ts item ...} {affinity_field score ...} {cart_field add floor ...}: one HMGET
-- of the fields the batch changes, one HSET, one ZADD of the newest touches. Bookkeeping
-- fields: a (affinity reference time), x (when the TTLs were last set), nr (members of the
-- recent set). The TTLs are renewed only once half of user_ttl has passed.
local user_ttl, recent_cap = cfg.user_ttl, cfg.recent_cap
local half_h, rebase_after = cfg.affinity_half_life, cfg.affinity_rebase
local user_pre, user_post = cfg.user_key[1], cfg.user_key[2]
local recent_pre, recent_post = cfg.recent_key[1], cfg.recent_key[2]
for _, op in ipairs(b.users) do
  local user, recent, aff, cart = op[1], op[2], op[3], op[4]
  local key, rkey = user_pre .. user .. user_post, recent_pre .. user .. recent_post
  local fields, n_aff = {'a', 'x', 'nr'}, #aff / 2
  for i = 1, n_aff do fields[3 + i] = aff[2 * i - 1] end
  local n_fields = 3 + n_aff
  for i = 1, #cart, 3 do
    n_fields = n_fields + 1
    fields[n_fields] = cart[i]
  end
  local vals = call('HMGET', key, unpack(fields))
  local set, n_set, dels = {}, 0, {}
  if n_aff > 0 then
    local ref, factor = tonumber(vals[1]), 1
    if ref ~= nil and base - ref <= rebase_after then
      factor = 2 ^ ((base - ref) / half_h)
    else
      if ref ~= nil then
        local kept = rebase_affinity(key, ref)
        for j = 4, 3 + n_aff do vals[j] = kept[fields[j]] or false end
      end
      set[1], set[2], n_set = 'a', base, 2
    end
    for i = 1, n_aff do
      set[n_set + 1] = aff[2 * i - 1]
      set[n_set + 2] = (tonumber(vals[3 + i]) or 0) + aff[2 * i] * factor
      n_set = n_set + 2
    end
  end
  -- cart: the line becomes max(q + add, floor), or floor when add is 'x' (bought); a line
  -- at or below 0 goes. This is the user's changes replayed in order.
  local j = 3 + n_aff
  for i = 1, #cart, 3 do
    j = j + 1
    local add, floor, q = cart[i + 1], cart[i + 2], cart[i + 2]
    if add ~= 'x' then
      q = (tonumber(vals[j]) or 0) + add
      if q < floor then q = floor end
    end
    if q > 0 then
      set[n_set + 1], set[n_set + 2], n_set = cart[i], q, n_set + 2
    elseif vals[j] then
      dels[#dels + 1] = cart[i]
    end
  end
  local nr, expire_recent = tonumber(vals[3]), false
  if #recent > 0 then
    local added = call('ZADD', rkey, 'GT', unpack(recent))
    if nr == nil then  -- not counted yet: trim and count
      if added > 0 then trim(rkey, recent_cap) end
      nr, expire_recent = call('ZCARD', rkey), true
      set[n_set + 1], set[n_set + 2], n_set = 'nr', nr, n_set + 2
    elseif added > 0 then
      expire_recent = nr == 0  -- possibly a new key
      nr = nr + added
      if nr > recent_cap then
        trim(rkey, recent_cap)
        nr = recent_cap
      end
      set[n_set + 1], set[n_set + 2], n_set = 'nr', nr, n_set + 2
    end
  end
  local x = tonumber(vals[2])
  local expire = x == nil or base - x > user_ttl / 2
  if expire then set[n_set + 1], set[n_set + 2], n_set = 'x', base, n_set + 2 end
  if n_set > 0 then call('HSET', key, unpack(set)) end
  if #dels > 0 then call('HDEL', key, unpack(dels)) end
  if expire then call('EXPIRE', key, user_ttl) end
  if expire or expire_recent then call('EXPIRE', rkey, user_ttl) end
end

-- bought: key item ...
for _, op in ipairs(b.bought) do call('SADD', unpack(op)) end

-- trending: item score ... (reference time in cfg.trending_ref)
local trending = b.trending
if #trending > 0 then
  local key, ref_key, h = cfg.trending, cfg.trending_ref, cfg.trending_half_life
  local ref, factor = tonumber(call('GET', ref_key)), 1
  if ref ~= nil and base - ref <= cfg.trending_rebase then
    factor = 2 ^ ((base - ref) / h)
  else
    if ref ~= nil then
      call('ZUNIONSTORE', key, 1, key, 'WEIGHTS', 2 ^ (-(base - ref) / h))
      trim(key, cfg.trending_cap)
    end
    call('SET', ref_key, base)
  end
  zset_add(key, trending, factor)
  trim(key, cfg.trending_cap)
end

-- sessions: session item ... (the session's distinct views in order): each item new to the
-- session pairs once with every earlier one; pair counts are summed, then written once. A
-- session's views are one JSON array (one GET, one SET with its TTL).
local coviews = {}
local function pair(item, other)
  local row = coviews[item]
  if row == nil then
    row = {}
    coviews[item] = row
  end
  row[other] = (row[other] or 0) + 1
end
local session_pre, session_post = cfg.session_key[1], cfg.session_key[2]
for _, op in ipairs(b.sessions) do
  local key = session_pre .. op[1] .. session_post
  local stored = call('GET', key)
  local members = stored and cjson.decode(stored) or {}
  local count, known, added = #members, {}, false
  for i = 1, count do known[members[i]] = true end
  for i = 2, #op do
    if count >= cfg.session_cap then break end
    local item = op[i]
    if not known[item] then
      for k = 1, count do
        pair(item, members[k])
        pair(members[k], item)
      end
      count = count + 1
      members[count], known[item], added = item, true, true
    end
  end
  if added then call('SET', key, cjson.encode(members), 'EX', cfg.session_ttl) end
end
for item, row in pairs(coviews) do
  local key, flat = cfg.coview_prefix .. item, {}
  for other, n in pairs(row) do
    flat[#flat + 1], flat[#flat + 2] = other, n
  end
  zset_add(key, flat, 1)
  trim(key, cfg.coview_cap)
  call('EXPIRE', key, cfg.coview_ttl)
end

-- live metrics: key n (INCRBY); active users: key user ... (PFADD); catviews: key cat n ...
for _, op in ipairs(b.live) do
  call('INCRBY', op[1], op[2])
  call('EXPIRE', op[1], cfg.live_ttl)
end
for _, op in ipairs(b.active) do
  call('PFADD', unpack(op))
  call('EXPIRE', op[1], cfg.live_ttl)
end
for _, op in ipairs(b.catviews) do
  hash_add(op[1], op, 2)
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
