/**
 * The Lua scripts of the Upstash store. Each runs atomically in redis, so each is one step of
 * the store's contract; `UpstashStore` calls them by SHA and resends the text on NOSCRIPT.
 * Numbers cross as decimal strings and are written back with '%.0f', which keeps every integer
 * up to Number.MAX_SAFE_INTEGER exact (Lua numbers are doubles).
 */

/**
 * Classifies and stores one channel's deltas in order, appending each stored one to a shard of
 * the region log. KEYS: records, arrivals, heads, replay guard, the shard's log counter, its log
 * entries, equivocations, the equivocation counter, the legacy log's counter. ARGV: slot key
 * prefix, guard TTL, origin, channel, then id, author, seq, sig, body per delta. Returns
 * "a<arrival>" | "d" | "e<arrival>:<existing id>" per delta, comma-separated. A second body for
 * a taken seq is stored as well (the slot keeps the first) and recorded in the equivocations
 * sorted set, scored by its number: one above the equivocation counter and the legacy log's
 * counter (equivocations of a store written before the log was sharded were numbered by their
 * log entry). Each delta's checks come before its writes, and nothing after its first write can
 * fail, so no delta is half-written and the log holds exactly the stored ones. A replayed call
 * (same guard key) writes nothing.
 */
export const PUT_SCRIPT = `
local done = redis.call('GET', KEYS[4])
if done then return done end
local out = {}
local logged = tonumber(redis.call('GET', KEYS[5]) or '0')
local equivocated = nil
local tag = ARGV[3] .. ' ' .. ARGV[4] .. ' '
local stored = 0
for i = 5, #ARGV, 5 do
  local id, author, seq, sig, body = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local slots = ARGV[1] .. author
  local existing = redis.call('HGET', slots, seq)
  if existing == id or (existing and redis.call('HEXISTS', KEYS[1], id) == 1) then
    out[#out + 1] = 'd'
  else
    local n, c, m, k = tonumber(seq), 0, 0, 0
    local head = redis.call('HGET', KEYS[3], author)
    if head then
      local hc, hm, hk = string.match(head, '^(%d+) (%d+) (%d+)$')
      c, m, k = tonumber(hc), tonumber(hm), tonumber(hk)
    end
    redis.call('HSET', KEYS[1], id, seq .. ' ' .. author .. ' ' .. sig .. ' ' .. body)
    local arrival = redis.call('RPUSH', KEYS[2], id)
    k = k + 1
    if not existing then
      redis.call('HSET', slots, seq, id)
      if n > m then m = n end
    end
    while c < m and redis.call('HEXISTS', slots, string.format('%.0f', c + 1)) == 1 do
      c = c + 1
    end
    redis.call('HSET', KEYS[3], author, string.format('%.0f %.0f %.0f', c, m, k))
    logged = logged + 1
    stored = stored + 1
    redis.call('HSET', KEYS[6], string.format('%.0f', logged), tag .. id)
    if existing then
      if not equivocated then
        equivocated = math.max(tonumber(redis.call('GET', KEYS[8]) or '0'),
          tonumber(redis.call('GET', KEYS[9]) or '0'))
      end
      equivocated = equivocated + 1
      local at = string.format('%.0f', equivocated)
      redis.call('ZADD', KEYS[7], at,
        at .. ' ' .. author .. ' ' .. seq .. ' ' .. id .. ' ' .. existing .. ' ' .. ARGV[4])
      out[#out + 1] = string.format('e%.0f:', arrival) .. existing
    else
      out[#out + 1] = string.format('a%.0f', arrival)
    end
  end
end
if stored > 0 then redis.call('SET', KEYS[5], string.format('%.0f', logged)) end
if equivocated then redis.call('SET', KEYS[8], string.format('%.0f', equivocated)) end
local result = table.concat(out, ',')
redis.call('SET', KEYS[4], result, 'EX', ARGV[2])
return result
`;

/**
 * Reads an author's head, carrying `contiguous` over the stored seqs right above it and storing
 * the repaired head (one an older version left short, issue 16). KEYS: heads, the author's slots.
 * ARGV: author. Returns "<contiguous> <max> <count>" or false.
 */
export const HEAD_SCRIPT = `
local head = redis.call('HGET', KEYS[1], ARGV[1])
if not head then return false end
local hc, hm, hk = string.match(head, '^(%d+) (%d+) (%d+)$')
local c, m = tonumber(hc), tonumber(hm)
local was = c
while c < m and redis.call('HEXISTS', KEYS[2], string.format('%.0f', c + 1)) == 1 do
  c = c + 1
end
if c == was then return head end
local repaired = string.format('%.0f ', c) .. hm .. ' ' .. hk
redis.call('HSET', KEYS[1], ARGV[1], repaired)
return repaired
`;

/**
 * Reads a page of equivocations. KEYS: equivocations sorted set. ARGV: after, limit. Returns
 * {entry, entry, ...} with scores above `after`, in order, at most `limit` + 1 (one more than
 * asked tells the caller there are more).
 */
export const EQUIVOCATIONS_SCRIPT = `
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', after), '+inf',
  'LIMIT', 0, limit + 1)
`;

/**
 * Reads change marks in one step. KEYS: the channels' arrival lists, then the equivocation
 * counter. Returns {arrivals of each channel..., the counter}.
 */
