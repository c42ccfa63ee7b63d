/** The Lua scripts: each runs atomically in Redis, so a message is never both in a queue and gone from it. */

/**
 * Renews this node's liveness and takes the nodes past theirs out of the set, by Redis's clock (one
 * clock for every node). KEYS[1]: the nodes' sorted set; ARGV: node, timeout ms. Returns the dead
 * nodes this call took out (only one node's call can take out each, and that node returns its
 * deliveries), then the live ones, then 1 when this node was not in the set (new, or taken for dead).
 */
export const RENEW_AND_REAP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, node in ipairs(dead) do redis.call('ZREM', KEYS[1], node) end
return { dead, redis.call('ZRANGE', KEYS[1], 0, -1), added }
`;

/**
 * A topology change: its write (ARGV[1] "hset", "hdel", "sadd" or "srem" of ARGV[2] with value
 * ARGV[3] on KEYS[2]), a new version from the counter KEYS[1], and its announcement on channel
 * ARGV[4] as "VERSION CHANGE-JSON" (ARGV[5]), as one step. Returns the version; 0 for an "sadd"
 * of a member there already (nothing changed, nothing announced).
 */
export const CHANGE_TOPOLOGY = `
local op = ARGV[1]
if op == 'hset' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
elseif op == 'hdel' then redis.call('HDEL', KEYS[2], ARGV[2])
elseif op == 'sadd' then
  if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
elseif op == 'srem' then redis.call('SREM', KEYS[2], ARGV[2]) end
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[4], version .. ' ' .. ARGV[5])
return version
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
 * Appends a turn's messages to a queue's stream in one call: ARGV holds meta and payload for
 * each. Returns how many were added, or -1 when the stream is not there (the queue was deleted,
 * or Redis lost it): then none is, as XADD NOMKSTREAM would not.
 */
export const ADD_MESSAGES = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 1, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[i], 'p', ARGV[i + 1])
end
return #ARGV / 2
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
export const PURGE_READY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = '0-0'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, group in ipairs(groups) do
    local name, id
    for i = 1, #group, 2 do
      if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then id = group[i + 1] end
    end
    if name == ARGV[1] then last = id end
  end
end
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
