/* fsm_catalog.c: the catalog: nodes, services, checks, register and reads (spec §4, §5). */
#include "fsm_int.h"
#include "gofmt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Consul's state/catalog.go, function for function, and catalog_endpoint.go's
 * pre-apply checks. */

/* A catalog row by its parts (node, or node and service/check id). */
static const void *fsm_cat_row(const struct fsm *f, enum fsm_table t, const char *node,
                               const char *id)
{
	const void *row;
	char *k;

	if (fsm_has_sep(node) || (id != NULL && fsm_has_sep(id)))
		return NULL;
	k = fsm_lkey(node, id, NULL);
	row = fsm_tab_get(f, t, k);
	free(k);
	return row;
}

static const struct msg_node *fsm_cat_node(const struct fsm *f, const char *name)
{
	return fsm_cat_row(f, FSM_T_NODES, name, NULL);
}

/* The node a service or check is registered on; Consul's error when none. */
static const struct msg_node *fsm_cat_node_needed(const struct fsm *f, const char *name,
                                                  struct fsm_err *e)
{
	const struct msg_node *n = fsm_cat_node(f, name);

	if (n == NULL)
		fsm_err_set(e, 500, "Missing node registration");
	return n;
}

static const struct msg_service *fsm_cat_service(const struct fsm *f, const char *node,
                                                 const char *id)
{
	return fsm_cat_row(f, FSM_T_SERVICES, node, id);
}

static const struct msg_check *fsm_cat_check(const struct fsm *f, const char *node,
                                             const char *check_id)
{
	return fsm_cat_row(f, FSM_T_CHECKS, node, check_id);
}

const struct msg_node *fsm_cat_node_by_id(const struct fsm *f, const char *id)
{
	char *k = fsm_lkey(id, NULL, NULL);
	const struct msg_node *n = omap_get(f->node_by_id, k);

	free(k);
	return n;
}

static char *fsm_cat_svc_ix(const char *name)
{
	char *low = fsm_lkey(name, NULL, NULL);
	char *k = xasprintf(FSM_IX_SVC_PREFIX "%s", low);

	free(low);
	return k;
}

/* catalogUpdateServiceIndexes: "svc/<lower name>". */
static void fsm_cat_bump_svc(struct fsm *f, const char *name)
{
	char *k = fsm_cat_svc_ix(name);

	fsm_index_bump(f, k);
	free(k);
}

/* updateAllServiceIndexesOfNode: node and node-check changes show in the
 * health reads of every service on the node. */
static void fsm_cat_bump_node_services(struct fsm *f, const char *node)
{
	char *prefix = fsm_lkey(node, "", NULL);
	size_t plen = strlen(prefix);
	struct omap_node *n;

	for (n = omap_seek(f->tab[FSM_T_SERVICES], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_cat_bump_svc(f, ((const struct msg_service *)omap_val(n))->service);
	free(prefix);
}

/* After an instance of name went away or was renamed: bump the service's
 * index, or when it was the last one drop the row and move the extinction
 * index (deleteServiceTxn). */
static void fsm_cat_svc_left(struct fsm *f, const char *name)
{
	char *prefix = fsm_lkey(name, "", NULL);
	struct omap_node *n = omap_seek(f->svc_by_name, prefix);
	bool remains =
	    n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, strlen(prefix));

	free(prefix);
	if (remains) {
		fsm_cat_bump_svc(f, name);
	} else {
		char *k = fsm_cat_svc_ix(name);

		fsm_index_del(f, k);
		free(k);
		fsm_index_bump(f, FSM_IX_EXTINCTION);
	}
}

/* The per-service index a read returns: the service's row, or for a
 * service that does not exist the extinction index (maxIndexForService),
 * or the catalog's. Never 0. */
static uint64_t fsm_cat_svc_index(const struct fsm *f, const char *name)
{
	char *k = fsm_cat_svc_ix(name);
	uint64_t idx = fsm_index_get(f, k);

	free(k);
	if (idx == 0)
		idx = fsm_index_get(f, FSM_IX_EXTINCTION);
	if (idx == 0)
		idx = fsm_max3(fsm_index_get(f, "nodes"), fsm_index_get(f, "services"),
		               fsm_index_get(f, "checks"));
	return idx > 0 ? idx : 1;
}

static uint64_t fsm_cat_table_index(const struct fsm *f, const char *name)
{
	uint64_t idx = fsm_index_get(f, name);

	return idx > 0 ? idx : 1;
}

/* ---- validation (catalog_endpoint.go's nodePreApply, servicePreApply) ---- */

/* go-uuid's ParseUUID errors, as "Bad node ID: ..." carries them. */
static bool fsm_cat_uuid_bad(const char *s, struct fsm_err *e)
{
	size_t i;

	if (strlen(s) != 36) {
		fsm_err_set(e, 500, "Bad node ID: uuid string is wrong length");
		return true;
	}
	if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') {
		fsm_err_set(e, 500, "Bad node ID: uuid is improperly formatted");
		return true;
	}
	for (i = 0; i < 36; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23 || isxdigit(c))
			continue;
		if (c >= 0x20 && c < 0x7f)
			fsm_err_set(e, 500, "Bad node ID: encoding/hex: invalid byte: U+%04X '%c'",
			            c, c);
		else
			fsm_err_set(e, 500, "Bad node ID: encoding/hex: invalid byte: U+%04X", c);
		return true;
	}
	return false;
}

