-- wrk script for bench/bench_server.sh: POST /v1/embeddings, cycling through
-- the Chinese and English product texts of bench/server_texts.txt (the
-- engine run of bench_server.sh embeds the same strings).
-- `wrk ... -s bench/wrk_embed.lua URL -- N [TEXTS]` sends N texts per request
-- (default 1). done() prints one BENCH line.
local texts = {}
local per_request = 1
local counter = 0

function init(args)
  per_request = tonumber(args[1] or "1") or 1
  for line in io.lines(args[2] or "bench/server_texts.txt") do
    if #line > 0 then texts[#texts + 1] = line end
  end
end

function request()
  local parts = {}
  for i = 1, per_request do
    counter = counter + 1
    parts[i] = '"' .. texts[(counter % #texts) + 1] .. " #" .. (counter % 97) .. '"'
  end
  local body = '{"model":"sail","input":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/embeddings", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d seconds=%.2f rps=%.1f inputs_per_request=%d p50_ms=%.2f p99_ms=%.2f " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, s, summary.requests / s, per_request, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect, e.read, e.write, e.status, e.timeout))
end
