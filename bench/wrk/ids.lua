-- wrk -s bench/wrk/ids.lua URL, with the environment choosing the requests:
--   ROUTE  list | product | styles | related   (default styles)
--   DIST   uniform | skewed                     (default uniform)
--   N      number of products                   (default 1000000)
-- skewed: P(id) proportional to 1/id, the skew of real catalogue traffic
-- (inverse-CDF sampling: id = floor(N^u) for u uniform in [0,1) is
-- log-uniform, whose density is proportional to 1/id).
local route = os.getenv("ROUTE") or "styles"
local dist = os.getenv("DIST") or "uniform"
local n = tonumber(os.getenv("N") or "1000000")
local count = 5
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

local function pick(max)
  if dist == "skewed" then
    return math.floor(max ^ math.random())
  end
  return math.random(1, max)
end

request = function()
  if route == "list" then
    return wrk.format("GET", "/products?page=" .. pick(math.floor(n / count)) .. "&count=" .. count)
  end
  local id = pick(n)
  if route == "product" then
    return wrk.format("GET", "/products/" .. id)
  end
  return wrk.format("GET", "/products/" .. id .. "/" .. route)
end

local errors = 0
response = function(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
end
