-- wrk script driven by bench/flash_sale.py: every request is a different buyer, sent once.
--
--   wrk -t T -c C -d MAX -s bench/flash_sale.lua URL -- TOKENS OUT_DIR RUN_ID THREADS
--
-- TOKENS holds one bearer token per line (line i = buyer i-1); thread k of T takes the
-- buyers i with (i-1) % T == k, so the threads partition them and each buyer is sent
-- exactly once. Request k of buyer b carries X-Request-ID = Idempotency-Key = RUN_ID-b;
-- the services echo x-request-id, which pairs each response with the start time taken
-- when its request was written. Each thread writes OUT_DIR/thread-k.tsv
-- (status, start_ns, end_ns, request_id, order_id, error body; CLOCK_MONOTONIC, comparable across
-- threads and with Python's time.monotonic_ns) and, once all its responses are in,
-- OUT_DIR/thread-k.done and stops. wrk's main thread sleeps for -d regardless, so the
-- runner sends wrk SIGINT once every thread is done; -d only bounds a stuck run.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } liveloop_timespec;
int clock_gettime(int clk_id, liveloop_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("liveloop_timespec")

local function now_ns()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  -- Printed as an exact integer: a double would lose nanoseconds after ~100 days of uptime.
  return string.format("%d%09d", tonumber(timespec.tv_sec), tonumber(timespec.tv_nsec))
end

-- Setup runs in wrk's main Lua state, once per thread, before that thread's init(). With several
-- instances of the service (BENCH_WRK_ADDRS="host:port,host:port"), thread k talks to instance
-- k % n: an even split, as a load balancer would make (uvicorn's own workers split the
-- connections of one port unevenly, and differently on every run).
local next_thread_id = 0
local targets = nil
function setup(thread)
  if targets == nil then
    targets = {}
    for host, port in string.gmatch(os.getenv("BENCH_WRK_ADDRS") or "", "([^,:]+):(%d+)") do
      targets[#targets + 1] = wrk.lookup(host, port)[1]
    end
  end
  if #targets > 0 then
    thread.addr = targets[(next_thread_id % #targets) + 1]
  end
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

local requests = {}  -- prebuilt request strings of this thread's buyers, in order
local request_ids = {}
local issued, received = 0, 0
local started = {}  -- request id -> start time (ns, as a string)
local out, done_path

function init(args)
  local tokens_path, out_dir, run_id, threads = args[1], args[2], args[3], tonumber(args[4])
  local body = '{"quantity":1}'
  local host = wrk.host .. (wrk.port and (":" .. wrk.port) or "")
  local line_no = 0
  for token in io.lines(tokens_path) do
    if line_no % threads == thread_id then
      local request_id = run_id .. "-" .. line_no
      request_ids[#request_ids + 1] = request_id
      requests[#requests + 1] = wrk.format("POST", wrk.path, {
        ["Host"] = host,
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = request_id,
        ["X-Request-ID"] = request_id,
      }, body)
    end
    line_no = line_no + 1
  end
  out = assert(io.open(out_dir .. "/thread-" .. thread_id .. ".tsv", "w"))
  done_path = out_dir .. "/thread-" .. thread_id .. ".done"
  -- wrk calls request() once on thread 0's state before the run to check the request
  -- parses; that call must not use up a buyer.
  verifying = thread_id == 0
end

function finish()
  out:close()
  assert(io.open(done_path, "w")):close()
  wrk.thread:stop()
end

function request()
  if verifying then
    verifying = false
    return requests[1] or wrk.format("GET", "/health")
  end
  if issued >= #requests then
    -- Every buyer of this thread has been sent: an empty request leaves the connection idle.
    return ""
  end
  issued = issued + 1
  started[request_ids[issued]] = now_ns()
  return requests[issued]
end

function response(status, headers, body)
  local ended = now_ns()
  local request_id = headers["x-request-id"] or headers["X-Request-ID"] or ""
  local start = started[request_id] or ""
  started[request_id] = nil
  local order_id, detail = "", ""
  if status == 201 then
    order_id = string.match(body, '"order_id"%s*:%s*"([^"]+)"') or ""
  elseif status ~= 409 and status >= 300 then
    -- What went wrong, for the report: the start of the problem+json body, on one line.
    detail = string.gsub(string.sub(body, 1, 300), "[\t\r\n]", " ")
  end
  out:write(status, "\t", start, "\t", ended, "\t", request_id, "\t", order_id, "\t", detail, "\n")
  received = received + 1
  if received >= #requests then
    finish()
  end
end
