// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Session resumption in the supervisor. Every worker must seal and
 * open tickets under the same master key, and a client ticket must
 * reach whichever worker next talks to that server, so both stay
 * here and travel with each request; results bring new tickets back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "log.h"
#include "resume.h"

void hd_resume_apply(struct hd_resume *rs, const struct hd_resume_conf *c,
		     struct hd_ticket_key *key)
{
	hd_ticket_key_free(&rs->key);
	rs->key = *key;
	key->bytes = NULL;

	hd_tcache_free(&rs->cache);
	hd_tcache_init(&rs->cache, c->cache_size);

	rs->conf = *c;
	rs->conf.ticket_key = NULL;
	rs->changed = true;
	rs->generation++;
}

void hd_resume_free(struct hd_resume *rs)
{
	hd_ticket_key_free(&rs->key);
	hd_tcache_free(&rs->cache);
}

/* PSK sessions (NVMe/TCP) only when asked for: see handshaked.conf(5). */
static bool resume_allowed(const struct hd_resume *rs,
			   const struct hd_accept *a)
{
	return a->auth_mode != HSD_NL_AUTH_PSK || rs->conf.psk;
}

static void resume_client(struct hd_resume *rs, const struct hd_accept *a,
			  struct hd_resume_offer *o, const void **ticket,
			  size_t *len, struct hd_resume_req *req)
{
	char key[HD_TCACHE_KEY_MAX];
	struct sockaddr_storage ss = { 0 };
	socklen_t ss_len = sizeof(ss);
	struct hd_tcache_hit hit;
	size_t key_len;

	if (!rs->conf.client || !rs->cache.max)
		return;

	/* the server's address: its name alone may lead elsewhere */
	if (getpeername(a->sockfd, (struct sockaddr *)&ss, &ss_len) < 0)
		return;
	key_len = hd_tcache_key(key, sizeof(key), a, (struct sockaddr *)&ss,
				ss_len);
	if (!key_len)
		return;

	hd_tcache_lookup(&rs->cache, key, key_len, hd_now_ms(), &hit);
	if (hit.ticket && hit.len <= HD_TICKET_MAX) {
		*ticket = hit.ticket;
		*len = hit.len;
		o->ticket_len = (uint32_t)hit.len;
		req->offered = true;
		rs->count.tickets_offered++;
	} else if (!hit.wait) {
		/* it sent none lately: no ticket, no wait */
		return;
	}

	req->key = malloc(key_len);
	if (req->key) {
		memcpy(req->key, key, key_len);
		req->key_len = key_len;
		req->generation = rs->generation;
	}
	o->flags |= HD_RESUME_TICKETS;
	o->wait_ms = hit.wait ? rs->conf.ticket_wait_ms : 0;
}

void hd_resume_handoff(struct hd_resume *rs, const struct hd_accept *a,
		       struct hd_resume_offer *o, const void **ticket,
		       size_t *len, struct hd_resume_req *req)
{
	memset(o, 0, sizeof(*o));
	*ticket = NULL;
	*len = 0;
	*req = (struct hd_resume_req){ 0 };

	if (!resume_allowed(rs, a))
		return;

	if (a->msg_type == HSD_NL_MSG_CLIENTHELLO) {
		resume_client(rs, a, o, ticket, len, req);
	} else if (rs->conf.server && rs->key.bytes) {
		o->flags |= HD_RESUME_KEY;
		o->lifetime_s = rs->conf.ticket_lifetime_s;
		memcpy(o->key, rs->key.bytes, sizeof(o->key));
	}

	if (o->flags && rs->conf.psk_ke)
		o->flags |= HD_RESUME_PSK_KE;
}

static void resume_keep(struct hd_resume *rs, struct hd_resume_req *req,
			const struct hd_resume_result *res,
			const void *ticket)
{
	uint64_t now = hd_now_ms();
	int ret = 0;

	if (res->flags & HD_RESULT_TICKET) {
		rs->count.tickets_received++;
		ret = hd_tcache_put(&rs->cache, req->key, req->key_len, ticket,
				    res->ticket_len, res->lifetime_s, now);
	} else if (res->flags & HD_RESULT_NO_TICKET) {
		ret = hd_tcache_put_quiet(&rs->cache, req->key, req->key_len,
					  now);
	}
	if (ret < 0)
		log_debug("Failed to keep session ticket: %s", strerror(-ret));
}

void hd_resume_done(struct hd_resume *rs, struct hd_resume_req *req,
		    unsigned int status, const struct hd_resume_result *res,
		    const void *ticket)
{
	rs->changed = true;
	if (status)
		rs->count.failed++;
	else if (res && (res->flags & HD_RESULT_RESUMED))
		rs->count.resumed++;
	else
		rs->count.full++;

	/*
	 * A request that ran under the configuration before a reload
	 * brings a ticket of credentials or trust that may be gone: the
	 * new cache does not take it.
	 */
	if (req->key && req->generation == rs->generation) {
		if (!status && res)
			resume_keep(rs, req, res, ticket);
		else if (req->offered)
			/* a handshake that failed does not offer it again */
			hd_tcache_put(&rs->cache, req->key, req->key_len, NULL,
				      0, 0, hd_now_ms());
	}

	free(req->key);
	*req = (struct hd_resume_req){ 0 };
}

void hd_resume_counters(struct hd_resume *rs, char *buf, size_t len)
{
	const struct hd_counters *c = &rs->count;

	snprintf(buf, len, "counters: handshakes=%" PRIu64 " resumed=%" PRIu64
		 " full=%" PRIu64 " failed=%" PRIu64 " tickets_offered=%"
		 PRIu64 " tickets_received=%" PRIu64 " cached=%u",
		 c->full + c->resumed + c->failed, c->resumed, c->full,
		 c->failed, c->tickets_offered, c->tickets_received,
		 hd_tcache_count(&rs->cache, hd_now_ms()));
	rs->changed = false;
}
