# awk -f bench/wrk/summary.awk: wrk --latency's report as one line,
# "req/s p50_ms p99_ms errors" (errors: non-2xx answers and socket errors).
function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
/^ +50%/ { p50 = ms($2) }
/^ +99%/ { p99 = ms($2) }
/^Requests\/sec/ { rps = $2 }
/Non-2xx/ { err += $NF }
/Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
END { printf "%d %.2f %.2f %d\n", rps, p50, p99, err }
