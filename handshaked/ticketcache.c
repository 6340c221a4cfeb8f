// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Client session tickets, kept by the supervisor, which sees every
 * request and every result. A hash table finds a server's entry; a
 * list in order of last update picks the entry to evict. Ticket bytes
 * hold a resumption secret: wiped before they are freed.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nl-handshake.h"
#include "ticketcache.h"

struct hd_tcache_entry {
	struct hd_tcache_entry *hnext;		/* same bucket */
	struct hd_tcache_entry *older, *newer;
	uint64_t hash;
	uint64_t expires_ms;		/* of the ticket */
	uint64_t quiet_until_ms;	/* do not wait for a ticket before */
	uint8_t *ticket;
	size_t ticket_len;
	size_t key_len;
	char key[];
};

/* FNV-1a: the keys are ours, not chosen by an attacker to collide. */
static uint64_t tcache_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void hd_tcache_init(struct hd_tcache *c, unsigned int max)
{
	memset(c, 0, sizeof(*c));
	c->max = max;
}

static void entry_drop_ticket(struct hd_tcache_entry *e)
{
	if (!e->ticket)
		return;
	explicit_bzero(e->ticket, e->ticket_len);
	free(e->ticket);
	e->ticket = NULL;
	e->ticket_len = 0;
}

static void entry_unlink_age(struct hd_tcache *c, struct hd_tcache_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void entry_make_newest(struct hd_tcache *c, struct hd_tcache_entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

static void entry_remove(struct hd_tcache *c, struct hd_tcache_entry *e)
{
	struct hd_tcache_entry **pp;

	pp = &c->buckets[e->hash % c->n_buckets];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;

	entry_unlink_age(c, e);
	entry_drop_ticket(e);
	free(e);
	c->n--;
}

void hd_tcache_clear(struct hd_tcache *c)
{
	while (c->oldest)
		entry_remove(c, c->oldest);
}

void hd_tcache_free(struct hd_tcache *c)
{
	hd_tcache_clear(c);
	free(c->buckets);
	hd_tcache_init(c, c->max);
}

static bool entry_expire(struct hd_tcache_entry *e, uint64_t now_ms)
{
	if (e->ticket && now_ms >= e->expires_ms)
		entry_drop_ticket(e);
	return !e->ticket && now_ms >= e->quiet_until_ms;
}

static struct hd_tcache_entry *tcache_find(struct hd_tcache *c,
					   const char *key, size_t key_len,
					   uint64_t now_ms)
{
	struct hd_tcache_entry *e;
	uint64_t h;

	if (!c->buckets)
		return NULL;

	h = tcache_hash(key, key_len);
	for (e = c->buckets[h % c->n_buckets]; e; e = e->hnext) {
		if (e->hash != h || e->key_len != key_len ||
		    memcmp(e->key, key, key_len))
			continue;
		if (entry_expire(e, now_ms)) {
			entry_remove(c, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

int hd_tcache_lookup(struct hd_tcache *c, const char *key, size_t key_len,
		     uint64_t now_ms, struct hd_tcache_hit *hit)
{
	struct hd_tcache_entry *e = tcache_find(c, key, key_len, now_ms);

	*hit = (struct hd_tcache_hit){ .wait = true };
	if (!e)
		return -ENOENT;

	hit->ticket = e->ticket;
	hit->len = e->ticket_len;
	hit->wait = now_ms >= e->quiet_until_ms;
	return 0;
}

/* About one bucket per two entries; the table is sized once. */
static int tcache_table(struct hd_tcache *c)
{
	unsigned int n = 16;

	if (c->buckets)
		return 0;
	while (n < c->max / 2)
		n *= 2;

	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets)
		return -ENOMEM;
	c->n_buckets = n;
	return 0;
}

/* The server's entry, made (and the oldest evicted) when it has none. */
static struct hd_tcache_entry *tcache_entry(struct hd_tcache *c,
					    const char *key, size_t key_len,
					    uint64_t now_ms)
{
	struct hd_tcache_entry *e;

	e = tcache_find(c, key, key_len, now_ms);
	if (e) {
		entry_unlink_age(c, e);
		entry_make_newest(c, e);
		return e;
	}

	if (!c->max || tcache_table(c) < 0)
		return NULL;
	e = calloc(1, sizeof(*e) + key_len);
	if (!e)
		return NULL;

	while (c->n >= c->max)
		entry_remove(c, c->oldest);

	e->hash = tcache_hash(key, key_len);
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	e->hnext = c->buckets[e->hash % c->n_buckets];
	c->buckets[e->hash % c->n_buckets] = e;
	entry_make_newest(c, e);
	c->n++;
	return e;
}

/* A lifetime of 0 means: do not use the ticket (RFC 8446 4.6.1). */
static void tcache_forget_ticket(struct hd_tcache *c, const char *key,
				 size_t key_len, uint64_t now_ms)
{
	struct hd_tcache_entry *e = tcache_find(c, key, key_len, now_ms);

	if (!e)
		return;
	entry_drop_ticket(e);
	e->quiet_until_ms = 0;
	entry_remove(c, e);
}

int hd_tcache_put(struct hd_tcache *c, const char *key, size_t key_len,
		  const void *ticket, size_t len, uint32_t lifetime_s,
		  uint64_t now_ms)
{
	struct hd_tcache_entry *e;
	uint8_t *copy;

	if (!lifetime_s || !len) {
		tcache_forget_ticket(c, key, key_len, now_ms);
		return 0;
	}
	if (lifetime_s > HD_TCACHE_LIFETIME_MAX_S)
		lifetime_s = HD_TCACHE_LIFETIME_MAX_S;

	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, ticket, len);

	e = tcache_entry(c, key, key_len, now_ms);
	if (!e) {
		explicit_bzero(copy, len);
		free(copy);
		return c->max ? -ENOMEM : 0;
	}

	entry_drop_ticket(e);
	e->ticket = copy;
	e->ticket_len = len;
	e->expires_ms = now_ms + (uint64_t)lifetime_s * 1000;
	e->quiet_until_ms = 0;
	return 0;
}

int hd_tcache_put_quiet(struct hd_tcache *c, const char *key,
			size_t key_len, uint64_t now_ms)
{
	struct hd_tcache_entry *e;

	e = tcache_entry(c, key, key_len, now_ms);
	if (!e)
		return c->max ? -ENOMEM : 0;

	e->quiet_until_ms = now_ms + HD_TCACHE_QUIET_MS;
	return 0;
}

unsigned int hd_tcache_count(struct hd_tcache *c, uint64_t now_ms)
{
	struct hd_tcache_entry *e, *newer;

	for (e = c->oldest; e; e = newer) {
		newer = e->newer;
		if (entry_expire(e, now_ms))
			entry_remove(c, e);
	}
	return c->n;
}

static const char *auth_word(uint32_t mode)
{
	switch (mode) {
	case HSD_NL_AUTH_UNAUTH:	return "anon";
	case HSD_NL_AUTH_PSK:		return "psk";
	case HSD_NL_AUTH_X509:		return "x509";
	default:			return "unknown";
	}
}

/* Fields one to a line; the name, which may hold anything, counted. */
size_t hd_tcache_key(char *buf, size_t len, const struct hd_accept *a,
		     const struct sockaddr *peer, socklen_t peer_len)
{
	char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
	size_t used;
	unsigned int i;
	int n;

	if (peer && (peer->sa_family == AF_INET ||
		     peer->sa_family == AF_INET6) &&
	    getnameinfo(peer, peer_len, host, sizeof(host), port,
			sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(host, sizeof(host), "?");
		snprintf(port, sizeof(port), "?");
	}

	n = snprintf(buf, len, "%s\n%zu:%s\n%s %s\nkeyring %d\n",
		     auth_word(a->auth_mode), strlen(a->peername),
		     a->peername, host, port, a->keyring);
	if (n < 0 || (size_t)n >= len)
		return 0;
	used = n;

	if (a->auth_mode == HSD_NL_AUTH_PSK) {
		for (i = 0; i < a->n_peerids && i < HSD_NL_MAX_PEERIDS; i++) {
			n = snprintf(buf + used, len - used, "psk %u\n",
				     a->peerids[i]);
			if (n < 0 || (size_t)n >= len - used)
				return 0;
			used += n;
		}
		return used;
	}

	if (a->auth_mode == HSD_NL_AUTH_X509 && a->cert && a->privkey)
		n = snprintf(buf + used, len - used, "cert %d key %d\n",
			     a->cert, a->privkey);
	else if (a->auth_mode == HSD_NL_AUTH_X509)
		n = snprintf(buf + used, len - used, "cert config\n");
	else
		n = 0;
	if (n < 0 || (size_t)n >= len - used)
		return 0;
	return used + n;
}