static bool fsm_cat_name_bad(const char *what, const char *s, struct fsm_err *e)
{
	if (!fsm_has_sep(s))
		return false;
	fsm_err_set(e, 400, "Invalid %s: contains a 0x1f byte", what);
	return true;
}

int fsm_cat_node_validate(const struct msg_node *n, struct fsm_err *e)
{
	if (n->node[0] == '\0') {
		fsm_err_set(e, 500, "Must provide node");
		return -1;
	}
	if (fsm_cat_name_bad("node name", n->node, e))
		return -1;
	if (n->id[0] != '\0' && fsm_cat_uuid_bad(n->id, e))
		return -1;
	return 0;
}

int fsm_cat_service_prepare(struct msg_service *s, struct fsm_err *e)
{
	if (s->id[0] == '\0' && s->service[0] != '\0') {
		free(s->id);
		s->id = xstrdup(s->service);
	}
	if (s->id[0] != '\0' && s->service[0] == '\0') {
		fsm_err_set(e, 500, "Must provide service name with ID");
		return -1;
	}
	/* Where muster differs: Consul stores a service with neither ID nor
	 * name; it could never be read back by name, so it is refused. */
	if (s->id[0] == '\0') {
		fsm_err_set(e, 400, "Missing service name");
		return -1;
	}
	if (fsm_is_any_addr(s->address)) {
		fsm_err_set(e, 500, "Invalid service address");
		return -1;
	}
	if (fsm_cat_name_bad("service ID", s->id, e) ||
	    fsm_cat_name_bad("service name", s->service, e))
		return -1;
	/* Weights default to {1, 1} (spec §2.2); 0 passing means unset. */
	if (s->weight_passing == 0) {
		if (s->weight_warning == 0)
			s->weight_warning = 1;
		s->weight_passing = 1;
	}
	fsm_strmap_normalize(&s->meta);
	return 0;
}

/* ---- nodes ---- */

/* ensureNoNodeWithSimilarNameTxn: a node name held by another node ID is
 * only taken over when that node's serfHealth is missing or critical. */
static int fsm_cat_name_clash(const struct fsm *f, const struct msg_node *n, bool allow_no_id,
                              struct fsm_err *e)
{
	const struct msg_node *en = fsm_cat_node(f, n->node);
	const struct msg_check *serf;

	if (en == NULL || strcmp(en->id, n->id) == 0)
		return 0;
	serf = fsm_cat_check(f, en->node, "serfHealth");
	if (serf == NULL || strcmp(serf->status, "critical") == 0)
		return 0;
	if (en->id[0] == '\0' && allow_no_id)
		return 0;
	fsm_err_set(e, 500, "Node name %s is reserved by node %s with name %s (%s)", n->node,
	            en->id, en->node, en->address);
	return -1;
}

static void fsm_cat_node_insert(struct fsm *f, struct msg_node *nn)
{
	char *k = fsm_lkey(nn->node, NULL, NULL);

	fsm_tab_set(f, FSM_T_NODES, k, nn);
	fsm_index_bump(f, "nodes");
	fsm_cat_bump_node_services(f, nn->node);
	free(k);
}

