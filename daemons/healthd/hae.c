/* hae.c: anti-entropy's comparison of this agent's local state with the catalog (pure). */
#include "hae.h"

#include "buf.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* Consul's agent/ae scaleThreshold. */
#define HAE_SCALE_THRESHOLD 128

unsigned hae_scale_factor(size_t nodes)
{
	if (nodes <= HAE_SCALE_THRESHOLD)
		return 1;
	return (unsigned)ceil(log2((double)nodes) - log2((double)HAE_SCALE_THRESHOLD)) + 1;
}

static bool hae_str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool hae_list_eq(const struct msg_strlist *a, const struct msg_strlist *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!hae_str_eq(a->v[i], b->v[i]))
			return false;
	return true;
}

/* Maps compare as sets of pairs (Go's reflect.DeepEqual on a map). */
static bool hae_map_eq(const struct msg_strmap *a, const struct msg_strmap *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		bool found = false;

		for (uint32_t j = 0; j < b->n && !found; j++)
			if (hae_str_eq(a->k[i], b->k[j]))
				found = hae_str_eq(a->v[i], b->v[j]);
		if (!found)
			return false;
	}
	return true;
}

static bool hae_addrs_eq(const struct msg_svc_addr_list *a, const struct msg_svc_addr_list *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		bool found = false;

		for (uint32_t j = 0; j < b->n && !found; j++)
			if (hae_str_eq(a->v[i].name, b->v[j].name))
				found = hae_str_eq(a->v[i].address, b->v[j].address) &&
				        a->v[i].port == b->v[j].port;
		if (!found)
			return false;
	}
	return true;
}

bool hae_node_same(const struct msg_node *l, const struct msg_node *r)
{
	return r != NULL && hae_str_eq(l->id, r->id) && hae_str_eq(l->address, r->address) &&
	       hae_map_eq(&l->tagged_addresses, &r->tagged_addresses) &&
	       hae_map_eq(&l->meta, &r->meta);
}

bool hae_service_same(const struct msg_service *a, const struct msg_service *b, bool skip_tags)
{
	return hae_str_eq(a->kind, b->kind) && hae_str_eq(a->id, b->id) &&
	       hae_str_eq(a->service, b->service) &&
	       (skip_tags || hae_list_eq(&a->tags, &b->tags)) &&
	       hae_str_eq(a->address, b->address) && a->port == b->port &&
	       hae_str_eq(a->socket_path, b->socket_path) && hae_map_eq(&a->meta, &b->meta) &&
	       hae_addrs_eq(&a->tagged_addresses, &b->tagged_addresses) &&
	       a->weight_passing == b->weight_passing && a->weight_warning == b->weight_warning &&
	       a->enable_tag_override == b->enable_tag_override;
}

static bool hae_def_eq(const struct msg_check_def *a, const struct msg_check_def *b)
{
	struct buf x, y;
	bool same;

	buf_init(&x, 1u << 24);
	buf_init(&y, 1u << 24);
	msg_rec_encode_check_def(a, &x);
	msg_rec_encode_check_def(b, &y);
	same = !x.err && !y.err && x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
	buf_fini(&x);
	buf_fini(&y);
	return same;
}

bool hae_check_same(const struct msg_check *a, const struct msg_check *b, bool skip_output)
{
	return hae_str_eq(a->check_id, b->check_id) && hae_str_eq(a->name, b->name) &&
	       hae_str_eq(a->status, b->status) && hae_str_eq(a->notes, b->notes) &&
	       (skip_output || hae_str_eq(a->output, b->output)) &&
	       hae_str_eq(a->service_id, b->service_id) && hae_str_eq(a->type, b->type) &&
	       hae_str_eq(a->interval, b->interval) && hae_str_eq(a->timeout, b->timeout) &&
	       a->exposed_port == b->exposed_port && hae_def_eq(&a->definition, &b->definition);
}

void hae_diff(const struct hae_in *in, struct hae_out *out)
{
	out->node_in_sync = hae_node_same(in->node, in->remote_node);
	out->n_dereg_svcs = 0;
	out->n_dereg_chks = 0;
	for (size_t i = 0; i < in->n_svcs; i++) {
		const struct msg_service *l = in->svcs[i], *r = NULL;

		out->svc_in_sync[i] = false;
		out->adopt_tags[i] = NULL;
		for (size_t j = 0; j < in->n_remote_svcs && r == NULL; j++)
			if (hae_str_eq(in->remote_svcs[j].id, l->id))
				r = &in->remote_svcs[j];
		if (r == NULL)
			continue;
		if (l->enable_tag_override) {
			out->svc_in_sync[i] = hae_service_same(l, r, true);
			if (!hae_list_eq(&l->tags, &r->tags))
				out->adopt_tags[i] = &r->tags;
		} else {
			out->svc_in_sync[i] = hae_service_same(l, r, false);
		}
	}
	for (size_t j = 0; j < in->n_remote_svcs; j++) {
		const char *id = in->remote_svcs[j].id;
		bool local = false;

		if (hae_str_eq(id, "consul"))
			continue;
		for (size_t i = 0; i < in->n_svcs && !local; i++)
			local = hae_str_eq(in->svcs[i]->id, id);
		if (!local)
			out->dereg_svcs[out->n_dereg_svcs++] = id;
	}
	for (size_t i = 0; i < in->n_chks; i++) {
		const struct msg_check *l = in->chks[i].check, *r = NULL;

		out->chk_in_sync[i] = false;
		for (size_t j = 0; j < in->n_remote_chks && r == NULL; j++)
			if (hae_str_eq(in->remote_chks[j].check_id, l->check_id))
				r = &in->remote_chks[j];
		if (r != NULL)
			out->chk_in_sync[i] = hae_check_same(l, r, in->chks[i].output_deferred);
	}
	for (size_t j = 0; j < in->n_remote_chks; j++) {
		const char *id = in->remote_chks[j].check_id;
		bool local = false;

		if (hae_str_eq(id, "serfHealth"))
			continue;
		for (size_t i = 0; i < in->n_chks && !local; i++)
			local = hae_str_eq(in->chks[i].check->check_id, id);
		if (!local)
			out->dereg_chks[out->n_dereg_chks++] = id;
	}
}
