/* test_hstate.c: healthd's pure core: Consul's definition rules (hdef), config-file JSON (hjdef),
 * saved entries (hstore), anti-entropy's comparison (hae). */
#include "buf.h"
#include "daemons/healthd/hae.h"
#include "daemons/healthd/hdef.h"
#include "daemons/healthd/hjdef.h"
#include "daemons/healthd/hstore.h"
#include "prng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

static const struct hdef_opts remote_opts = {"n1", false, false, false};
static const struct hdef_opts local_opts = {"n1", false, true, true};

/* A service definition through hjdef then hdef: rc and err. */
static int prep(const char *json, struct msg_agent_service *s, struct msg_agent_check_list *l,
                const struct hdef_opts *o, char *err)
{
	err[0] = '\0';
	ck_assert_msg(hjdef_service(json, s, l, err, HDEF_ERR_MAX) == 0, "decode %s: %s", json,
	              err);
	return hdef_service_prepare(s, l, o, err, HDEF_ERR_MAX);
}

static void free_svc(struct msg_agent_service *s, struct msg_agent_check_list *l)
{
	msg_rec_free_agent_service(s);
	for (uint32_t i = 0; i < l->n; i++)
		msg_rec_free_agent_check(&l->v[i]);
	free(l->v);
}

static void expect_err(const char *json, int rc, const char *text)
{
	struct msg_agent_service s;
	struct msg_agent_check_list l;
	char err[HDEF_ERR_MAX];

	ck_assert_int_eq(prep(json, &s, &l, &remote_opts, err), rc);
	ck_assert_msg(strcmp(err, text) == 0, "%s: got \"%s\", want \"%s\"", json, err, text);
	free_svc(&s, &l);
}

START_TEST(test_service_defaults)
{
	struct msg_agent_service s;
	struct msg_agent_check_list l;
	char err[HDEF_ERR_MAX];

	ck_assert_int_eq(
	    prep("{\"Name\":\"web\",\"tags\":[\"a\"],\"port\":80,"
	         "\"checks\":[{\"ttl\":\"10s\"},{\"http\":\"http://x\","
	         "\"interval\":\"5s\",\"timeout\":1000000000,\"status\":\"passing\"}]}",
	         &s, &l, &remote_opts, err),
	    0);
	ck_assert_str_eq(s.service.id, "web");
	ck_assert_str_eq(s.service.node, "n1");
	ck_assert_uint_eq(s.service.weight_passing, 1);
	ck_assert_uint_eq(s.service.weight_warning, 1);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0].check.check_id, "service:web:1");
	ck_assert_str_eq(l.v[1].check.check_id, "service:web:2");
	ck_assert_str_eq(l.v[0].check.name, "Service 'web' check");
	ck_assert_str_eq(l.v[0].check.status, "critical");
	ck_assert_str_eq(l.v[1].check.status, "passing");
	ck_assert_str_eq(l.v[0].check.type, "ttl");
	ck_assert_str_eq(l.v[1].check.type, "http");
	ck_assert_str_eq(l.v[1].check.interval, "5s");
	ck_assert_str_eq(l.v[1].check.timeout, "1s");
	ck_assert_str_eq(l.v[0].check.interval, "");
	ck_assert_str_eq(l.v[0].check.service_name, "web");
	ck_assert_uint_eq(l.v[0].check.service_tags.n, 1);
	ck_assert_str_eq(l.v[0].check.node, "n1");
	free_svc(&s, &l);

	/* one check: "service:<id>"; an empty Check is skipped (CheckType.Empty) */
	ck_assert_int_eq(prep("{\"name\":\"db\",\"id\":\"db1\",\"check\":{},\"checks\":[{\"ttl\":"
	                      "\"1s\",\"CheckID\":\"own\"},{\"ttl\":\"2s\"}]}",
	                      &s, &l, &remote_opts, err),
	                 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[0].check.check_id, "own");
	ck_assert_str_eq(l.v[1].check.check_id, "service:db1:2");
	free_svc(&s, &l);
	ck_assert_int_eq(
	    prep("{\"name\":\"db\",\"check\":{\"ttl\":\"1s\"}}", &s, &l, &remote_opts, err), 0);
	ck_assert_str_eq(l.v[0].check.check_id, "service:db");
	free_svc(&s, &l);
}
END_TEST