/* ensureNodeTxn, with Consul's rename of a node ID to a new name. */
int fsm_cat_ensure_node(struct fsm *f, const struct msg_node *in, struct fsm_err *e)
{
	struct msg_node *nn = xcalloc(1, sizeof(*nn));
	const struct msg_node *n = NULL;
	uint64_t create = 0;
	bool have = false;

	FSM_COPY(node, nn, in);
	fsm_strmap_normalize(&nn->tagged_addresses);
	fsm_strmap_normalize(&nn->meta);
	if (nn->id[0] != '\0') {
		const struct msg_node *byid = fsm_cat_node_by_id(f, nn->id);

		if (byid != NULL && !fsm_eqfold(byid->node, nn->node)) {
			char *old;
			struct fsm_err ce = {0};

			if (fsm_cat_name_clash(f, nn, false, &ce) != 0) {
				char *q = gofmt_quote(nn->id, strlen(nn->id));

				fsm_err_set(e, 500, "Error while renaming Node ID: %s (%s): %s", q,
				            nn->address, ce.what);
				free(q);
				fsm_err_fini(&ce);
				goto fail;
			}
			create = byid->create_index;
			have = true;
			old = xstrdup(byid->node);
			fsm_cat_delete_node(f, old);
			free(old);
		} else if (byid != NULL) {
			n = byid;
		} else {
			struct fsm_err ce = {0};

			if (fsm_cat_name_clash(f, nn, true, &ce) != 0) {
				char *q = gofmt_quote(nn->id, strlen(nn->id));

				fsm_err_set(e, 500, "Error while renaming Node ID: %s: %s", q,
				            ce.what);
				free(q);
				fsm_err_fini(&ce);
				goto fail;
			}
		}
	}
	if (!have && n == NULL)
		n = fsm_cat_node(f, nn->node);
	if (n != NULL) {
		if (fsm_node_same(n, nn)) {
			msg_rec_free_node(nn);
			free(nn);
			return 0;
		}
		create = n->create_index;
		have = true;
	}
	nn->create_index = have ? create : f->idx;
	nn->modify_index = f->idx;
	fsm_cat_node_insert(f, nn);
	return 0;
fail:
	msg_rec_free_node(nn);
	free(nn);
	return -1;
}

