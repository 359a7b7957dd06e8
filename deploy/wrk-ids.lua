-- wrk script for scripts/cluster.sh bench: product ids drawn uniformly from
-- 1..$IDS (default 10000), half the requests /styles, a quarter each the
-- product and /related, as loadcheck sends them. With SWEEP=1 (one thread)
-- it walks every id's three documents in order instead, to warm a cache.
local ids = tonumber(os.getenv("IDS") or "10000")
local sweep = os.getenv("SWEEP") == "1"
local suffixes = { "/styles", "", "/related", "/styles" }
local counter = 0
local i = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + seed)
end

function request()
  local path
  if sweep then
    path = "/products/" .. (math.floor(i / 3) % ids + 1) .. suffixes[i % 3 + 1]
    i = i + 1
  else
    path = "/products/" .. math.random(1, ids) .. suffixes[math.random(1, 4)]
  end
  return wrk.format("GET", path)
end
