/** The Lua scripts: each runs atomically in Redis, so a message is never both in a queue and gone from it. */

/** Sets `now` to Redis's clock in milliseconds: the one clock of every node's liveness. */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Renews this node's liveness and takes the nodes past theirs out of the set, by Redis's clock (one
 * clock for every node). KEYS[1]: the nodes' sorted set; ARGV: node, timeout ms. Returns the dead
 * nodes this call took out (only one node's call can take out each, and that node returns its
 * deliveries), then the live ones, then 1 when this node was not in the set (new, or taken for dead).
 */
export const RENEW_AND_REAP = `
${NOW_MS}local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, node in ipairs(dead) do redis.call('ZREM', KEYS[1], node) end
return { dead, redis.call('ZRANGE', KEYS[1], 0, -1), added }
`;

/**
 * A topology change: its write (ARGV[1] "hset", "hdel", "sadd" or "srem" of ARGV[2] with value
 * ARGV[3] on KEYS[2]), a new version from the counter KEYS[1], and its announcement on channel
 * ARGV[4] as "VERSION CHANGE-JSON" (ARGV[5]), as one step. Returns the version (0 for an "sadd"
 * of a member there already: nothing changed, nothing announced) and the nodes alive in the
 * liveness set KEYS[3] at that moment, the ones that must apply it.
 */
export const CHANGE_TOPOLOGY = `
${NOW_MS}local live = redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')
local op = ARGV[1]
if op == 'hset' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
elseif op == 'hdel' then redis.call('HDEL', KEYS[2], ARGV[2])
elseif op == 'sadd' then
  if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return { 0, live } end
elseif op == 'srem' then redis.call('SREM', KEYS[2], ARGV[2]) end
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[5])
return { version, live }
`;

/**
 * Returns a node's deliveries to their queue: each pending entry of consumer ARGV[2] is added again
 * at the tail with its return count plus one, then acknowledged and deleted. KEYS[1]: the queue's
 * stream; ARGV: group, consumer. Returns how many went back.
 */