START_TEST(test_service_errors)
{
	expect_err("{\"port\":1}", 400, "Missing service name");
	expect_err("{\"name\":\"a\",\"address\":\"::\"}", 400, "Invalid service address");
	expect_err("{\"name\":\"a\",\"weights\":{\"passing\":0,\"warning\":2}}", 400,
	           "Invalid Weights: Passing must be greater than 0");
	expect_err("{\"name\":\"a\",\"weights\":{\"passing\":70000}}", 400,
	           "Invalid Weights: Weight must be smaller than 65535");
	expect_err("{\"name\":\"a\",\"meta\":{\"b\":\"1\",\"a b\":\"2\"}}", 400,
	           "Invalid Service Meta: Couldn't load metadata pair ('a b', '2'): Key contains "
	           "invalid characters");
	expect_err("{\"name\":\"a\",\"check\":{\"ttl\":\"1s\",\"interval\":\"1s\"}}", 400,
	           "Invalid check: Interval and TTL cannot both be specified");
	expect_err("{\"name\":\"a\",\"check\":{\"tcp\":\"x:1\"}}", 400,
	           "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or "
	           "OSService checks");
	expect_err("{\"name\":\"a\",\"check\":{\"aliasservice\":\"x\",\"ttl\":\"1s\"}}", 400,
	           "Invalid check: TTL must be not be set for Alias checks");
	expect_err("{\"name\":\"a\",\"check\":{\"notes\":\"n\"}}", 400,
	           "Invalid check: TTL must be > 0 for TTL checks");
	expect_err("{\"name\":\"a\",\"check\":{\"ttl\":\"1s\",\"failures_before_warning\":3,"
	           "\"failures_before_critical\":2}}",
	           400,
	           "Invalid check: FailuresBeforeWarning can't be higher than "
	           "FailuresBeforeCritical");
	expect_err("{\"name\":\"a\",\"check\":{\"ttl\":\"1s\",\"status\":\"up\"}}", 400,
	           "Status for checks must 'passing', 'warning', 'critical'");
	expect_err("{\"name\":\"a\",\"check\":{\"args\":[\"/bin/true\"],\"interval\":\"1s\"}}", 400,
	           "Scripts are disabled on this agent from remote calls; to enable, configure "
	           "'enable_script_checks' to true");
}
END_TEST

