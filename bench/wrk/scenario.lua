-- One benchmark scenario for wrk, configured by environment variables:
--
--   BENCH_METHOD     GET or POST
--   BENCH_PATH       request path ("{poll}" is replaced by BENCH_POLL)
--   BENCH_BODY       none | create | send | incr | vote | block
--   BENCH_TOKENS     file with one bearer credential per line
--   BENCH_GZIP       1: send Accept-Encoding: gzip
--   BENCH_IF_NONE_MATCH  an entity tag to send as If-None-Match (a revalidating client)
--   BENCH_UNIQUE     1: every request uses the next unused credential (distinct voters);
--                    a thread stops when its share runs out
--   BENCH_MAX        at most this many requests in all (shared out between threads)
--   BENCH_POLL, BENCH_POLL_TYPE, BENCH_OPTIONS (comma-separated option ids)
--   BENCH_TAG        makes generated user ids unique to one run
--   BENCH_THREADS    wrk's -t; BENCH_CONNECTIONS wrk's -c
--   BENCH_DEBUG      1: print the first error responses
--
-- done() prints one line: "WRKJSON {...}" with counts, errors and latency
-- percentiles in microseconds, and the time the last thread stopped.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]

local function now()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- setup() and done() run in their own Lua state. wrk calls each thread's init()
-- right after that thread's setup(), before the next thread exists, so the
-- thread count comes from BENCH_THREADS (wrk's -t) rather than from counting.
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local method, path, body_kind, unique, gzip, if_none_match
local tokens, next_token, budget, sent
local options, poll, poll_type, tag

local function split(text, separator)
  local out = {}
  for item in string.gmatch(text or "", "([^" .. separator .. "]+)") do
    table.insert(out, item)
  end
  return out
end

function init(args)
  method = os.getenv("BENCH_METHOD") or "GET"
  poll = os.getenv("BENCH_POLL") or ""
  path = string.gsub(os.getenv("BENCH_PATH"), "{poll}", poll)
  body_kind = os.getenv("BENCH_BODY") or "none"
  unique = os.getenv("BENCH_UNIQUE") == "1"
  gzip = os.getenv("BENCH_GZIP") == "1"
  if_none_match = os.getenv("BENCH_IF_NONE_MATCH") or ""
  poll_type = os.getenv("BENCH_POLL_TYPE") or "POLL_TYPE_SINGLE_CHOICE"
  options = split(os.getenv("BENCH_OPTIONS"), ",")
  tag = os.getenv("BENCH_TAG") or "run"
  thread_total = tonumber(os.getenv("BENCH_THREADS") or "1")
  tokens = {}
  local all = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if line ~= "" then
      -- each thread takes every thread_total-th credential: no two threads share one
      if #all % thread_total == thread_index then
        table.insert(tokens, line)
      end
      table.insert(all, line)
    end
  end
  if #tokens == 0 and not unique then
    tokens = all -- fewer credentials than threads (one API key): share them
  end
  local max = tonumber(os.getenv("BENCH_MAX") or "0")
  budget = math.huge
  if max > 0 then
    budget = math.floor(max / thread_total)
  end
  if unique then
    -- Stop early enough that the requests already on their way when the thread
    -- stops still find unused credentials: no voter ever votes twice.
    local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "64")
    local reserve = 2 * math.ceil(connections / thread_total) + 2
    budget = math.min(budget, #tokens - reserve)
  end
  next_token = 0
  sent = 0
  if os.getenv("BENCH_DEBUG") ~= "1" then
    response = nil
  end
  started_at = now()
  stopped_at = nil
end

local function body(n)
  if body_kind == "create" then
    return '{"custom_counters":[{"key":"like"},{"key":"heart"}]}'
  elseif body_kind == "send" then
    return '{"type":"INTERACTION_TYPE_TEXT","text_message":{"text":"bench message ' .. n .. '"}}'
  elseif body_kind == "incr" then
    return '{"type":"INTERACTION_TYPE_CUSTOM","custom_message":{"value":"",'
      .. '"incr":{"key":"like","value":1}}}'
  elseif body_kind == "vote" then
    local option = options[(n % #options) + 1]
    return '{"vote":{"poll":{"id":"' .. poll .. '","type":"' .. poll_type
      .. '","multi_choice":{"options":[{"id":"' .. option .. '"}]}}}}'
  elseif body_kind == "block" then
    return '{"blocked_user":{"id":"bench-' .. tag .. '-' .. thread_index .. '-' .. n
      .. '","custom_name":"Bench troll"}}'
  end
  return nil
end

-- BENCH_DEBUG=1 prints the first few error responses (parsing them slows wrk down).
local shown = 0

function response(status, headers, body)
  if status >= 300 and shown < 5 then
    shown = shown + 1
    io.stderr:write("HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
  end
end

function request()
  sent = sent + 1
  if sent >= budget then
    -- the last request of this thread's share: send it, then stop
    if stopped_at == nil then
      stopped_at = now()
      wrk.thread:stop()
    end
  end
  local token = tokens[(next_token % #tokens) + 1]
  next_token = next_token + 1
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  if gzip then
    headers["Accept-Encoding"] = "gzip"
  end
  if if_none_match ~= "" then
    headers["If-None-Match"] = if_none_match
  end
  return wrk.format(method, path, headers, body(sent))
end

function done(summary, latency, requests)
  local last_stop = 0
  local stopped = 0
  local started = nil
  for _, t in ipairs(threads) do
    local s = t:get("stopped_at")
    if s ~= nil then
      stopped = stopped + 1
      if s > last_stop then
        last_stop = s
      end
    end
    local b = t:get("started_at")
    if b ~= nil and (started == nil or b < started) then
      started = b
    end
  end
  local errors = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
      .. '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d,'
      .. '"mean":%.1f,"started":%.6f,"last_stop":%.6f,"threads":%d,"stopped":%d}',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, started or 0, last_stop, #threads, stopped
  )
  io.write("WRKJSON " .. out .. "\n")
end
