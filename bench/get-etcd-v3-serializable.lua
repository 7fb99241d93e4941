-- get-etcd-v3-serializable.lua: wrk script, etcd v3 JSON gateway serializable GET of key "k1" (bench/cluster.sh)
-- As get-etcd-v3.lua, but "serializable": the member answers from its own state without
-- asking the leader, as muster's ?stale does on a follower.
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"azE=","serializable":true}'
