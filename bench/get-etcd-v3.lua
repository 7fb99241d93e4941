-- get-etcd-v3.lua: wrk script, etcd v3 JSON gateway GET of key "k1": POST /v3/kv/range (bench/http.sh)
-- The gateway takes keys in base64: "azE=" is base64("k1"). The request never
-- changes, so it is set once here and wrk sends the same bytes every time. The
-- range is etcd's default, linearizable (bench/README.md on the read paths).
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"azE="}'
