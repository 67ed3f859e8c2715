"""Server-side scripts for the store: the write path and range reads of a day chunk.

Kept apart from store.py so the Lua can be read on its own. Records are 12 bytes: a
little-endian uint32 (ms since the chunk's UTC midnight) then a float64 value.
"""

# KEYS[1] = latest hash; KEYS[2] = the batch-notice stream; KEYS[3..] = one chunk key per
# group. ARGV[1] = who wrote the batch, ARGV[2] = notice stream length to keep (approx.),
# ARGV[3] = ms a chunk is kept after its day starts (set when the chunk is made); ARGV[4] =
# per group "<series field>\n<day start ms>\n<count>\n"; ARGV[5] = the records of every
# group, one group after the other, each group's in strictly increasing time. Late samples
# are returned by their index among all the records sent.
# The records accepted are also appended, in the same script (so atomically), to the
# notice stream: field "src" (the writer) and field "b", per group
# "<series field>\n<day start ms>\n<count>\n" then count 12-byte records. So every
# process's rules engine evaluates every stored batch, whoever wrote it.
# Returns {accepted, duplicates, {indexes of late samples}, notice id or false}.
WRITE = r"""
local function ms_at(s, o)
  local b1, b2, b3, b4 = string.byte(s, o, o + 3)
  return b1 + b2 * 256 + b3 * 65536 + b4 * 16777216
end

local function stored(key, rec, ms)
  local lo, hi = 0, math.floor(redis.call('STRLEN', key) / 12) - 1
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local r = redis.call('GETRANGE', key, mid * 12, mid * 12 + 11)
    local t = ms_at(r, 1)
    if t == ms then return r == rec end
    if t < ms then lo = mid + 1 else hi = mid - 1 end
  end
  return false
end

local keep_for = tonumber(ARGV[3])
-- the groups: {series field, day start ms as text, number of records}
local groups = {}
for field, day_text, count in string.gmatch(ARGV[4], '([^\n]+)\n(%d+)\n(%d+)\n') do
  groups[#groups + 1] = {field, day_text, tonumber(count)}
end

-- the newest stored sample of every series in the batch, read in one call per 1,000:
-- {ms, packed value}, or {-1, ''} for a series with none yet
local latest = {}
local fields = {}
for _, group in ipairs(groups) do
  if latest[group[1]] == nil then
    latest[group[1]] = false
    fields[#fields + 1] = group[1]
  end
end
for i = 1, #fields, 1000 do
  local last = math.min(i + 999, #fields)
  local got = redis.call('HMGET', KEYS[1], unpack(fields, i, last))
  for j = i, last do
    local v = got[j - i + 1]
    if v then
      local sep = string.find(v, '|', 1, true)
      latest[fields[j]] = {tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)}
    else
      latest[fields[j]] = {-1, ''}
    end
  end
end

local changed = {}
local notice = {}
local accepted, duplicates, late = 0, 0, {}
local first = 0
for k, group in ipairs(groups) do
  local key = KEYS[k + 2]
  local field, day_text, n = group[1], group[2], group[3]
  local daybase = tonumber(day_text)
  local blob = string.sub(ARGV[5], first * 12 + 1, (first + n) * 12)
  local cur = latest[field]
  local parts = {}
  if daybase + ms_at(blob, 1) > cur[1] then
    parts[1] = blob
    local last = (n - 1) * 12 + 1
    cur = {daybase + ms_at(blob, last), string.sub(blob, last + 4, last + 11)}
    accepted = accepted + n
  else
    for j = 0, n - 1 do
      local o = j * 12 + 1
      local ms = ms_at(blob, o)
      local rec = string.sub(blob, o, o + 11)
      if daybase + ms > cur[1] then
        parts[#parts + 1] = rec
        cur = {daybase + ms, string.sub(rec, 5)}
        accepted = accepted + 1
      elseif stored(key, rec, ms) then
        duplicates = duplicates + 1
      else
        late[#late + 1] = first + j
      end
    end
  end
  if #parts > 0 then
    local records = table.concat(parts)
    notice[#notice + 1] = field .. '\n' .. day_text .. '\n'
      .. string.format('%d', #records / 12) .. '\n' .. records
    -- a day's chunk expires at a time fixed by its day: set once, when it is made
    if redis.call('APPEND', key, records) == #records then
      redis.call('PEXPIREAT', key, string.format('%d', daybase + keep_for))
    end
    latest[field] = cur
    changed[#changed + 1] = field
  end
  first = first + n
end
-- HSET in slices: unpack() of more than a few thousand values fails in Lua
local args = {}
for i, field in ipairs(changed) do
  args[#args + 1] = field
  args[#args + 1] = string.format('%d', latest[field][1]) .. '|' .. latest[field][2]
  if #args >= 2000 or i == #changed then
    redis.call('HSET', KEYS[1], unpack(args))
    args = {}
  end
end
local notice_id = false
if #notice > 0 then
  notice_id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'src', ARGV[1],
                         'b', table.concat(notice))
end
return {accepted, duplicates, late, notice_id}
"""

# KEYS = chunk keys; ARGV = pairs of (from ms, to ms) within each chunk's day, inclusive.
# Returns the records of each chunk in that span (binary search, so cost is log n + span).
RANGE = r"""
local function ms_at(s, o)
  local b1, b2, b3, b4 = string.byte(s, o, o + 3)
  return b1 + b2 * 256 + b3 * 65536 + b4 * 16777216
end

local function first_at_or_after(key, n, ms)
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if ms_at(redis.call('GETRANGE', key, mid * 12, mid * 12 + 3), 1) < ms then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

local out = {}
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = math.floor(redis.call('STRLEN', key) / 12)
  local from_ms, to_ms = tonumber(ARGV[2 * k - 1]), tonumber(ARGV[2 * k])
  local lo = first_at_or_after(key, n, from_ms)
  local hi = first_at_or_after(key, n, to_ms + 1)
  if hi > lo then
    out[k] = redis.call('GETRANGE', key, lo * 12, hi * 12 - 1)
  else
    out[k] = ''
  end
end
return out
"""

# The worker lease: KEYS[1] = lease key; ARGV[1] = owner, ARGV[2] = ttl in ms.
# Renew only a lease we still hold (never extend a standby's that took over).
RENEW_LEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE_LEASE = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# The events stream, with ids that follow the time of each event. KEYS[1] = the stream;
# ARGV = 4 per event: its time in ms (rounded up), kind, at (seconds, as text), data (JSON).
# Each is appended with id "max(ms, ms of the stream's last id)-*", so ids never go
# backwards and every event's id is at or after its own time: a read of a time range is a
# read of an id range. Returns the ids given.
APPEND_EVENTS = r"""
local last = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      last = tonumber(string.match(info[i + 1], '^(%d+)'))
    end
  end
end
local ids = {}
for i = 1, #ARGV, 4 do
  local ms = math.max(tonumber(ARGV[i]), last)
  ids[#ids + 1] = redis.call('XADD', KEYS[1], string.format('%d-*', ms), 'kind', ARGV[i + 1],
                             'at', ARGV[i + 2], 'data', ARGV[i + 3])
  last = ms
end
return ids
"""

# KEYS = streams. Returns each stream's last-generated-id ('' when it does not exist): what a
# web process compares to know whether anything was stored or recorded since it last looked.
LAST_IDS = r"""
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = ''
  if redis.call('EXISTS', key) == 1 then
    local info = redis.call('XINFO', 'STREAM', key)
    for j = 1, #info, 2 do
      if info[j] == 'last-generated-id' then out[i] = info[j + 1] end
    end
  end
end
return out
"""
