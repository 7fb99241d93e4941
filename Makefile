# Makefile: build, test, run, install and fuzz muster (DESIGN.md §8).
# Sources are found by directory, so a new module or test needs no edit here:
#   common/*.c proto/*.c    -> $(B)/libmuster.a (every program links it)
#   daemons/<d>/*.c         -> $(B)/libexec/<d>   (main.c holds main())
#   cli/*.c                 -> $(B)/bin/muster
#   tests/unit/test_<m>.c   -> $(B)/tests/test_<m> (Check; extra objects in
#                              TEST_<m>_OBJS)
#   tests/fuzz/fuzz_<t>.c   -> $(B)/fuzz/replay_<t> (replays corpus/<t>/)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/muster
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
DESTDIR    ?=

B          ?= build
CC         ?= cc
VERSION    := 0.1.0
GIT_REV    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

PKGS       := libzmq msgpack yaml-0.1 libsystemd
# httpd's own libraries (only httpd and its tests link them).
HTTP_PKGS  := json-c libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(HTTP_PKGS))
HTTP_LIBS  := $(shell pkg-config --libs $(HTTP_PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
OPT        ?= -O2 -g
CFLAGS     ?=
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=
ALL_CFLAGS := -std=c11 $(WARN) $(OPT) -D_GNU_SOURCE -I. -Icommon -Iproto \
              -DMUSTER_VERSION='"$(VERSION)"' -DMUSTER_REVISION='"$(GIT_REV)"' \
              -DMUSTER_LIBEXECDIR='"$(LIBEXECDIR)"' -DMUSTER_SBINDIR='"$(SBINDIR)"' \
              -DMUSTER_DATADIR='"$(DATADIR)"' $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP
LDLIBS     := $(PKG_LIBS) -lm $(EXTRA_LDFLAGS)

DAEMONS    := raftd gossipd httpd dnsd healthd musterd
LIB_SRC    := $(wildcard common/*.c proto/*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB        := $(B)/libmuster.a

daemon_src  = $(wildcard daemons/$(1)/*.c)
daemon_obj  = $(patsubst %.c,$(B)/obj/%.o,$(call daemon_src,$(1)))
# Objects of a daemon other than its main(), for tests of its modules.
daemon_lib  = $(filter-out %/main.o,$(call daemon_obj,$(1)))

DAEMON_BINS := $(DAEMONS:%=$(B)/libexec/%)
CLI_BIN     := $(B)/bin/muster
CLI_OBJ     := $(patsubst %.c,$(B)/obj/%.o,$(wildcard cli/*.c))
# The Consul-compatible subcommands talk to the agent's HTTP API (libcurl)
# and read its JSON (json-c).
CLI_LIBS    := $(shell pkg-config --libs libcurl json-c)

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(B)/fuzz/replay_%)
SIM_SRC     := $(wildcard tests/sim/*.c)
SIM_BIN     := $(if $(SIM_SRC),$(B)/tests/raft_sim)
HELPER_SRC  := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRC:tests/helpers/%.c=$(B)/tests/%)
# LD_PRELOAD fault shims (tests/fault/<name>.c -> $(B)/tests/lib<name>.so).
SHIM_SRC    := $(wildcard tests/fault/*.c)
SHIM_LIBS   := $(SHIM_SRC:tests/fault/%.c=$(B)/tests/lib%.so)

# Per-test extra objects (modules that live in a daemon's folder).
TEST_raft_OBJS := $(filter %/raft.o,$(call daemon_obj,raftd))
# raft_conf_decode(): the configurations raftd's log and store hold.
FUZZ_raftconf_OBJS := $(TEST_raft_OBJS)
FUZZ_raftconf_SRC := daemons/raftd/raft.c
# raftd's state machine and store (RocksDB only where the store is linked).
FSM_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard daemons/raftd/fsm.c daemons/raftd/fsm_*.c))
TEST_fsm_OBJS := $(FSM_OBJS)
TEST_watch_OBJS := $(filter %/watch.o,$(call daemon_obj,raftd))
FUZZ_fsm_OBJS := $(FSM_OBJS)
FUZZ_fsm_SRC := $(wildcard daemons/raftd/fsm.c daemons/raftd/fsm_*.c)
TEST_fsm_model_OBJS := $(FSM_OBJS)
TEST_store_OBJS := $(FSM_OBJS) $(filter %/store.o %/raft.o,$(call daemon_obj,raftd))
TEST_store_LIBS := $(shell pkg-config --libs rocksdb)
PKGLIBS_raftd := $(shell pkg-config --libs rocksdb)
TEST_musterd_OBJS := $(call daemon_lib,musterd)
# gossipd: the pure modules (mlwire: memberlist's wire format; serfwire:
# Serf's messages and tags; keyring: AES-GCM and the keyring; swim: the
# SWIM + Lifeguard core; serf: Serf's layer on it; mlmap: the member map;
# uevent: Consul's user events; gsnap: Serf's member snapshot) are tested
# and fuzzed without the daemon.
PKGLIBS_gossipd := $(shell pkg-config --libs libcrypto)
GOSSIPD_PURE_SRC := $(wildcard daemons/gossipd/mlwire.c daemons/gossipd/serfwire.c daemons/gossipd/keyring.c daemons/gossipd/lzw.c daemons/gossipd/swim.c daemons/gossipd/serf.c daemons/gossipd/mlmap.c daemons/gossipd/uevent.c daemons/gossipd/gsnap.c)
GOSSIPD_PURE_OBJS := $(GOSSIPD_PURE_SRC:%.c=$(B)/obj/%.o)
TEST_mlwire_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_mlwire_LIBS := $(PKGLIBS_gossipd)
TEST_serfwire_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_serfwire_LIBS := $(PKGLIBS_gossipd)
TEST_serf_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_serf_LIBS := $(PKGLIBS_gossipd)
TEST_swim_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_swim_LIBS := $(PKGLIBS_gossipd)
HELPER_swim_sim_OBJS := $(GOSSIPD_PURE_OBJS)
HELPER_swim_sim_LIBS := $(PKGLIBS_gossipd)
TEST_keyring_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_mlmap_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_mlmap_LIBS := $(PKGLIBS_gossipd)
TEST_keyring_LIBS := $(PKGLIBS_gossipd)
FUZZ_gossip_OBJS := $(GOSSIPD_PURE_OBJS)
FUZZ_gossip_LIBS := $(PKGLIBS_gossipd)
FUZZ_gossip_SRC := $(GOSSIPD_PURE_SRC)
FUZZ_serf_OBJS := $(GOSSIPD_PURE_OBJS)
FUZZ_serf_LIBS := $(PKGLIBS_gossipd)
FUZZ_serf_SRC := $(GOSSIPD_PURE_SRC)
TEST_uevent_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_uevent_LIBS := $(PKGLIBS_gossipd)
TEST_gsnap_OBJS := $(GOSSIPD_PURE_OBJS)
TEST_gsnap_LIBS := $(PKGLIBS_gossipd)
FUZZ_uevent_OBJS := $(GOSSIPD_PURE_OBJS)
FUZZ_uevent_LIBS := $(PKGLIBS_gossipd)
FUZZ_uevent_SRC := $(GOSSIPD_PURE_SRC)
FUZZ_gsnap_OBJS := $(GOSSIPD_PURE_OBJS)
FUZZ_gsnap_LIBS := $(PKGLIBS_gossipd)
FUZZ_gsnap_SRC := $(GOSSIPD_PURE_SRC)
# tests/helpers/mkstore: a raftd store with a given Raft configuration.
HELPER_mkstore_OBJS := $(TEST_store_OBJS)
HELPER_mkstore_LIBS := $(TEST_store_LIBS)
# httpd: the pure modules (filter: ?filter expressions; hjson: Consul's JSON
# shapes, durations, base64; hquery: paths and query strings) are tested and
# fuzzed without the server.
PKGLIBS_httpd := $(HTTP_LIBS)
HTTPD_PURE_SRC := $(wildcard daemons/httpd/filter.c daemons/httpd/hjson.c daemons/httpd/hquery.c)
HTTPD_PURE_OBJS := $(HTTPD_PURE_SRC:%.c=$(B)/obj/%.o)
TEST_filter_OBJS := $(HTTPD_PURE_OBJS)
TEST_filter_LIBS := $(HTTP_LIBS)
TEST_hquery_OBJS := $(HTTPD_PURE_OBJS)
TEST_hquery_LIBS := $(HTTP_LIBS)
TEST_hjson_OBJS := $(HTTPD_PURE_OBJS)
TEST_hjson_LIBS := $(HTTP_LIBS)
FUZZ_filter_OBJS := $(HTTPD_PURE_OBJS)
FUZZ_filter_LIBS := $(HTTP_LIBS)
FUZZ_filter_SRC := $(HTTPD_PURE_SRC)
# The request-path fuzz target links every httpd object but main (it calls
# the route lookup, which names the handlers).
FUZZ_http_OBJS := $(call daemon_lib,httpd)
FUZZ_http_LIBS := $(HTTP_LIBS)
FUZZ_http_SRC := $(filter-out %/main.c,$(call daemon_src,httpd))
# dnsd: the pure core (dnswire: the DNS wire format; answer: the answerer,
# spec §1) is tested and fuzzed without sockets or the bus.
DNSD_PURE_SRC := $(wildcard daemons/dnsd/dnswire.c daemons/dnsd/answer.c)
DNSD_PURE_OBJS := $(DNSD_PURE_SRC:%.c=$(B)/obj/%.o)
TEST_dnswire_OBJS := $(DNSD_PURE_OBJS)
TEST_answer_OBJS := $(DNSD_PURE_OBJS)
FUZZ_dnswire_OBJS := $(DNSD_PURE_OBJS)
FUZZ_dnswire_SRC := $(DNSD_PURE_SRC)
# healthd: the check scheduler (sched: stagger, period, thresholds) and the
# gRPC health wire forms (probe_grpc) are pure and tested alone; the probes
# (probe*.c) run on libcurl's multi interface.
PKGLIBS_healthd := $(shell pkg-config --libs libcurl)
HEALTHD_PURE_SRC := $(wildcard daemons/healthd/sched.c daemons/healthd/probe_grpc.c)
HEALTHD_PURE_OBJS := $(HEALTHD_PURE_SRC:%.c=$(B)/obj/%.o)
HEALTHD_PROBE_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard daemons/healthd/probe*.c))
TEST_sched_OBJS := $(HEALTHD_PURE_OBJS)
TEST_probe_OBJS := $(HEALTHD_PROBE_OBJS)
TEST_probe_LIBS := $(PKGLIBS_healthd)
HELPER_probe_once_OBJS := $(HEALTHD_PROBE_OBJS)
HELPER_probe_once_LIBS := $(PKGLIBS_healthd)
FUZZ_grpcresp_OBJS := $(filter %/probe_grpc.o,$(HEALTHD_PURE_OBJS))
FUZZ_grpcresp_SRC := daemons/healthd/probe_grpc.c
# healthd's core modules, tested alone (tests/unit/test_hstate.c): hdef
# (Consul's definition rules and texts), hae (anti-entropy's comparison),
# hstore (the saved entries), hjdef (config-file definitions, json-c).
HEALTHD_CORE_SRC := $(wildcard daemons/healthd/hdef.c daemons/healthd/hae.c daemons/healthd/hstore.c daemons/healthd/hjdef.c)
HEALTHD_CORE_OBJS := $(HEALTHD_CORE_SRC:%.c=$(B)/obj/%.o)
# hjdef decodes config files' definitions with httpd's JSON decoders (hjson.c).
DAEMON_OBJS_healthd := $(B)/obj/daemons/httpd/hjson.o
TEST_hstate_OBJS := $(HEALTHD_CORE_OBJS) $(B)/obj/daemons/httpd/hjson.o
TEST_hstate_LIBS := $(shell pkg-config --libs json-c)
PKGLIBS_healthd += $(shell pkg-config --libs json-c)

# Rules below use $$(...) in prerequisites (per-daemon objects, TEST_<m>_OBJS).
.SECONDEXPANSION:

.PHONY: all deps test run asan install install-files clean fuzz sim swim-sim coverage check-build bench
.DEFAULT_GOAL := all

all: $(DAEMON_BINS) $(CLI_BIN)

deps:
	@./scripts/deps.sh

check-build: all $(UNIT_BINS) $(FUZZ_REPLAY) $(SIM_BIN) $(HELPER_BINS) $(SHIM_LIBS)

test: deps
	@$(MAKE) --no-print-directory check-build
	@B=$(B) ./scripts/test.sh

run: deps
	@$(MAKE) --no-print-directory all
	MUSTER_LIBEXEC_DIR=$(CURDIR)/$(B)/libexec $(CLI_BIN) agent -dev $(ARGS)

# ASan + UBSan: a separate build tree, the whole suite under the sanitizers.
asan: deps
	@$(MAKE) --no-print-directory B=build-asan \
	  OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" check-build
	@B=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./scripts/test.sh

# Side-by-side benchmarks (bench/README.md): raftd's KV through the bus,
# then the HTTP API with wrk, against etcd on this machine; then gossipd
# against serf (bench/gossip.sh, run as root: it counts bytes on lo).
# Installs etcd and wrk first (serf comes with make test's deps); not part
# of make test.
bench: deps
	@BENCH=1 ./scripts/deps.sh
	@$(MAKE) --no-print-directory all $(B)/bench/kvbench
	@B=$(B) bench/run.sh
	@B=$(B) bench/http.sh
	@B=$(B) bench/gossip.sh
	@B=$(B) bench/healthd.sh
	@B=$(B) bench/dns.sh
	@B=$(B) bench/cluster.sh

$(B)/bench/kvbench: $(B)/obj/bench/kvbench.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libcurl)

# Seeded Raft simulation: `make sim SEED=n` replays one seed, `SEEDS=n` runs n.
sim: $(SIM_BIN)
	$(SIM_BIN) $(if $(SEED),--seed $(SEED)) $(if $(SEEDS),--seeds $(SEEDS))

# gcov line coverage of the Raft core: its unit suite, then SEEDS seeds.
coverage:
	@rm -rf build-cov && mkdir -p build-cov
	$(CC) -std=c11 -O0 -g --coverage -D_GNU_SOURCE -I. -Icommon -Iproto \
	  -c daemons/raftd/raft.c -o build-cov/raft.o
	$(CC) -std=c11 -O0 -g --coverage -D_GNU_SOURCE -I. -Icommon -Iproto $(CHECK_CFLAGS) \
	  tests/unit/test_raft.c build-cov/raft.o -o build-cov/test_raft $(CHECK_LIBS)
	$(CC) -std=c11 -O0 -g --coverage -D_GNU_SOURCE -I. -Icommon -Iproto \
	  $(SIM_SRC) build-cov/raft.o -o build-cov/raft_sim -lm
	build-cov/test_raft >/dev/null
	build-cov/raft_sim --seeds $(or $(SEEDS),1000)
	cd build-cov && gcov -n raft.o | grep -A1 "raft.c'"

# The seeded gossip simulator: `make swim-sim N=100 SEEDS=20` (SEED=n replays one).
swim-sim: $(B)/tests/swim_sim
	$(B)/tests/swim_sim --nodes $(or $(N),10) $(if $(SEED),--seed $(SEED)) $(if $(SEEDS),--seeds $(SEEDS))

# Coverage-guided fuzzing with libFuzzer (clang): `make fuzz T=msg SECS=60`.
fuzz:
	@test -n "$(T)" || { echo "usage: make fuzz T=<target> [SECS=60]"; exit 1; }
	@mkdir -p $(B)/libfuzzer
	clang -std=c11 -g -O1 -D_GNU_SOURCE -I. -Icommon -Iproto $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -DMUSTER_VERSION='"$(VERSION)"' \
	  -DMUSTER_REVISION='"$(GIT_REV)"' -DMUSTER_LIBEXECDIR='"$(LIBEXECDIR)"' \
	  -DMUSTER_SBINDIR='"$(SBINDIR)"' tests/fuzz/fuzz_$(T).c $(LIB_SRC) $(FUZZ_$(T)_SRC) $(PKG_LIBS) $(FUZZ_$(T)_LIBS) -lm -o $(B)/libfuzzer/fuzz_$(T)
	@mkdir -p $(B)/libfuzzer/new_$(T)
	@# New inputs go to the scratch dir (libFuzzer writes into the first one);
	@# copy a reproducer into tests/fuzz/corpus/$(T) by hand after a fix.
	$(B)/libfuzzer/fuzz_$(T) -max_total_time=$(or $(SECS),60) $(B)/libfuzzer/new_$(T) tests/fuzz/corpus/$(T)

# Quiet by default; `make V=1` prints the commands.
Q := $(if $(V),,@)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

# DAEMON_OBJS_<d>: another daemon's module a daemon links too (one copy of the code).
$(B)/libexec/%: $$(call daemon_obj,%) $$(DAEMON_OBJS_$$*) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $(call daemon_obj,$*) $(DAEMON_OBJS_$*) $(LIB) $(LDLIBS) $(PKGLIBS_$*)

$(CLI_BIN): $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS) $(CLI_LIBS)

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(LIB) $$(TEST_$$*_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $< $(TEST_$*_OBJS) $(LIB) $(CHECK_LIBS) $(LDLIBS) $(TEST_$*_LIBS)

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(B)/fuzz/replay_%: $(B)/obj/tests/fuzz/fuzz_%.o $(B)/obj/tests/fuzz/replay.o $(LIB) $$(FUZZ_$$*_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $< $(B)/obj/tests/fuzz/replay.o $(FUZZ_$*_OBJS) $(LIB) $(LDLIBS) $(FUZZ_$*_LIBS)

$(B)/tests/raft_sim: $(SIM_SRC:%.c=$(B)/obj/%.o) $(TEST_raft_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

# A shim is preloaded into daemons that may be sanitized, so it is built
# plain: no sanitizer runtime of its own, only libc and libdl.
$(B)/tests/lib%.so: tests/fault/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) -std=c11 $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared -o $@ $< -ldl

$(B)/tests/%: $(B)/obj/tests/helpers/%.o $(LIB) $$(HELPER_$$*_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(OPT) $(EXTRA_CFLAGS) -o $@ $< $(HELPER_$*_OBJS) $(LIB) $(LDLIBS) $(HELPER_$*_LIBS)

install: all
	@$(MAKE) --no-print-directory install-files

# Copies what is built, building nothing (the tests install an ASan build
# this way without rebuilding it with other flags).
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/muster
	install -m 0755 $(B)/libexec/musterd $(DESTDIR)$(SBINDIR)/musterd
	for d in raftd gossipd httpd dnsd healthd; do \
	  install -m 0755 $(B)/libexec/$$d $(DESTDIR)$(LIBEXECDIR)/$$d; done
	install -d $(DESTDIR)$(SYSCONFDIR)/muster/conf.d
	@# The examples always; muster.yaml itself only where none exists yet
	@# (a reinstall never overwrites an operator's configuration).
	install -m 0644 etc/muster.yaml $(DESTDIR)$(SYSCONFDIR)/muster/muster.yaml.example
	install -m 0644 etc/client.yaml $(DESTDIR)$(SYSCONFDIR)/muster/client.yaml.example
	test -e $(DESTDIR)$(SYSCONFDIR)/muster/muster.yaml || \
	  install -m 0644 etc/muster.yaml $(DESTDIR)$(SYSCONFDIR)/muster/muster.yaml
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	sed -e 's#@SBINDIR@#$(SBINDIR)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' \
	  systemd/muster.service > $(DESTDIR)$(UNITDIR)/muster.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/muster.service
	install -m 0644 systemd/muster.sysusers $(DESTDIR)$(SYSUSERSDIR)/muster.conf
	install -m 0644 systemd/muster.tmpfiles $(DESTDIR)$(TMPFILESDIR)/muster.conf

clean:
	rm -rf build build-asan build-cov

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