export const RETURN_PENDING = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local moved = 0
while true do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100, ARGV[2])
  if #pending == 0 then break end
  for _, entry in ipairs(pending) do
    local id = entry[1]
    local found = redis.call('XRANGE', KEYS[1], id, id)
    if #found > 0 then
      local fields = found[1][2]
      local returns = 0
      local copy = {}
      for i = 1, #fields, 2 do
        if fields[i] == 'r' then returns = tonumber(fields[i + 1]) else
          copy[#copy + 1] = fields[i]
          copy[#copy + 1] = fields[i + 1]
        end
      end
      copy[#copy + 1] = 'r'
      copy[#copy + 1] = tostring(returns + 1)
      redis.call('XADD', KEYS[1], '*', unpack(copy))
      moved = moved + 1
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  end
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return moved
`;

/**
 * Claims node name ARGV[1] at start: unless the live set KEYS[1] has it alive (by Redis's clock),
 * adds it with a liveness of ARGV[2] ms. Returns {0, now} when claimed, else {its expiry, now}.
 */
export const CLAIM_NAME = `
${NOW_MS}local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then return { tonumber(expiry), now } end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return { 0, now }
`;

/**
 * Takes lease KEYS[1] for node ARGV[1] unless another node holds it, or renews it for ARGV[2] ms.
 * Returns 1 when the node holds it.
 */
export const CLAIM_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Gives up lease KEYS[1] if node ARGV[1] holds it, and says so on channel ARGV[2]. */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], KEYS[1])
return 1
`;

/**
 * Makes a queue's stream and its group unless they exist, only while the queue is declared (its
 * field ARGV[2] in the vhost's topology hash KEYS[2]): a node that applies a declare late, or
 * reads a queue deleted meanwhile, does not make an orphan stream. KEYS[1]: the stream; ARGV[1]:
 * group. Returns 1 when the stream is there, 0 when the queue is not declared.
 */
export const ENSURE_GROUP = `
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if not ok and not string.find(tostring(err), 'BUSYGROUP') then return redis.error_reply(tostring(err)) end
return 1
`;

/**
 * The id of the last entry the group delivered ('0-0' before any): every entry after it is
 * ready (no node holds it); every entry at or before it is held by a node (acknowledged ones are deleted).
 */
const LAST_DELIVERED_FUNCTION = `
local function lastDelivered(stream, group)
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)
  if not ok then return '0-0' end
  for _, info in ipairs(groups) do
    local name, id
    for i = 1, #info, 2 do
      if info[i] == 'name' then name = info[i + 1] elseif info[i] == 'last-delivered-id' then id = info[i + 1] end
    end
    if name == group then return id end
  end
  return '0-0'
end
`;

/**
 * Appends a turn's messages to a queue's stream in one call; ARGV[1]: group, ARGV[2]: the
 * node, ARGV[3]: the most ready messages the queue keeps (x-max-length with drop-head; -1: no
 * limit), then meta and payload for each. Past the limit the oldest ready entries are read for
 * the node (pending under it, as any read), which dead-letters them and removes them in one
 * step, or leaves them pending for another node to return should it die first. Returns how many
 * were added, then each entry read ([id, fields]); {-1} when the stream is not there (the queue
 * was deleted, or Redis lost it): then none is added, as XADD NOMKSTREAM would not.
 */
export const ADD_MESSAGES = `
if redis.call('EXISTS', KEYS[1]) == 0 then return { -1 } end
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[i], 'p', ARGV[i + 1])
end
local result = { (#ARGV - 3) / 2 }
local limit = tonumber(ARGV[3])
if limit >= 0 then
  local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
  local pending = 0
  if ok then pending = summary[1] end
  local over = redis.call('XLEN', KEYS[1]) - pending - limit
  if over > 0 then
    local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', over, 'STREAMS', KEYS[1], '>')
    if read then
      for _, entry in ipairs(read[1][2]) do result[#result + 1] = entry end
    end
  end
end
return result
`;

/**
 * Several queues' writes as one step: a dead-lettered message leaves its queue and reaches the
 * queues its dead-letter exchange routes it to together, or not at all (docs/clustering.md).
 * KEYS: the streams; ARGV[1]: group, then per write "a", key index, meta, payload (an add, skipped
 * for a stream that is gone) or "d", key index, id (acknowledged and deleted).
 */
export const APPLY_WRITES = `
local i = 2
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i + 1])]
  if ARGV[i] == 'a' then
    if redis.call('EXISTS', key) == 1 then redis.call('XADD', key, '*', 'm', ARGV[i + 2], 'p', ARGV[i + 3]) end
    i = i + 4
  else
    redis.call('XACK', key, ARGV[1], ARGV[i + 2])
    redis.call('XDEL', key, ARGV[i + 2])
    i = i + 3
  end
end
return 1
`;

/**
 * Reads for node ARGV[2] the expired messages at the head of what no node holds (as RabbitMQ
 * expires at a queue's head): pending under the node, which dead-letters them and removes them
 * in one step (or another node returns them should it die first). KEYS[1]: the stream; ARGV[1]:
 * group, ARGV[3]: now (ms). Returns each entry read ([id, fields]), 1,000 at most (the next sweep
 * goes on), so that a backlog expiring at once does not hold Redis up.
 */
export const EXPIRE_READY = `${LAST_DELIVERED_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local now = tonumber(ARGV[3])
local expired = 0
local from = '(' .. lastDelivered(KEYS[1], ARGV[1])
local function take()
  if expired == 0 then return {} end
  return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', expired, 'STREAMS', KEYS[1], '>')[1][2]
end
while true do
  local entries = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 100)
  if #entries == 0 then return take() end
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    local expiresAt
    for i = 1, #fields, 2 do
      if fields[i] == 'm' then
        local ok, meta = pcall(cjson.decode, fields[i + 1])
        if ok and type(meta) == 'table' then expiresAt = meta[5] end
      end
    end
    -- Not Warren's, or no expiry: the head stays, and what is behind it (as RabbitMQ does).
    if type(expiresAt) ~= 'number' or expiresAt >= now or expired >= 1000 then return take() end
    expired = expired + 1
  end
  from = '(' .. entries[#entries][1]
end
`;

/**
 * Gives back messages a node fetched and has no consumer for: each is added again at the tail
 * with the return count the node gives, then acknowledged and deleted. KEYS[1]: the queue's
 * stream; ARGV: group, then id, meta, payload, returns for each message. Nothing when the queue is gone.
 */
export const GIVE_BACK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 4 do
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[i + 1], 'p', ARGV[i + 2], 'r', ARGV[i + 3])
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
return (#ARGV - 1) / 4
`;

/**
 * How many messages of a queue no node holds: the stream's length (acknowledged entries are
 * deleted) less the pending ones. KEYS[1]: the stream; ARGV[1]: group.
 */
export const READY_COUNT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
local pending = 0
if ok then pending = summary[1] end
return math.max(0, redis.call('XLEN', KEYS[1]) - pending)
`;

/**
 * Purges what no node holds: the entries after the group's last-delivered id (every entry at or
 * before it was delivered, and is still there only while pending). KEYS[1]: the stream; ARGV[1]:
 * group. Returns how many went.
 */
export const PURGE_READY = `${LAST_DELIVERED_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = lastDelivered(KEYS[1], ARGV[1])
local removed = 0
while true do
  local entries = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1000)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    redis.call('XDEL', KEYS[1], entry[1])
    removed = removed + 1
  end
  last = entries[#entries][1]
end
return removed
`;

// Stream queues (docs/clustering.md, "Stream queues"): entries in a Redis stream with ids "1-N",
// N the offset (XADD with an explicit id of "1-" and the state's next); the state in a hash
// (keys.ts, streamStateKey). Each script that changes it announces "STATE-KEY FIRST NEXT BYTES".

/**
 * Drops entries oldest first while the stream is over ARGV[3] bytes (metadata and payload; 0: no
 * limit) or its oldest entry is older than ARGV[4] ms before ARGV[2] (0: no limit), never the
 * last entry; updates the state and returns first, next, bytes, ts.
 */
const STREAM_TRIM_FUNCTION = `
local function trim(stream, state, now, maxBytes, maxAge)
  local first = tonumber(redis.call('HGET', state, 'first'))
  local nextOffset = tonumber(redis.call('HGET', state, 'next'))
  local bytes = tonumber(redis.call('HGET', state, 'bytes'))
  local cut = first
  -- Nothing to read when no limit is passed: an append must not read the stream's head each time.
  local keep = maxAge <= 0 and (maxBytes <= 0 or bytes <= maxBytes)
  while not keep and cut < nextOffset - 1 do
    local entries = redis.call('XRANGE', stream, '1-' .. cut, '+', 'COUNT', 10)
    if #entries == 0 then break end
    for _, entry in ipairs(entries) do
      local fields = entry[2]
      local old = maxAge > 0 and tonumber(fields[2]) < now - maxAge
      if cut >= nextOffset - 1 or not (old or (maxBytes > 0 and bytes > maxBytes)) then
        keep = true
        break
      end
      bytes = bytes - #fields[4] - #fields[6]
      cut = tonumber(string.sub(entry[1], 3)) + 1
    end
  end
  if cut > first then
    redis.call('XTRIM', stream, 'MINID', '1-' .. cut)
    redis.call('HSET', state, 'first', cut, 'bytes', bytes)
  end
  return { cut, nextOffset, bytes, tonumber(redis.call('HGET', state, 'ts')) }
end
local function announce(channel, state, result)
  redis.call('PUBLISH', channel, state .. ' ' .. result[1] .. ' ' .. result[2] .. ' ' .. result[3])
  return result
end
`;

/**
 * Makes a stream queue's state unless it exists, only while the queue is declared (field ARGV[1]
 * of the topology hash KEYS[2]), with offsets going on from ARGV[2] (0 for a new stream; what a
 * node knew when Redis lost the state), or after the last entry KEYS[3] still has, if further.
 * KEYS[1]: the state. Returns 1 when it is there.
 */
export const STREAM_ENSURE = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  local nextOffset = tonumber(ARGV[2])
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #last > 0 then nextOffset = math.max(nextOffset, tonumber(string.sub(last[1][1], 3)) + 1) end
  redis.call('HSET', KEYS[1], 'first', nextOffset, 'next', nextOffset, 'bytes', 0, 'ts', 0)
end
return 1
`;

/**
 * Appends a turn's messages: each gets the next offset and the timestamp ARGV[2] (raised to the
 * last entry's, so that timestamps never go back); then the byte limit ARGV[3] is applied.
 * KEYS[1]: the entries, KEYS[2]: the state; ARGV[1]: the streams channel; then meta and payload
 * of each message. Returns first, next, bytes, ts; {-1} when the state is missing (the queue was
 * deleted, or Redis lost it), and then nothing is added.
 */
export const STREAM_APPEND = `${STREAM_TRIM_FUNCTION}
if redis.call('EXISTS', KEYS[2]) == 0 then return { -1 } end
local now = math.max(tonumber(ARGV[2]), tonumber(redis.call('HGET', KEYS[2], 'ts')))
local nextOffset = tonumber(redis.call('HGET', KEYS[2], 'next'))
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes'))
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '1-' .. nextOffset, 't', now, 'm', ARGV[i], 'p', ARGV[i + 1])
  nextOffset = nextOffset + 1
  bytes = bytes + #ARGV[i] + #ARGV[i + 1]
end
redis.call('HSET', KEYS[2], 'next', nextOffset, 'bytes', bytes, 'ts', now)
return announce(ARGV[1], KEYS[2], trim(KEYS[1], KEYS[2], now, tonumber(ARGV[3]), 0))
`;

/** Retention now: KEYS and ARGV[1] as STREAM_APPEND; ARGV[2]: now, ARGV[3]: max bytes, ARGV[4]: max age ms. */
export const STREAM_TRIM = `${STREAM_TRIM_FUNCTION}
if redis.call('EXISTS', KEYS[2]) == 0 then return { -1 } end
return announce(ARGV[1], KEYS[2], trim(KEYS[1], KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])))
`;

/** Stores consumer group ARGV[2]'s committed offset ARGV[3] in the state KEYS[1] and announces it on ARGV[1]. */
export const STREAM_COMMIT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'g:' .. ARGV[2], ARGV[3])
redis.call('PUBLISH', ARGV[1], KEYS[1] .. ' g ' .. ARGV[3] .. ' ' .. ARGV[2])
return 1
`;

/** The first offset whose timestamp is ARGV[1] or later (next when none): a binary search of KEYS[1], the state in KEYS[2]. */
export const STREAM_AT_TIME = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local low = tonumber(redis.call('HGET', KEYS[2], 'first'))
local high = tonumber(redis.call('HGET', KEYS[2], 'next'))
local ms = tonumber(ARGV[1])
while low < high do
  local middle = math.floor((low + high) / 2)
  local entries = redis.call('XRANGE', KEYS[1], '1-' .. middle, '+', 'COUNT', 1)
  if #entries == 0 or tonumber(entries[1][2][2]) < ms then low = middle + 1 else high = middle end
end
return low
`;
