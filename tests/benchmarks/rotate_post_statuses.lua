-- rotate_post.lua, and the count of each non-2xx status (printed as "status NNN: COUNT" at the end),
-- so a benchmark can say what its non-2xx answers were (409 busy, 503 unavailable, ...).
-- Usage: wrk -s rotate_post_statuses.lua URL -- IDS_FILE PATH_PREFIX
local ids = {}
local next_index = 1
local prefix = ""
local threads = {}
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  prefix = args[2]
  next_index = (math.random(#ids))
end

function request()
  local id = ids[next_index]
  next_index = next_index % #ids + 1
  return wrk.format("POST", prefix .. "/" .. id .. "/input", {["Content-Type"] = "application/json"}, '{"content":"benchmark input"}')
end

function response(status, headers, body)
  if status >= 300 then
    counts[status] = (counts[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local found = thread:get("counts")
    for status, count in pairs(found) do
      io.write(string.format("status %d: %d\n", status, count))
    end
  end
end
