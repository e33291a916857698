-- wrk script: POSTs the OpenVidu corpus round-robin, each body unique (timestamp = base + sequence number).
-- Arguments (after `--`): <file of "prefix<TAB>suffix" lines> <base>. Prints one JSON line of results at the end.
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   templates = {}
   for line in io.lines(args[1]) do
      local tab = string.find(line, "\t", 1, true)
      table.insert(templates, {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)})
   end
   base = tonumber(args[2])
   stride = tonumber(args[3])
   sent = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local seq = sent * stride + id
   local t = templates[(seq % #templates) + 1]
   sent = sent + 1
   return wrk.format(nil, nil, nil, t[1] .. string.format("%d", base + seq) .. t[2])
end

function done(summary, latency, requests)
   local sent_total = 0
   for _, thread in ipairs(threads) do
      sent_total = sent_total + thread:get("sent")
   end
   local e = summary.errors
   io.write(string.format(
      '\nBENCH {"duration_us":%d,"requests":%d,"sent":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,' ..
      '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.duration, summary.requests, sent_total, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
