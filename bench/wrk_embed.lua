-- wrk script for bench/bench_server.sh: POST /v1/embeddings, cycling through
-- Chinese and English product texts. `wrk ... -s bench/wrk_embed.lua URL -- N`
-- sends N texts per request (default 1). done() prints one BENCH line.
local texts = {
  "红色连衣裙", "a red dress", "黑色高帮运动鞋", "black high-top sneakers",
  "白色纯棉T恤 短袖", "white cotton t-shirt, short sleeves", "不锈钢保温杯 500ml",
  "stainless steel vacuum flask 500 ml", "复古皮质双肩包", "vintage leather backpack",
  "无线蓝牙降噪耳机", "wireless noise-cancelling headphones", "儿童益智积木玩具",
  "educational building blocks for kids", "北欧风格实木餐桌", "nordic solid wood dining table",
}
local per_request = 1
local counter = 0

function init(args)
  per_request = tonumber(args[1] or "1") or 1
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
