-- wrk -s styles_uniform.lua: GET /products/:id/styles with ids uniform over
-- 1..N (N from the environment, default 1000000): mostly cache misses.
local n = tonumber(os.getenv("N") or "1000000")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", "/products/" .. math.random(1, n) .. "/styles")
end