static bool fsm_strmap_equal(const struct msg_strmap *a, const struct msg_strmap *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (strcmp(a->k[i], b->k[i]) != 0 || strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* RegisterRequest.ChangesNode (n normalised). */
static bool fsm_cat_changes_node(const struct msg_catalog_register *r, const struct msg_node *n,
                                 const struct msg_node *existing)
{
	if (existing == NULL)
		return true;
	if (r->skip_node_update)
		return false;
	return strcmp(n->id, existing->id) != 0 || !fsm_eqfold(n->node, existing->node) ||
	       strcmp(n->address, existing->address) != 0 ||
	       strcmp(n->datacenter, existing->datacenter) != 0 ||
	       !fsm_strmap_equal(&n->tagged_addresses, &existing->tagged_addresses) ||
	       !fsm_strmap_equal(&n->meta, &existing->meta);
}

/* ---- services ---- */

/* ensureServiceTxn: the node must exist; a service that changes nothing
 * keeps its indexes. */
int fsm_cat_ensure_service(struct fsm *f, const char *node, const struct msg_service *in,
                           struct fsm_err *e)
{
	const struct msg_node *nd = fsm_cat_node_needed(f, node, e);
	struct msg_service *ns;
	const struct msg_service *existing;
	char *k, *old_name = NULL;

	if (nd == NULL)
		return -1;
	ns = xcalloc(1, sizeof(*ns));
	FSM_COPY(service, ns, in);
	/* The node's name as stored (Consul keeps the request's spelling;
	 * ours keeps a re-registration in another case from being a change). */
	free(ns->node);
	ns->node = xstrdup(nd->node);
	k = fsm_lkey(node, ns->id, NULL);
	existing = fsm_tab_get(f, FSM_T_SERVICES, k);
	if (existing != NULL && fsm_service_same(existing, ns)) {
		msg_rec_free_service(ns);
		free(ns);
		free(k);
		return 0;
	}
	ns->create_index = existing != NULL ? existing->create_index : f->idx;
	ns->modify_index = f->idx;
	/* Where muster differs: an instance renamed in place leaves its old
	 * name's index moved (or extinct); Consul leaves it as it was. */
	if (existing != NULL && !fsm_eqfold(existing->service, ns->service))
		old_name = xstrdup(existing->service);
	fsm_tab_set(f, FSM_T_SERVICES, k, ns);
	fsm_index_bump(f, "services");
	fsm_cat_bump_svc(f, ns->service);
	if (old_name != NULL)
		fsm_cat_svc_left(f, old_name);
	free(old_name);
	free(k);
	return 0;
}

/* deleteServiceTxn: its checks go first (invalidating sessions). */
void fsm_cat_delete_service(struct fsm *f, const char *node, const char *id)
{
	const struct msg_service *s = fsm_cat_service(f, node, id);
	struct fsm_vec checks = {0};
	char *k, *prefix, *name;
	size_t plen;
	struct omap_node *n;

	if (s == NULL)
		return;
	name = xstrdup(s->service);
	k = fsm_lkey(node, id, NULL);
	prefix = fsm_lkey(node, id, "");
	plen = strlen(prefix);
	for (n = omap_seek(f->chk_by_svc, prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_vec_push(&checks, ((const struct msg_check *)omap_val(n))->check_id);
	free(prefix);
	for (size_t i = 0; i < checks.n; i++)
		fsm_cat_delete_check(f, node, checks.v[i]);
	fsm_vec_free(&checks);
	fsm_index_bump(f, "checks");
	fsm_tab_set(f, FSM_T_SERVICES, k, NULL);
	fsm_index_bump(f, "services");
	fsm_cat_svc_left(f, name);
	free(name);
	free(k);
}

/* ---- checks ---- */

/* ensureCheckTxn: node (and service) must exist; an empty status is
 * critical; a critical status invalidates the sessions linked to the
 * check, written or not (spec §7.6 rule 3). */
int fsm_cat_ensure_check(struct fsm *f, const struct msg_check *in, struct fsm_err *e)
{
	struct msg_check *nc;
	const struct msg_node *nd;
	const struct msg_check *existing;
	const struct msg_service *svc = NULL;
	uint64_t create;
	bool modified;
	char *k;

	if (fsm_cat_name_bad("check ID", in->check_id, e))
		return -1;
	nd = fsm_cat_node_needed(f, in->node, e);
	if (nd == NULL)
		return -1;
	if (in->service_id[0] != '\0') {
		svc = fsm_cat_service(f, in->node, in->service_id);
		if (svc == NULL) {
			fsm_err_set(e, 500, "Missing service registration");
			return -1;
		}
	}
	nc = xcalloc(1, sizeof(*nc));
	FSM_COPY(check, nc, in);
	free(nc->node);
	nc->node = xstrdup(nd->node); /* as for services */
	if (nc->status[0] == '\0') {
		free(nc->status);
		nc->status = xstrdup("critical");
	}
	/* Service name and tags are filled from the service when read. */
	free(nc->service_name);
	nc->service_name = xstrdup("");
	for (uint32_t i = 0; i < nc->service_tags.n; i++)
		free(nc->service_tags.v[i]);
	free(nc->service_tags.v);
	memset(&nc->service_tags, 0, sizeof(nc->service_tags));
	k = fsm_lkey(nc->node, nc->check_id, NULL);
	existing = fsm_tab_get(f, FSM_T_CHECKS, k);
	modified = existing == NULL || !fsm_check_same(existing, nc);
	create = existing != NULL ? existing->create_index : f->idx;
	if (modified) {
		if (svc != NULL)
			fsm_cat_bump_svc(f, svc->service);
		else
			fsm_cat_bump_node_services(f, nc->node);
	}
	if (strcmp(nc->status, "critical") == 0)
		fsm_sess_invalidate_check(f, nc->node, nc->check_id);
	if (!modified) {
		msg_rec_free_check(nc);
		free(nc);
		free(k);
		return 0;
	}
	nc->create_index = create;
	nc->modify_index = f->idx;
	fsm_tab_set(f, FSM_T_CHECKS, k, nc);
	fsm_index_bump(f, "checks");
	free(k);
	return 0;
}

/* deleteCheckTxn: sessions linked to the check are invalidated. */
void fsm_cat_delete_check(struct fsm *f, const char *node, const char *check_id)
{
	const struct msg_check *c = fsm_cat_check(f, node, check_id);
	char *k, *cnode, *cid;

	if (c == NULL)
		return;
	if (c->service_id[0] != '\0') {
		const struct msg_service *svc = fsm_cat_service(f, c->node, c->service_id);

		if (svc != NULL)
			fsm_cat_bump_svc(f, svc->service);
	} else {
		fsm_cat_bump_node_services(f, c->node);
		fsm_index_bump(f, "services");
	}
	cnode = xstrdup(c->node);
	cid = xstrdup(c->check_id);
	k = fsm_lkey(cnode, cid, NULL);
	fsm_tab_set(f, FSM_T_CHECKS, k, NULL);
	fsm_index_bump(f, "checks");
	fsm_sess_invalidate_check(f, cnode, cid);
	free(k);
	free(cnode);
	free(cid);
}

/* deleteNodeTxn: services, checks, the node, then its sessions. */
void fsm_cat_delete_node(struct fsm *f, const char *name)
{
	const struct msg_node *nd = fsm_cat_node(f, name);
	struct fsm_vec ids = {0};
	char *k, *prefix, *node;
	size_t plen;
	struct omap_node *n;

	if (nd == NULL)
		return;
	node = xstrdup(nd->node);
	k = fsm_lkey(node, NULL, NULL);
	prefix = fsm_lkey(node, "", NULL);
	plen = strlen(prefix);
	for (n = omap_seek(f->tab[FSM_T_SERVICES], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n)) {
		const struct msg_service *s = omap_val(n);

		fsm_cat_bump_svc(f, s->service);
		fsm_vec_push(&ids, s->id);
	}
	for (size_t i = 0; i < ids.n; i++)
		fsm_cat_delete_service(f, node, ids.v[i]);
	fsm_vec_free(&ids);
	for (n = omap_seek(f->tab[FSM_T_CHECKS], prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_vec_push(&ids, ((const struct msg_check *)omap_val(n))->check_id);
	for (size_t i = 0; i < ids.n; i++)
		fsm_cat_delete_check(f, node, ids.v[i]);
	fsm_vec_free(&ids);
	fsm_tab_set(f, FSM_T_NODES, k, NULL);
	fsm_index_bump(f, "nodes");
	fsm_sess_invalidate_node(f, node);
	free(prefix);
	free(k);
	free(node);
}

/* ---- register, deregister ---- */

static int fsm_cat_register_validate(const struct msg_catalog_register *r, struct fsm_err *e)
{
	if (fsm_cat_node_validate(&r->node, e) != 0)
		return -1;
	if (r->node.address[0] == '\0' && !r->skip_node_update) {
		fsm_err_set(e, 500, "Must provide address if SkipNodeUpdate is not set");
		return -1;
	}
	if (r->has_service) {
		struct msg_service svc = {0};
		int rc;

		FSM_COPY(service, &svc, &r->service);
		rc = fsm_cat_service_prepare(&svc, e);
		msg_rec_free_service(&svc);
		return rc;
	}
	return 0;
}

int fsm_cat_register_check(const struct msg_catalog_register *r, uint64_t *status, char **what)
{
	struct fsm_err e = {0};

	if (fsm_cat_register_validate(r, &e) == 0)
		return 0;
	*status = e.status;
	*what = e.what;
	return -1;
}

int fsm_cat_apply_register(struct fsm *f, const struct msg_catalog_register *r, struct msg *reply)
{
	struct fsm_err e = {0};
	struct msg_node node = {0};
	struct msg_service svc = {0};
	struct msg_check_list checks = {0};
	int rc = -1;

	/* Catalog.Register's checks: the leader made them before proposing
	 * (fsm_cat_register_check), and every server makes them again here,
	 * so a log written by an older version applies the same. */
	if (fsm_cat_register_validate(r, &e) != 0)
		goto out;
	FSM_COPY(node, &node, &r->node);
	fsm_strmap_normalize(&node.tagged_addresses);
	fsm_strmap_normalize(&node.meta);
	if (r->has_service) {
		FSM_COPY(service, &svc, &r->service);
		if (fsm_cat_service_prepare(&svc, &e) != 0)
			goto out;
	}
	for (uint32_t i = 0; i < r->checks.n; i++) {
		struct msg_check *c = FSM_PUSH(&checks);

		FSM_COPY(check, c, &r->checks.v[i]);
		if (c->node[0] == '\0') {
			free(c->node);
			c->node = xstrdup(node.node);
		}
		if (c->check_id[0] == '\0') {
			free(c->check_id);
			c->check_id = xstrdup(c->name);
		}
	}

	/* ensureRegistrationTxn */
	if (fsm_cat_changes_node(r, &node, fsm_cat_node(f, node.node)) &&
	    fsm_cat_ensure_node(f, &node, &e) != 0) {
		char *what = e.what;

		e.what = NULL;
		fsm_err_set(&e, 500, "failed inserting node: %s", what);
		free(what);
		goto out;
	}
	if (r->has_service && fsm_cat_ensure_service(f, node.node, &svc, &e) != 0) {
		char *what = e.what;

		e.what = NULL;
		fsm_err_set(&e, 500, "failed inserting service: %s", what);
		free(what);
		goto out;
	}
	for (uint32_t i = 0; i < checks.n; i++) {
		const struct msg_check *c = &checks.v[i];
		char *qn = gofmt_quote(node.node, strlen(node.node)), *qc = gofmt_quote(c->node, strlen(c->node));

		if (!fsm_eqfold(c->node, node.node)) {
			fsm_err_set(&e, 500, "check node %s does not match node %s", qc, qn);
		} else if (fsm_cat_ensure_check(f, c, &e) != 0) {
			char *what = e.what;

			e.what = NULL;
			fsm_err_set(&e, e.status, "failed inserting check on node %s: %s", qc,
			            what);
			free(what);
		}
		free(qn);
		free(qc);
		if (e.what != NULL)
			goto out;
	}
	fsm_reply_write(reply, f->idx, true, "");
	rc = 0;
out:
	if (rc != 0)
		fsm_reply_err(reply, &e);
	fsm_err_fini(&e);
	msg_rec_free_node(&node);
	msg_rec_free_service(&svc);
	for (uint32_t i = 0; i < checks.n; i++)
		msg_rec_free_check(&checks.v[i]);
	free(checks.v);
	return rc;
}

int fsm_cat_apply_deregister(struct fsm *f, const struct msg_catalog_deregister *d,
                             struct msg *reply)
{
	if (d->node[0] == '\0') {
		fsm_reply_result(reply, 500, "Must provide node");
		return -1;
	}
	/* Removing what does not exist is success (spec §4.2). Consul's
	 * applyDeregister: the service, else the check, else the node; a
	 * CheckID sent along with a ServiceID is ignored. */
	if (d->service_id[0] != '\0')
		fsm_cat_delete_service(f, d->node, d->service_id);
	else if (d->check_id[0] != '\0')
		fsm_cat_delete_check(f, d->node, d->check_id);
	else
		fsm_cat_delete_node(f, d->node);
	fsm_reply_write(reply, f->idx, true, "");
	return 0;
}

/* ---- reads ---- */

static void fsm_strlist_copy(struct msg_strlist *dst, const struct msg_strlist *src)
{
	for (uint32_t i = 0; i < src->n; i++)
		*FSM_PUSH(dst) = xstrdup(src->v[i]);
}

void fsm_cat_check_out(const struct fsm *f, const struct msg_check *c, struct msg_check *out)
{
	FSM_COPY(check, out, c);
	if (c->service_id[0] != '\0') {
		const struct msg_service *svc = fsm_cat_service(f, c->node, c->service_id);

		if (svc != NULL) {
			free(out->service_name);
			out->service_name = xstrdup(svc->service);
			fsm_strlist_copy(&out->service_tags, &svc->tags);
		}
	}
}

static bool fsm_cat_node_meta_ok(const struct fsm *f, const char *node,
                                 const struct msg_strmap *filter)
{
	const struct msg_node *n;

	if (filter->n == 0)
		return true;
	n = fsm_cat_node(f, node);
	return n != NULL && fsm_meta_match(&n->meta, filter);
}

int fsm_cat_query_nodes(const struct fsm *f, const struct msg_catalog_nodes *q, struct msg *reply,
                        struct fsm_watchset *ws)
{
	struct msg_nodes_reply *r = &reply->u.nodes_reply;

	reply->type = MSG_NODES_REPLY;
	for (struct omap_node *n = omap_first(f->tab[FSM_T_NODES]); n != NULL; n = omap_next(n)) {
		const struct msg_node *nd = omap_val(n);

		if (fsm_meta_match(&nd->meta, &q->node_meta))
			FSM_COPY(node, FSM_PUSH(&r->nodes), nd);
	}
	r->meta.index = fsm_cat_table_index(f, "nodes");
	fsm_watch(ws, "nodes");
	return 0;
}

static int fsm_cat_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fsm_cat_svc_tags_flush(struct msg_services_reply *r, const char *name,
                                   struct fsm_vec *tags)
{
	struct msg_svc_tags *st = FSM_PUSH(&r->services);

	st->name = xstrdup(name);
	if (tags->n > 0)
		qsort(tags->v, tags->n, sizeof(*tags->v), fsm_cat_strcmp);
	for (size_t i = 0; i < tags->n; i++)
		if (i == 0 || strcmp(tags->v[i - 1], tags->v[i]) != 0)
			*FSM_PUSH(&st->tags) = xstrdup(tags->v[i]);
	fsm_vec_free(tags);
}

int fsm_cat_query_services(const struct fsm *f, const struct msg_catalog_services *q,
                           struct msg *reply, struct fsm_watchset *ws)
{
	struct msg_services_reply *r = &reply->u.services_reply;
	struct fsm_vec tags = {0};
	char *group = NULL, *name = NULL;
	uint64_t idx;

	reply->type = MSG_SERVICES_REPLY;
	/* svc_by_name is ordered by lower-cased name: one group per name. */
	for (struct omap_node *n = omap_first(f->svc_by_name); n != NULL; n = omap_next(n)) {
		const struct msg_service *s = omap_val(n);
		const char *sep = strchr(omap_key(n), FSM_SEP_C);
		size_t glen = (size_t)(sep - omap_key(n));

		if (group == NULL || strlen(group) != glen ||
		    memcmp(group, omap_key(n), glen) != 0) {
			if (name != NULL)
				fsm_cat_svc_tags_flush(r, name, &tags);
			free(group);
			free(name);
			name = NULL;
			group = strndup(omap_key(n), glen);
			if (group == NULL)
				fsm_oom();
		}
		if (!fsm_cat_node_meta_ok(f, s->node, &q->node_meta))
			continue;
		if (name == NULL)
			name = xstrdup(s->service);
		for (uint32_t i = 0; i < s->tags.n; i++)
			fsm_vec_push(&tags, s->tags.v[i]);
	}
	if (name != NULL)
		fsm_cat_svc_tags_flush(r, name, &tags);
	fsm_vec_free(&tags);
	free(group);
	free(name);
	idx = fsm_index_get(f, "services");
	fsm_watch(ws, "services");
	if (q->node_meta.n > 0) {
		/* ServicesByNodeMeta: the nodes table counts too. */
		uint64_t ni = fsm_index_get(f, "nodes");

		if (ni > idx)
			idx = ni;
		fsm_watch(ws, "nodes");
	}
	r->meta.index = idx > 0 ? idx : 1;
	return 0;
}

/* serviceTagsFilter: every wanted tag, case-insensitively. */
static bool fsm_cat_tags_ok(const struct msg_service *s, const struct msg_strlist *want)
{
	for (uint32_t i = 0; i < want->n; i++) {
		bool found = false;

		for (uint32_t j = 0; j < s->tags.n && !found; j++)
			found = fsm_eqfold(s->tags.v[j], want->v[i]);
		if (!found)
			return false;
	}
	return true;
}

/* Checks under a chk_by_svc prefix, filled for a reply. */
static void fsm_cat_checks_under(const struct fsm *f, const char *prefix,
                                 struct msg_check_list *out)
{
	size_t plen = strlen(prefix);

	for (struct omap_node *n = omap_seek(f->chk_by_svc, prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n))
		fsm_cat_check_out(f, omap_val(n), FSM_PUSH(out));
}

int fsm_cat_query_service_nodes(const struct fsm *f, const struct msg_service_nodes *q,
                                struct msg *reply, struct fsm_watchset *ws)
{
	struct msg_service_nodes_reply *r = &reply->u.service_nodes_reply;
	char *prefix, *ix;
	size_t plen;

	if (q->service[0] == '\0') {
		fsm_reply_result(reply, 400, "Missing service name");
		return -1;
	}
	reply->type = MSG_SERVICE_NODES_REPLY;
	prefix = fsm_lkey(q->service, "", NULL);
	plen = strlen(prefix);
	/* A name holding the separator names no service (and its prefix
	 * would reach into another service's node part). */
	for (struct omap_node *n = fsm_has_sep(q->service) ? NULL
	                                                   : omap_seek(f->svc_by_name, prefix);
	     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
	     n = omap_next(n)) {
		const struct msg_service *s = omap_val(n);
		const struct msg_node *nd = fsm_cat_node(f, s->node);
		struct msg_svc_entry ent = {0};
		bool pass = true;

		if (nd == NULL || !fsm_cat_tags_ok(s, &q->tags) ||
		    !fsm_meta_match(&nd->meta, &q->node_meta))
			continue;
		if (q->with_checks || q->passing) {
			/* Node checks first, then the instance's own (Consul's
			 * parseCheckServiceNodes). */
			char *np = fsm_lkey(s->node, "", ""), *sp = fsm_lkey(s->node, s->id, "");

			fsm_cat_checks_under(f, np, &ent.checks);
			fsm_cat_checks_under(f, sp, &ent.checks);
			free(np);
			free(sp);
			for (uint32_t i = 0; i < ent.checks.n && q->passing; i++)
				pass = pass && strcmp(ent.checks.v[i].status, "passing") == 0;
			if (!q->with_checks) {
				for (uint32_t i = 0; i < ent.checks.n; i++)
					msg_rec_free_check(&ent.checks.v[i]);
				free(ent.checks.v);
				memset(&ent.checks, 0, sizeof(ent.checks));
			}
		}
		if (!pass) {
			msg_rec_free_svc_entry(&ent);
			continue;
		}
		FSM_COPY(node, &ent.node, nd);
		FSM_COPY(service, &ent.service, s);
		*FSM_PUSH(&r->entries) = ent;
	}
	free(prefix);
	r->meta.index = fsm_cat_svc_index(f, q->service);
	ix = fsm_cat_svc_ix(q->service);
	fsm_watch(ws, ix);
	free(ix);
	return 0;
}

int fsm_cat_query_node(const struct fsm *f, const struct msg_catalog_node *q, struct msg *reply,
                       struct fsm_watchset *ws)
{
	struct msg_catalog_node_reply *r = &reply->u.catalog_node_reply;
	const struct msg_node *nd;
	uint64_t idx;

	if (q->node[0] == '\0') {
		fsm_reply_result(reply, 400, "Missing node name");
		return -1;
	}
	reply->type = MSG_CATALOG_NODE_REPLY;
	nd = fsm_cat_node(f, q->node);
	if (nd == NULL)
		nd = fsm_cat_node_by_id(f, q->node);
	if (nd != NULL) {
		char *prefix = fsm_lkey(nd->node, "", NULL);
		size_t plen = strlen(prefix);

		r->found = true;
		FSM_COPY(node, &r->node, nd);
		for (struct omap_node *n = omap_seek(f->tab[FSM_T_SERVICES], prefix);
		     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
		     n = omap_next(n))
			FSM_COPY(service, FSM_PUSH(&r->services), omap_val(n));
		free(prefix);
	}
	idx = fsm_max3(fsm_index_get(f, "nodes"), fsm_index_get(f, "services"),
	               fsm_index_get(f, "checks"));
	r->meta.index = idx > 0 ? idx : 1;
	fsm_watch(ws, "nodes");
	fsm_watch(ws, "services");
	fsm_watch(ws, "checks");
	return 0;
}

static void fsm_cat_check_push(const struct fsm *f, const struct msg_check *c,
                               const struct msg_strmap *filter, struct msg_check_list *out)
{
	if (fsm_cat_node_meta_ok(f, c->node, filter))
		fsm_cat_check_out(f, c, FSM_PUSH(out));
}

int fsm_cat_query_checks(const struct fsm *f, const struct msg_health_checks *q, struct msg *reply,
                         struct fsm_watchset *ws)
{
	struct msg_checks_reply *r = &reply->u.checks_reply;
	struct omap_node *n;

	reply->type = MSG_CHECKS_REPLY;
	if (q->node[0] != '\0') {
		/* health/node: every check on the node (NodeChecks). */
		char *prefix = fsm_lkey(q->node, "", NULL);
		size_t plen = strlen(prefix);

		for (n = omap_seek(f->tab[FSM_T_CHECKS], prefix);
		     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
		     n = omap_next(n))
			fsm_cat_check_push(f, omap_val(n), &q->node_meta, &r->checks);
		free(prefix);
		r->meta.index = fsm_cat_table_index(f, "checks");
		fsm_watch(ws, "checks");
	} else if (q->service[0] != '\0') {
		/* health/checks: the instances' own checks, no node checks. */
		char *prefix = fsm_lkey(q->service, "", NULL), *ix;
		size_t plen = strlen(prefix);

		for (n = fsm_has_sep(q->service) ? NULL : omap_seek(f->svc_by_name, prefix);
		     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
		     n = omap_next(n)) {
			const struct msg_service *s = omap_val(n);
			char *sp = fsm_lkey(s->node, s->id, "");
			size_t splen = strlen(sp);
			struct omap_node *c;

			for (c = omap_seek(f->chk_by_svc, sp);
			     c != NULL && omap_has_prefix(omap_key(c), omap_klen(c), sp, splen);
			     c = omap_next(c))
				fsm_cat_check_push(f, omap_val(c), &q->node_meta, &r->checks);
			free(sp);
		}
		free(prefix);
		r->meta.index = fsm_cat_svc_index(f, q->service);
		ix = fsm_cat_svc_ix(q->service);
		fsm_watch(ws, ix);
		free(ix);
	} else if (q->state[0] != '\0') {
		/* health/state: an unknown state matches nothing (§5.4). */
		if (strcmp(q->state, "any") == 0) {
			for (n = omap_first(f->tab[FSM_T_CHECKS]); n != NULL; n = omap_next(n))
				fsm_cat_check_push(f, omap_val(n), &q->node_meta, &r->checks);
		} else if (strcmp(q->state, "passing") == 0 || strcmp(q->state, "warning") == 0 ||
		           strcmp(q->state, "critical") == 0) {
			char *prefix = fsm_lkey(q->state, "", NULL);
			size_t plen = strlen(prefix);

			for (n = omap_seek(f->chk_by_status, prefix);
			     n != NULL && omap_has_prefix(omap_key(n), omap_klen(n), prefix, plen);
			     n = omap_next(n))
				fsm_cat_check_push(f, omap_val(n), &q->node_meta, &r->checks);
			free(prefix);
		}
		r->meta.index = fsm_cat_table_index(f, "checks");
		fsm_watch(ws, "checks");
	} else {
		fsm_reply_result(reply, 400, "Missing check state");
		return -1;
	}
	if (q->node_meta.n > 0)
		fsm_watch(ws, "nodes");
	return 0;
}
