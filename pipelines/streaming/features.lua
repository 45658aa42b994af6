-- Apply one aggregated batch of the features consumer atomically (a script runs as one
-- transaction). ARGV[1] is the JSON of ``features.BatchPlan.body()``: each section lists
-- distinct keys with their summed effects, so the work is per key, not per event, and each
-- key costs as few commands as possible (a read of the fields it changes, one write).
-- ARGV[2]: the time the consumer sent the batch (epoch ms), which each applied-mark holds.
-- Computed numbers go to Redis as Lua numbers (Redis formats them with %.17g: exact).
--
-- Deterministic, so Redis 6.2 can log the script itself to its append-only file instead of
-- every write it makes (``shopflow.online_store.script_logging``): no TIME or other
-- non-deterministic command, sorted field lists (HKEYS, not HGETALL), and absolute expiry
-- times (EXPIREAT from ``base``) so a replay at start-up sets the expiries the first run set.
-- Returns 0 and writes nothing if any event of the batch is already marked applied (the
-- caller re-reads the marks); else applies everything, marks the events, returns 1.
local CHUNK = 1000  -- most fields or members per command (Lua's unpack has a stack limit)
local call = redis.call
local b = cjson.decode(ARGV[1])
local cfg, base = b.cfg, b.base
-- Integers as command arguments are formatted once each (Redis formats a Lua number
-- argument with snprintf, which costs about as much as a short command).
local INT = setmetatable({}, {__index = function(t, n)
  local text = string.format('%d', n)
  t[n] = text
  return text
end})
local base_s = INT[base]
local function expire(key, ttl) call('EXPIREAT', key, INT[base + ttl]) end

for key, ids in pairs(b.seen) do
  for s = 1, #ids, CHUNK do
    local marks = call('HMGET', key, unpack(ids, s, math.min(s + CHUNK - 1, #ids)))
    for i = 1, #marks do
      if marks[i] then return 0 end
    end
  end
end

local function trim(key, cap) call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end

-- Sum into integer hash fields: flat = field n field n ... from index ``from``; one HMGET
-- and one HSET per CHUNK fields instead of one HINCRBY each.
local function hash_add(key, flat, from)
  for s = from, #flat, 2 * CHUNK do
    local fields, args = {}, {}
    for i = s, math.min(s + 2 * CHUNK - 1, #flat), 2 do fields[#fields + 1] = flat[i] end
    local olds = call('HMGET', key, unpack(fields))
    for j = 1, #fields do
      args[2 * j - 1] = fields[j]
      args[2 * j] = INT[(tonumber(olds[j]) or 0) + flat[s + 2 * j - 1]]
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

-- Each item's category, read once per batch (after the batch's catalog changes above).
local info_pre, info_post, category_field = cfg.info_key[1], cfg.info_key[2], cfg.category_field
local affinity_prefix = cfg.affinity_field
local category_of, field_of = {}, {}  -- item -> category or false; category -> affinity field
local function category(item)
  local cat = category_of[item]
  if cat == nil then
    cat = call('HGET', info_pre .. item .. info_post, category_field)
    if cat == '' then cat = false end
    category_of[item] = cat
    if cat and field_of[cat] == nil then field_of[cat] = affinity_prefix .. cat end
  end
  return cat
end

-- counts: hash ttl item n ...
for _, op in ipairs(b.counts) do
  hash_add(op[1], op, 3)
  expire(op[1], op[2])
end

-- Forward decay (affinity, trending): a score is sum(w * 2^((t - ref) / h)) with ref the
-- reference time; scores arrive at ``base``. When base runs rebase_after past ref, the
-- scores are rescaled to base. Ranking by score is ranking by decayed weight now.

-- The fields of hash ``key`` that start with ``prefix`` (sorted) and their values.
local function fields_with(key, prefix)
  local names = {}
  for _, field in ipairs(call('HKEYS', key)) do
    if string.sub(field, 1, #prefix) == prefix then names[#names + 1] = field end
  end
  table.sort(names)
  if #names == 0 then return names, {} end
  return names, call('HMGET', key, unpack(names))
end

-- A user's affinities rescaled from ``ref`` to base, the top categories_cap kept. Returns
-- field -> new score of the kept ones.
local function rebase_affinity(key, ref)
  local names, values = fields_with(key, cfg.affinity_field)
  local kept, scale = {}, 2 ^ (-(base - ref) / cfg.affinity_half_life)
  for i = 1, #names do kept[i] = {names[i], values[i] * scale} end
  table.sort(kept, function(p, q) return p[2] > q[2] or (p[2] == q[2] and p[1] < q[1]) end)
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

-- Session co-views: each item new to a session pairs once with every earlier one (at most
-- session_cap items); pair counts are summed here, then written once per item (below).
local coviews, session_cap, session_ttl = {}, cfg.session_cap, cfg.session_ttl
local function pair(item, other)
  local row = coviews[item]
  if row == nil then
    row = {}
    coviews[item] = row
  end
  row[other] = (row[other] or 0) + 1
end
-- A session's stored views (a JSON array, or nil) extended with src[i0 .. i0 + n - 1]
-- (distinct new views, in order). Returns the views, or nil when none was added.
local function extend_session(stored, src, i0, n)
  local members, count, known = {}, 0, nil
  if stored then
    members, known = cjson.decode(stored), {}
    count = #members
    for i = 1, count do known[members[i]] = true end
  end
  local added = false
  for i = i0, i0 + n - 1 do
    if count >= session_cap then break end
    local item = src[i]
    if not (known and known[item]) then
      for k = 1, count do
        pair(item, members[k])
        pair(members[k], item)
      end
      count = count + 1
      members[count], added = item, true
    end
  end
  return added and members or nil
end
-- A user's session field: "<time of its last new view> <JSON array of views>". Returns
-- the array's JSON, or nil when the session is over.
local function live_session(value)
  if value then
    local at = string.find(value, ' ', 1, true)
    if base - tonumber(string.sub(value, 1, at - 1)) <= session_ttl then
      return string.sub(value, at + 1)
    end
  end
  return nil
end
-- Keep a user's newest sessions_cap live sessions (the others go); done once they number
-- twice that, so it runs once per sessions_cap new sessions. Returns how many stay.
local session_prefix, sessions_cap = cfg.session_field, cfg.sessions_cap
local function prune_sessions(key)
  local names, values = fields_with(key, session_prefix)
  local live, drop = {}, {}
  for i = 1, #names do
    if live_session(values[i]) then
      live[#live + 1] = {names[i], tonumber(string.match(values[i], '^%S+'))}
    else
      drop[#drop + 1] = names[i]
    end
  end
  local keep = math.min(#live, sessions_cap)
  table.sort(live, function(p, q) return p[2] > q[2] or (p[2] == q[2] and p[1] < q[1]) end)
  for i = keep + 1, #live do drop[#drop + 1] = live[i][1] end
  if #drop > 0 then call('HDEL', key, unpack(drop)) end
  return keep
end

-- users: one flat array, per user: user, then four counted runs: [ts item ...] (newest
-- touches, ts as text), [item score ...] (affinity, summed here per category field),
-- [cart_field add floor ...], [session_field n item ...] (each session's new views, in
-- order). One HMGET of the fields the batch changes, one HSET, one ZADD of the newest
-- touches (scratch tables are reused across users). Bookkeeping fields: a (affinity
-- reference time), x (when the TTLs were last set), nr (members of the recent set), sn
-- (session fields). The TTLs are renewed only once half of user_ttl has passed.
local user_ttl, recent_cap = cfg.user_ttl, cfg.recent_cap
local half_h, rebase_after = cfg.affinity_half_life, cfg.affinity_rebase
local user_pre, user_post = cfg.user_key[1], cfg.user_key[2]
local recent_pre, recent_post = cfg.recent_key[1], cfg.recent_key[2]
local BOOK = 4  -- fields[1 .. BOOK]: a, x, nr, sn
local U, fields, set, dels, adds = b.users, {'a', 'x', 'nr', 'sn'}, {}, {}, {}
local p, n_u = 1, #U
while p <= n_u do
  local user, n_recent = U[p], U[p + 1]
  local r0 = p + 2
  local a0, n_aff2 = r0 + n_recent + 1, U[r0 + n_recent]
  local c0, n_cart3 = a0 + n_aff2 + 1, U[a0 + n_aff2]
  local s0, n_sess = c0 + n_cart3 + 1, U[c0 + n_cart3]
  p = s0 + n_sess
  local key, rkey = user_pre .. user .. user_post, recent_pre .. user .. recent_post
  local nf = BOOK
  for i = a0, a0 + n_aff2 - 1, 2 do
    local cat = category(U[i])
    if cat then
      local field, j = field_of[cat], BOOK + 1
      while j <= nf and fields[j] ~= field do j = j + 1 end
      if j > nf then
        nf, fields[j], adds[j] = j, field, 0
      end
      adds[j] = adds[j] + U[i + 1]
    end
  end
  local n_aff = nf - BOOK
  for i = c0, c0 + n_cart3 - 1, 3 do
    nf = nf + 1
    fields[nf] = U[i]
  end
  local i = s0
  while i < p do
    nf = nf + 1
    fields[nf] = U[i]
    i = i + 2 + U[i + 1]
  end
  local vals = call('HMGET', key, unpack(fields, 1, nf))
  local ns, nd = 0, 0
  if n_aff > 0 then
    local ref, factor = tonumber(vals[1]), 1
    if ref ~= nil and base - ref <= rebase_after then
      factor = 2 ^ ((base - ref) / half_h)
    else
      if ref ~= nil then
        local kept = rebase_affinity(key, ref)
        for j = BOOK + 1, BOOK + n_aff do vals[j] = kept[fields[j]] or false end
      end
      set[1], set[2], ns = 'a', base_s, 2
    end
    for j = BOOK + 1, BOOK + n_aff do
      set[ns + 1] = fields[j]
      set[ns + 2] = (tonumber(vals[j]) or 0) + adds[j] * factor
      ns = ns + 2
    end
  end
  -- cart: the line becomes max(q + add, floor), or floor when add is 'x' (bought); a line
  -- at or below 0 goes. This is the user's changes replayed in order.
  local j = BOOK + n_aff
  for i = c0, c0 + n_cart3 - 1, 3 do
    j = j + 1
    local add, floor, q = U[i + 1], U[i + 2], U[i + 2]
    if add ~= 'x' then
      q = (tonumber(vals[j]) or 0) + add
      if q < floor then q = floor end
    end
    if q > 0 then
      set[ns + 1], set[ns + 2], ns = fields[j], q, ns + 2
    elseif vals[j] then
      nd = nd + 1
      dels[nd] = fields[j]
    end
  end
  local sn = tonumber(vals[4]) or 0
  local sn_before = sn
  i = s0
  while i < p do
    j = j + 1
    if not vals[j] then sn = sn + 1 end
    local members = extend_session(live_session(vals[j]), U, i + 2, U[i + 1])
    if members then
      set[ns + 1], set[ns + 2], ns = fields[j], base_s .. ' ' .. cjson.encode(members), ns + 2
    end
    i = i + 2 + U[i + 1]
  end
  if sn ~= sn_before and sn <= 2 * sessions_cap then
    set[ns + 1], set[ns + 2], ns = 'sn', INT[sn], ns + 2
  end
  local nr, expire_recent = tonumber(vals[3]), false
  if n_recent > 0 then
    local added = call('ZADD', rkey, 'GT', unpack(U, r0, r0 + n_recent - 1))
    if nr == nil then  -- not counted yet: count, and trim if over the cap
      nr, expire_recent = call('ZCARD', rkey), true
      if nr > recent_cap then
        trim(rkey, recent_cap)
        nr = recent_cap
      end
      set[ns + 1], set[ns + 2], ns = 'nr', INT[nr], ns + 2
    elseif added > 0 then
      expire_recent = nr == 0  -- possibly a new key
      nr = nr + added
      if nr > recent_cap then
        trim(rkey, recent_cap)
        nr = recent_cap
      end
      set[ns + 1], set[ns + 2], ns = 'nr', INT[nr], ns + 2
    end
  end
  local x = tonumber(vals[2])
  local renew = x == nil or base - x > user_ttl / 2
  if renew then set[ns + 1], set[ns + 2], ns = 'x', base_s, ns + 2 end
  if ns > 0 then call('HSET', key, unpack(set, 1, ns)) end
  if nd > 0 then call('HDEL', key, unpack(dels, 1, nd)) end
  if sn > 2 * sessions_cap then call('HSET', key, 'sn', prune_sessions(key)) end
  if renew then expire(key, user_ttl) end
  if renew or expire_recent then expire(rkey, user_ttl) end
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
    call('SET', ref_key, base_s)
  end
  zset_add(key, trending, factor)
  trim(key, cfg.trending_cap)
end

-- anonymous sessions: session, n, item ... (n distinct new views); a session's views are
-- one JSON array (one GET, one SET with its TTL). Then the co-views of every session.
local session_pre, session_post = cfg.session_key[1], cfg.session_key[2]
local S = b.sessions
local p, n_s = 1, #S
while p <= n_s do
  local key, n, i0 = session_pre .. S[p] .. session_post, S[p + 1], p + 2
  p = i0 + n
  local members = extend_session(call('GET', key), S, i0, n)
  if members then call('SET', key, cjson.encode(members), 'EXAT', INT[base + session_ttl]) end
end
for item, row in pairs(coviews) do
  local key, flat = cfg.coview_prefix .. item, {}
  for other, n in pairs(row) do
    flat[#flat + 1], flat[#flat + 2] = other, n
  end
  zset_add(key, flat, 1)
  trim(key, cfg.coview_cap)
  expire(key, cfg.coview_ttl)
end

-- live metrics: key n (INCRBY); active users: key user ... (PFADD); catviews: key item n ...
-- (summed here per category)
for _, op in ipairs(b.live) do
  call('INCRBY', op[1], op[2])
  expire(op[1], cfg.live_ttl)
end
for _, op in ipairs(b.active) do
  call('PFADD', unpack(op))
  expire(op[1], cfg.live_ttl)
end
for _, op in ipairs(b.catviews) do
  local per_cat, flat = {}, {op[1]}
  for i = 2, #op, 2 do
    local cat = category(op[i])
    if cat then per_cat[cat] = (per_cat[cat] or 0) + op[i + 1] end
  end
  for cat, n in pairs(per_cat) do flat[#flat + 1], flat[#flat + 2] = cat, n end
  if #flat > 1 then
    hash_add(op[1], flat, 2)
    expire(op[1], cfg.live_ttl)
  end
end

local sent_ms = ARGV[2]
for key, ids in pairs(b.seen) do
  for s = 1, #ids, CHUNK do
    local args = {'HSET', key}
    for i = s, math.min(s + CHUNK - 1, #ids) do
      args[#args + 1] = ids[i]
      args[#args + 1] = sent_ms
    end
    call(unpack(args))
  end
  expire(key, cfg.seen_ttl)
end
return 1
