-- wrk -s styles_skewed.lua: GET /products/:id/styles with log-uniform ids
-- over 1..N (N from the environment, default 1000000): id 1..10 get as many
-- requests as 100000..1000000, the skew of real catalogue traffic.
local n = tonumber(os.getenv("N") or "1000000")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local id = math.floor(n ^ math.random())
  return wrk.format("GET", "/products/" .. id .. "/styles")
end