START_TEST(test_script_permission_and_check_register)
{
	struct msg_agent_service s;
	struct msg_agent_check_list l;
	struct msg_agent_check c;
	char err[HDEF_ERR_MAX];
	struct hdef_opts off = local_opts;

	/* enable_local_script_checks allows config-file scripts only */
	ck_assert_int_eq(prep("{\"name\":\"a\",\"check\":{\"script_args\":[\"/bin/true\"],"
	                      "\"interval\":\"1s\"}}",
	                      &s, &l, &local_opts, err),
	                 0);
	ck_assert_str_eq(l.v[0].check.type, "script");
	free_svc(&s, &l);
	off.enable_local_script_checks = false;
	ck_assert_int_eq(prep("{\"name\":\"a\",\"check\":{\"args\":[\"x\"],\"interval\":\"1s\"}}",
	                      &s, &l, &off, err),
	                 400);
	ck_assert_str_eq(err, "Scripts are disabled on this agent; to enable, configure "
	                      "'enable_script_checks' or 'enable_local_script_checks' to true");
	free_svc(&s, &l);

	ck_assert_int_eq(hjdef_check("{\"ttl\":\"3s\"}", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(hdef_check_prepare(&c, NULL, &remote_opts, err, sizeof(err)), 400);
	ck_assert_str_eq(err, "Missing check name");
	msg_rec_free_agent_check(&c);
	ck_assert_int_eq(
	    hjdef_check("{\"name\":\"c\",\"ttl\":\"3s\",\"status\":\"x\"}", &c, err, sizeof(err)),
	    0);
	ck_assert_int_eq(hdef_check_prepare(&c, NULL, &remote_opts, err, sizeof(err)), 400);
	ck_assert_str_eq(err, "Bad check status");
	msg_rec_free_agent_check(&c);
	ck_assert_int_eq(hjdef_check("{\"name\":\"c\",\"ttl\":\"3s\",\"service_id\":\"s1\"}", &c,
	                             err, sizeof(err)),
	                 0);
	ck_assert_int_eq(hdef_check_prepare(&c, NULL, &remote_opts, err, sizeof(err)), 404);
	ck_assert_str_eq(err, "ServiceID \"s1\" does not exist");
	msg_rec_free_agent_check(&c);
	/* ID defaults to the name; a service's name and tags are bound */
	ck_assert_int_eq(hjdef_check("{\"Name\":\"c\",\"TTL\":3000000000,\"ServiceID\":\"s1\"}", &c,
	                             err, sizeof(err)),
	                 0);
	ck_assert_int_eq(
	    prep("{\"name\":\"svc\",\"id\":\"s1\",\"tags\":[\"t\"]}", &s, &l, &remote_opts, err),
	    0);
	ck_assert_int_eq(hdef_check_prepare(&c, &s.service, &remote_opts, err, sizeof(err)), 0);
	ck_assert_str_eq(c.check.check_id, "c");
	ck_assert_str_eq(c.check.service_name, "svc");
	ck_assert_str_eq(c.check.service_tags.v[0], "t");
	ck_assert_uint_eq(c.check.definition.ttl_ns, 3000000000ull);
	ck_assert_str_eq(c.check.type, "ttl");
	msg_rec_free_agent_check(&c);
	free_svc(&s, &l);
}
END_TEST

START_TEST(test_maint_and_output)
{
	struct msg_agent_check c;
	struct msg_service svc = {0};
	char *s, hash1[17], hash2[17];
	struct msg_agent_service as = {0};

	hdef_node_maint(&c, "n1", "");
	ck_assert_str_eq(c.check.check_id, "_node_maintenance");
	ck_assert_str_eq(c.check.name, "Node Maintenance Mode");
	ck_assert_str_eq(c.check.status, "critical");
	ck_assert_str_eq(c.check.notes, HDEF_NODE_MAINT_REASON);
	msg_rec_free_agent_check(&c);
	svc.id = "web1";
	svc.service = "web";
	hdef_service_maint(&c, "n1", &svc, "why");
	ck_assert_str_eq(c.check.check_id, "_service_maintenance:web1");
	ck_assert_str_eq(c.check.name, "Service Maintenance Mode");
	ck_assert_str_eq(c.check.notes, "why");
	ck_assert_str_eq(c.check.service_id, "web1");
	ck_assert_str_eq(c.check.service_name, "web");
	ck_assert_str_eq(c.check.type, "maintenance");
	msg_rec_free_agent_check(&c);

	s = hdef_output_cap("abcdef", 4);
	ck_assert_str_eq(s, "abcd ... (captured 4 of 6 bytes)");
	free(s);
	s = hdef_output_cap("abcd", 4);
	ck_assert_str_eq(s, "abcd");
	free(s);

	as.service = svc;
	hdef_content_hash(&as, hash1);
	as.maintenance = true; /* not part of the hash */
	hdef_content_hash(&as, hash2);
	ck_assert_str_eq(hash1, hash2);
	as.service.port = 1;
	hdef_content_hash(&as, hash2);
	ck_assert_str_ne(hash1, hash2);
}
END_TEST

START_TEST(test_hjdef_lenient)
{
	struct msg_agent_service s;
	struct msg_agent_check_list l;
	char err[HDEF_ERR_MAX];

	ck_assert_int_eq(hjdef_service("{\"NAME\":\"a\",\"Enable_Tag_Override\":true,"
	                               "\"tagged_addresses\":{\"lan\":{\"address\":\"1.2.3.4\","
	                               "\"port\":5}},\"weights\":{\"Passing\":3,\"Warning\":2},"
	                               "\"connect\":{\"native\":true},\"unknown\":[1,2],"
	                               "\"check\":{\"deregister_critical_service_after\":\"90s\","
	                               "\"header\":{\"X\":[\"1\",\"2\"]},\"tls_skip_verify\":true,"
	                               "\"http\":\"h\",\"interval\":\"1s\"}}",
	                               &s, &l, err, sizeof(err)),
	                 0);
	ck_assert_str_eq(s.service.service, "a");
	ck_assert(s.service.enable_tag_override);
	ck_assert_uint_eq(s.service.tagged_addresses.n, 1);
	ck_assert_str_eq(s.service.tagged_addresses.v[0].address, "1.2.3.4");
	ck_assert_uint_eq(s.service.tagged_addresses.v[0].port, 5);
	ck_assert_uint_eq(s.service.weight_passing, 3);
	ck_assert_str_eq(s.connect_json, "{\"native\":true}");
	ck_assert_str_eq(s.proxy_json, "");
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].check.definition.deregister_critical_service_after_ns,
	                  90000000000ull);
	ck_assert_uint_eq(l.v[0].check.definition.header.n, 1);
	ck_assert_uint_eq(l.v[0].check.definition.header.v[0].values.n, 2);
	ck_assert(l.v[0].check.definition.tls_skip_verify);
	free_svc(&s, &l);
	ck_assert_int_eq(hjdef_service("{\"name\":1}", &s, &l, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "json: cannot unmarshal number into Go struct field .Name of type string");
	free_svc(&s, &l);
	ck_assert_int_eq(
	    hjdef_service("{\"name\":\"a\",\"check\":{\"ttl\":\"1x\"}}", &s, &l, err, sizeof(err)),
	    -1);
	free_svc(&s, &l);
	ck_assert_int_eq(hjdef_service("[1]", &s, &l, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "json: cannot unmarshal array into Go value of type structs.ServiceDefinition");
	free_svc(&s, &l);
	ck_assert_int_eq(hjdef_service("{", &s, &l, err, sizeof(err)), -1);
	free_svc(&s, &l);
}
END_TEST

START_TEST(test_hstore_round_trip)
{
	struct msg_agent_service s;
	struct msg_agent_check_list l;
	struct hstore_entry e;
	char err[HDEF_ERR_MAX], name[17];
	struct buf b;

	ck_assert_int_eq(
	    prep("{\"name\":\"w\",\"port\":9,\"meta\":{\"k\":\"v\"},\"check\":{\"ttl\":"
	         "\"5s\"}}",
	         &s, &l, &remote_opts, err),
	    0);
	buf_init(&b, HSTORE_FILE_MAX);
	ck_assert_int_eq(hstore_encode_service(&s, "tok", &b), 0);
	ck_assert_int_eq(hstore_decode(b.p, b.len, &e), 0);
	ck_assert_int_eq(e.kind, HSTORE_SERVICE);
	ck_assert_str_eq(e.svc.service.id, "w");
	ck_assert_uint_eq(e.svc.service.port, 9);
	ck_assert_str_eq(e.svc.service.meta.v[0], "v");
	ck_assert_str_eq(e.token, "tok");
	hstore_entry_free(&e);
	/* every cut of the file is refused, never a crash */
	for (size_t cut = 0; cut < b.len; cut++)
		ck_assert_int_eq(hstore_decode(b.p, cut, &e), -1);
	buf_reset(&b);
	ck_assert_int_eq(hstore_encode_check(&l.v[0], "", 1234, &b), 0);
	ck_assert_int_eq(hstore_decode(b.p, b.len, &e), 0);
	ck_assert_int_eq(e.kind, HSTORE_CHECK);
	ck_assert_str_eq(e.chk.check.check_id, "service:w");
	ck_assert_uint_eq(e.chk.check.definition.ttl_ns, 5000000000ull);
	ck_assert_uint_eq(e.ttl_expires_unix_ms, 1234);
	hstore_entry_free(&e);
	b.p[1] = 9; /* another version */
	ck_assert_int_eq(hstore_decode(b.p, b.len, &e), -1);
	buf_fini(&b);
	hstore_name("web", name);
	ck_assert_uint_eq(strlen(name), 16);
	free_svc(&s, &l);
}
END_TEST

static int loaded;

static void count_cb(void *arg, struct hstore_entry *e)
{
	(void)arg;
	loaded++;
	hstore_entry_free(e);
}

START_TEST(test_hstore_files)
{
	char dir[] = "/tmp/hstoreXXXXXX", err[256], *bad;
	struct hstore h;
	struct msg_agent_service s = {0};
	struct buf b;
	const char *what;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(hstore_open(&h, dir, err, sizeof(err)), 0);
	s.service.id = "a";
	s.service.service = "a";
	buf_init(&b, HSTORE_FILE_MAX);
	hstore_encode_service(&s, "", &b);
	ck_assert_int_eq(hstore_put(&h, HSTORE_SERVICE, "a", &b, &what), 0);
	ck_assert_int_eq(hstore_put(&h, HSTORE_SERVICE, "b", &b, &what), 0);
	bad = malloc(strlen(dir) + 40);
	sprintf(bad, "%s/services/00000000000000ff", dir);
	f = fopen(bad, "w");
	fputs("garbage", f);
	fclose(f);
	loaded = 0;
	ck_assert_uint_eq(hstore_load(&h, HSTORE_SERVICE, count_cb, NULL), 1);
	ck_assert_int_eq(loaded, 2);
	ck_assert_int_eq(hstore_del(&h, HSTORE_SERVICE, "a"), 0);
	ck_assert_int_eq(hstore_del(&h, HSTORE_SERVICE, "a"), 0); /* gone is fine */
	unlink(bad);
	loaded = 0;
	hstore_load(&h, HSTORE_SERVICE, count_cb, NULL);
	ck_assert_int_eq(loaded, 1);
	hstore_del(&h, HSTORE_SERVICE, "b");
	hstore_close(&h);
	buf_fini(&b);
	free(bad);
	sprintf(err, "rm -rf %s", dir);
	ck_assert_int_eq(system(err), 0);
}
END_TEST

/* ---- hae: tables ---- */

static struct msg_service mk_svc(const char *id, uint64_t port)
{
	struct msg_service s = {0};

	s.id = (char *)id;
	s.service = (char *)id;
	s.port = port;
	s.weight_passing = s.weight_warning = 1;
	return s;
}

static struct msg_check mk_chk(const char *id, const char *status, const char *output)
{
	struct msg_check c = {0};

	c.check_id = (char *)id;
	c.name = (char *)id;
	c.status = (char *)status;
	c.output = (char *)output;
	return c;
}

START_TEST(test_hae_table)
{
	struct msg_service l0 = mk_svc("a", 1), l1 = mk_svc("b", 2);
	const struct msg_service *ls[] = {&l0, &l1};
	struct msg_service rs[] = {mk_svc("a", 1), mk_svc("b", 3), mk_svc("consul", 8300),
	                           mk_svc("stray", 1)};
	struct msg_check lc0 = mk_chk("c1", "passing", "new"), lc1 = mk_chk("c2", "critical", "");
	struct hae_local_check lcs[] = {{&lc0, true}, {&lc1, false}};
	struct msg_check rc[] = {mk_chk("c1", "passing", "old"), mk_chk("c2", "passing", ""),
	                         mk_chk("serfHealth", "passing", ""), mk_chk("x", "passing", "")};
	struct msg_node node = {0}, rnode = {0};
	bool svc_in[2], chk_in[2];
	const struct msg_strlist *adopt[2];
	const char *ds[4], *dc[4];
	struct hae_in in = {&node, &rnode, ls, 2, lcs, 2, rs, 4, rc, 4};
	struct hae_out out = {false, svc_in, adopt, chk_in, ds, 0, dc, 0};

	node.address = "10.0.0.1";
	rnode.address = "10.0.0.1";
	hae_diff(&in, &out);
	ck_assert(out.node_in_sync);
	ck_assert(svc_in[0]);
	ck_assert(!svc_in[1]); /* port differs */
	ck_assert(chk_in[0]);  /* output deferred: not compared */
	ck_assert(!chk_in[1]); /* status differs */
	ck_assert_uint_eq(out.n_dereg_svcs, 1);
	ck_assert_str_eq(ds[0], "stray");
	ck_assert_uint_eq(out.n_dereg_chks, 1);
	ck_assert_str_eq(dc[0], "x");
	lcs[0].output_deferred = false;
	hae_diff(&in, &out);
	ck_assert(!chk_in[0]);
	/* the node: missing, or another address */
	in.remote_node = NULL;
	hae_diff(&in, &out);
	ck_assert(!out.node_in_sync);
	in.remote_node = &rnode;
	rnode.address = "10.0.0.2";
	hae_diff(&in, &out);
	ck_assert(!out.node_in_sync);
}
END_TEST

START_TEST(test_hae_tag_override)
{
	char *lt[] = {"local"}, *rt[] = {"remote", "x"};
	struct msg_service l0 = mk_svc("a", 1), r0 = mk_svc("a", 1);
	const struct msg_service *ls[] = {&l0};
	struct msg_node node = {0};
	bool svc_in[1];
	const struct msg_strlist *adopt[1];
	const char *ds[1];
	struct hae_in in = {&node, &node, ls, 1, NULL, 0, &r0, 1, NULL, 0};
	struct hae_out out = {false, svc_in, adopt, NULL, ds, 0, NULL, 0};

	l0.tags = (struct msg_strlist){lt, 1};
	r0.tags = (struct msg_strlist){rt, 2};
	hae_diff(&in, &out);
	ck_assert(!svc_in[0]);
	ck_assert_ptr_null(adopt[0]);
	l0.enable_tag_override = r0.enable_tag_override = true;
	hae_diff(&in, &out);
	ck_assert(svc_in[0]); /* the catalog's tags win */
	ck_assert_ptr_eq(adopt[0], &r0.tags);
}
END_TEST

START_TEST(test_hae_scale)
{
	ck_assert_uint_eq(hae_scale_factor(1), 1);
	ck_assert_uint_eq(hae_scale_factor(128), 1);
	ck_assert_uint_eq(hae_scale_factor(129), 2);
	ck_assert_uint_eq(hae_scale_factor(256), 2);
	ck_assert_uint_eq(hae_scale_factor(512), 3);
	ck_assert_uint_eq(hae_scale_factor(1024), 4);
	ck_assert_uint_eq(hae_scale_factor(10000), 8);
}
END_TEST

/* ---- hae: seeded convergence ----
 * Random local state and catalog; apply what the diff says (write every
 * local entry not in sync, remove what it lists) to the catalog; a second
 * diff must find everything in sync and nothing to remove, and nothing but
 * serfHealth and consul may be left in the catalog that is not local. */

#define SIM_N 12
static const char *const sim_ids[SIM_N] = {"a", "b", "c",      "d",          "e", "f",
                                           "g", "h", "consul", "serfHealth", "i", "j"};
static const char *const sim_status[3] = {"passing", "warning", "critical"};

struct sim {
	struct msg_service lsv[SIM_N], rsv[SIM_N];
	const struct msg_service *lsp[SIM_N];
	size_t nl, nr;
	struct msg_check lck[SIM_N], rck[SIM_N];
	struct hae_local_check lcp[SIM_N];
	size_t nlc, nrc;
};

static void sim_fill(struct sim *s, uint64_t *seed)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < SIM_N; i++) {
		uint64_t r = prng_next(seed);

		if (r & 1 && strcmp(sim_ids[i], "consul") != 0) {
			s->lsv[s->nl] = mk_svc(sim_ids[i], r % 3);
			s->lsp[s->nl] = &s->lsv[s->nl];
			s->nl++;
		}
		if (r & 2)
			s->rsv[s->nr++] = mk_svc(sim_ids[i], (r >> 8) % 3);
		if (r & 4 && strcmp(sim_ids[i], "serfHealth") != 0) {
			s->lck[s->nlc] = mk_chk(sim_ids[i], sim_status[(r >> 16) % 3],
			                        (r >> 20) & 1 ? "o1" : "o2");
			s->lcp[s->nlc].check = &s->lck[s->nlc];
			s->lcp[s->nlc].output_deferred = (r >> 24) & 1;
			s->nlc++;
		}
		if (r & 8)
			s->rck[s->nrc++] = mk_chk(sim_ids[i], sim_status[(r >> 28) % 3],
			                          (r >> 32) & 1 ? "o1" : "o2");
	}
}

