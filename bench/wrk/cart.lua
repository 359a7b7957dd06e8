-- wrk -s bench/wrk/cart.lua URL: the cart, with the environment choosing:
--   CART      post | get        (default post)
--   SKUS      a file of sku ids, one a line (post; in-stock skus)
--   SESSIONS  sessions drawn from at random (default 100000), each an
--             Authorization header "bench-<n>", as rate -route cart-* uses
local mode = os.getenv("CART") or "post"
local sessions = tonumber(os.getenv("SESSIONS") or "100000")
local skus = {}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

if mode == "post" then
  local f = assert(io.open(os.getenv("SKUS") or "", "r"), "CART=post needs SKUS=<file of sku ids>")
  for line in f:lines() do
    if line ~= "" then skus[#skus + 1] = line end
  end
  f:close()
end

request = function()
  local headers = { ["Authorization"] = "bench-" .. math.random(0, sessions - 1) }
  if mode == "get" then
    return wrk.format("GET", "/cart", headers)
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/cart", headers, '{"sku_id":' .. skus[math.random(#skus)] .. '}')
end
