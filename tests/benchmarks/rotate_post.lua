-- wrk script: POST a JSON body to {prefix}/{worker id}/input, rotating over the ids in a file,
-- so that no worker is asked twice in a row (each turn completes before its next input).
-- Usage: wrk -s rotate_post.lua URL -- IDS_FILE PATH_PREFIX
local ids = {}
local next_index = 1
local prefix = ""

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  prefix = args[2]
  -- Threads start at different offsets so they do not chase each other.
  next_index = (math.random(#ids))
end

function request()
  local id = ids[next_index]
  next_index = next_index % #ids + 1
  return wrk.format("POST", prefix .. "/" .. id .. "/input", {["Content-Type"] = "application/json"}, '{"content":"benchmark input"}')
end