static void sim_run(struct sim *s, struct hae_out *out, bool *si, bool *ci,
                    const struct msg_strlist **ad, const char **ds, const char **dc)
{
	struct msg_node node = {0};
	struct hae_in in = {&node,  &node,  s->lsp, s->nl,  s->lcp,
	                    s->nlc, s->rsv, s->nr,  s->rck, s->nrc};

	memset(out, 0, sizeof(*out));
	out->svc_in_sync = si;
	out->chk_in_sync = ci;
	out->adopt_tags = ad;
	out->dereg_svcs = ds;
	out->dereg_chks = dc;
	hae_diff(&in, out);
}

START_TEST(test_hae_converges)
{
	uint64_t seed = 0x5eed0000u + (uint64_t)_i, s0 = seed;

	for (int round = 0; round < 500; round++) {
		struct sim s;
		struct hae_out out;
		bool si[SIM_N], ci[SIM_N];
		const struct msg_strlist *ad[SIM_N];
		const char *ds[SIM_N], *dc[SIM_N];

		sim_fill(&s, &seed);
		sim_run(&s, &out, si, ci, ad, ds, dc);
		/* apply: removals, then writes (a write replaces or adds) */
		for (size_t k = 0; k < out.n_dereg_svcs; k++)
			for (size_t j = 0; j < s.nr; j++)
				if (strcmp(s.rsv[j].id, ds[k]) == 0) {
					s.rsv[j] = s.rsv[--s.nr];
					break;
				}
		for (size_t k = 0; k < out.n_dereg_chks; k++)
			for (size_t j = 0; j < s.nrc; j++)
				if (strcmp(s.rck[j].check_id, dc[k]) == 0) {
					s.rck[j] = s.rck[--s.nrc];
					break;
				}
		for (size_t i = 0; i < s.nl; i++) {
			size_t j;

			if (si[i])
				continue;
			for (j = 0; j < s.nr && strcmp(s.rsv[j].id, s.lsv[i].id) != 0; j++)
				;
			s.rsv[j] = s.lsv[i];
			if (j == s.nr)
				s.nr++;
		}
		for (size_t i = 0; i < s.nlc; i++) {
			size_t j;

			if (ci[i])
				continue;
			for (j = 0; j < s.nrc && strcmp(s.rck[j].check_id, s.lck[i].check_id) != 0;
			     j++)
				;
			s.rck[j] = s.lck[i];
			if (j == s.nrc)
				s.nrc++;
		}
		sim_run(&s, &out, si, ci, ad, ds, dc);
		for (size_t i = 0; i < s.nl; i++)
			ck_assert_msg(si[i], "seed %" PRIu64 " round %d: service %s not in sync",
			              s0, round, s.lsv[i].id);
		for (size_t i = 0; i < s.nlc; i++)
			ck_assert_msg(ci[i], "seed %" PRIu64 " round %d: check %s not in sync", s0,
			              round, s.lck[i].check_id);
		ck_assert_msg(out.n_dereg_svcs == 0 && out.n_dereg_chks == 0,
		              "seed %" PRIu64 " round %d: still removing", s0, round);
		for (size_t j = 0; j < s.nr; j++) {
			bool local = strcmp(s.rsv[j].id, "consul") == 0;

			for (size_t i = 0; i < s.nl && !local; i++)
				local = strcmp(s.lsv[i].id, s.rsv[j].id) == 0;
			ck_assert_msg(local, "seed %" PRIu64 ": %s left", s0, s.rsv[j].id);
		}
		for (size_t j = 0; j < s.nrc; j++) {
			bool local = strcmp(s.rck[j].check_id, "serfHealth") == 0;

			for (size_t i = 0; i < s.nlc && !local; i++)
				local = strcmp(s.lck[i].check_id, s.rck[j].check_id) == 0;
			ck_assert_msg(local, "seed %" PRIu64 ": check %s left", s0,
			              s.rck[j].check_id);
		}
	}
}
END_TEST

static Suite *hstate_suite(void)
{
	Suite *s = suite_create("hstate");
	TCase *tc;

	tc = tcase_create("hdef");
	tcase_add_test(tc, test_service_defaults);
	tcase_add_test(tc, test_service_errors);
	tcase_add_test(tc, test_script_permission_and_check_register);
	tcase_add_test(tc, test_maint_and_output);
	tcase_add_test(tc, test_hjdef_lenient);
	suite_add_tcase(s, tc);
	tc = tcase_create("hstore");
	tcase_add_test(tc, test_hstore_round_trip);
	tcase_add_test(tc, test_hstore_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("hae");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hae_table);
	tcase_add_test(tc, test_hae_tag_override);
	tcase_add_test(tc, test_hae_scale);
	tcase_add_loop_test(tc, test_hae_converges, 0, 8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return testutil_run(hstate_suite());
}
