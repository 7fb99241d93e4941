#!/bin/sh
# deps.sh: install the Debian 12 packages muster's build and tests need.
# Idempotent and fast when everything is present: dpkg-query decides, and
# apt-get runs only for what is missing (DESIGN.md §7 lists the libraries).
set -eu

PKGS="build-essential pkg-config
libzmq3-dev libmsgpack-dev librocksdb-dev libyaml-dev check
libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev libssl-dev libsystemd-dev
socat curl procps python3 python3-consul python3-pytest python3-requests
python3-zmq python3-msgpack python3-dnspython
golang-go golang-github-armon-consul-api-dev
protobuf-compiler golang-goprotobuf-dev golang-google-grpc-dev
serf
python3-grpcio openssl
bind9-dnsutils knot-dnsutils dnsmasq-base unbound haproxy dnsviz bind9 bind9-utils" # serf: the real peer of gossipd in tests/integration/test_gossip_serf.py;
# python3-grpcio and openssl: the gRPC health and TLS servers of tests/unit/test_probe.c;
# protoc + Go protobuf/gRPC: ../shared/acceptance/hello/build.sh (the walkthrough of
# tests/integration/test_hello_walkthrough.py) builds offline from these alone;
# dig, kdig, dnsmasq, unbound, HAProxy and dnsviz (its -N runs a named: bind9): the real DNS clients, recursor
# and resolvers of tests/integration/test_dnsd.py and test_dns_resolvers.py.
# make bench: the real peers the benchmarks compare against.
if [ "${BENCH:-}" = 1 ]; then
	PKGS="etcd-server etcd-client wrk dnsperf nsd"
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps: missing packages:$missing (run as root or install sudo)" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# One update per run: a fresh machine has no package lists at all.
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