export const MARKS_SCRIPT = `
local out = {}
for i = 1, #KEYS - 1 do out[i] = redis.call('LLEN', KEYS[i]) end
out[#KEYS] = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
return out
`;

/**
 * Reads a page of arrivals. KEYS: records, arrivals. ARGV: after, limit, page byte budget.
 * Returns {total arrivals, id, record, id, record, ...}; at least one record when any is due.
 */
export const LIST_SCRIPT = `
local after, limit, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {redis.call('LLEN', KEYS[2])}
if limit < 1 then return out end
local ids = redis.call('LRANGE', KEYS[2], after, after + limit - 1)
local bytes = 0
for i, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[1], id)
  if i > 1 and bytes + #record > budget then break end
  bytes = bytes + #record
  out[#out + 1] = id
  out[#out + 1] = record
end
return out
`;

/**
 * Reads a page of one shard of the region log. KEYS: its counter, its entries. ARGV: after,
 * limit. Returns
 * {last n as a string, entry n = after + 1, entry after + 2, ...}, each entry
 * "<origin> <channel> <id>".
 */
export const LOG_SCRIPT = `
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local out = {string.format('%.0f', last)}
local n = after + 1
while n <= last and n <= after + limit do
  out[#out + 1] = redis.call('HGET', KEYS[2], string.format('%.0f', n))
  n = n + 1
end
return out
`;

/**
 * Moves a named cursor forward, never back. KEYS: cursors hash. ARGV: name, n. Returns the
 * cursor after, as a string.
 */
export const CURSOR_SCRIPT = `
local at = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local n = tonumber(ARGV[2])
if n > at then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  at = n
end
return string.format('%.0f', at)
`;

/**
 * Takes or renews a lease (the rule of `grantLease` in _lease.ts). KEYS: leases hash. ARGV:
 * name, holder, ttlMs, nowMs. Leases are stored as "<epoch> <expiresAtMs> <holder>" (the holder
 * last, so it may hold any character). Returns the lease after the call in that form.
 */
export const LEASE_SCRIPT = `
local holder, ttl, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local current = redis.call('HGET', KEYS[1], ARGV[1])
local epoch, expires = 1, now + ttl
if current then
  local e, x, h = string.match(current, '^(%d+) (%d+) (.*)$')
  e, x = tonumber(e), tonumber(x)
  if now >= x then
    epoch = e + 1
  elseif h ~= holder then
    return current
  else
    epoch = e
    if x > expires then expires = x end
  end
end
local lease = string.format('%.0f %.0f ', epoch, expires) .. holder
redis.call('HSET', KEYS[1], ARGV[1], lease)
return lease
`;

/**
 * Gives a lease up if `holder` holds it (the rule of `releasedLease` in _lease.ts): expiry 0,
 * same holder and epoch. KEYS: leases hash. ARGV: name, holder. Returns 1 when it changed.
 */
export const RELEASE_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local e, x, h = string.match(current, '^(%d+) (%d+) (.*)$')
if h ~= ARGV[2] or x == '0' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], e .. ' 0 ' .. h)
return 1
`;

/**
 * Draws from token buckets (the rule of `drawTokens` in _token_bucket.ts, with the same
 * arithmetic in the same order). KEYS: the distinct buckets. ARGV: TTL margin ms, TTL max ms, then
 * per request: key index (1-based), nowMs, cost, ratePerSecond, burst — applied in order, so a
 * request sees the earlier draws on its bucket. Buckets are stored as "<tokens> <atMs>" ('%.17g'
 * keeps a double exact) with a PX expiry a little past the time they are full again. Returns one
 * "<allowed 0|1> <retryAfterMs> <remaining>" per request.
 */
export const TOKEN_SCRIPT = `
local margin, ttlMax = tonumber(ARGV[1]), tonumber(ARGV[2])
local level, at, written, out = {}, {}, {}, {}
for i = 3, #ARGV, 5 do
  local k, now = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local cost, rate, burst = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  if level[k] == nil then
    local stored = redis.call('GET', KEYS[k])
    if stored then
      local t, a = string.match(stored, '^(%S+) (%S+)$')
      level[k], at[k] = tonumber(t), tonumber(a)
    else
      level[k], at[k] = false, false
    end
  end
  local tokens, atMs = level[k], at[k]
  if tokens == false then tokens, atMs = burst, now end
  local elapsed = now - atMs
  if elapsed < 0 then elapsed = 0 end
  local have = math.min(burst, tokens + elapsed * rate / 1000)
  if have >= cost then
    local left = math.min(burst, have - cost)
    if now > atMs then atMs = now end
    level[k], at[k] = left, atMs
    local full = math.ceil((burst - left) * 1000 / rate)
    if full < 0 then full = 0 end
    written[k] = math.min(ttlMax, full + margin)
    out[#out + 1] = '1 0 ' .. string.format('%.0f', math.floor(left))
  else
    local wait = math.ceil((cost - tokens) * 1000 / rate - elapsed)
    if wait < 1 then wait = 1 end
    out[#out + 1] = '0 ' .. string.format('%.0f %.0f', wait, math.floor(have))
  end
end
for k, ttl in pairs(written) do
  redis.call('SET', KEYS[k], string.format('%.17g %.17g', level[k], at[k]), 'PX', string.format('%.0f', ttl))
end
return out
`;
