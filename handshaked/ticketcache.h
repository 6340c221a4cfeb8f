/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's cache of client session tickets: the newest ticket
 * per server and client identity, bounded in number and lifetime, and
 * a memory of servers that sent none, so that handshakes with them
 * skip the wait for a while. Times are milliseconds of a monotonic
 * clock, passed in by the caller.
 */
#ifndef HANDSHAKED_TICKETCACHE_H
#define HANDSHAKED_TICKETCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netlink.h"

/* A server that sent no ticket is not waited for again this long. */
#define HD_TCACHE_QUIET_MS	(10 * 60 * 1000)
/* No ticket is kept longer (RFC 8446 section 4.6.1: 7 days at most). */
#define HD_TCACHE_LIFETIME_MAX_S	604800
/* Longest cache key hd_tcache_key() builds. */
#define HD_TCACHE_KEY_MAX	512

struct hd_tcache_entry;

struct hd_tcache {
	struct hd_tcache_entry **buckets;
	unsigned int n_buckets;
	struct hd_tcache_entry *oldest;	/* evicted first */
	struct hd_tcache_entry *newest;
	unsigned int n;
	unsigned int max;
};

/* What the cache says about a server. */
struct hd_tcache_hit {
	const void *ticket;	/* NULL: none; valid until the next change */
	size_t len;
	bool wait;		/* ask for a ticket and wait for it */
};

/* An empty cache of at most max entries (0: keep nothing). */
void hd_tcache_init(struct hd_tcache *c, unsigned int max);
/* Wipe every ticket and forget every server; max stays. */
void hd_tcache_clear(struct hd_tcache *c);
/* hd_tcache_clear() and release the table. */
void hd_tcache_free(struct hd_tcache *c);

/*
 * The cache key of a client request: the name it verifies, the
 * server's address, the authentication mode, our identity (the
 * request's certificate and key serials or the configured
 * certificate, or its PSK serials) and its keyring. Returns its
 * length, or 0 when it does not fit.
 */
size_t hd_tcache_key(char *buf, size_t len, const struct hd_accept *a,
		     const struct sockaddr *peer, socklen_t peer_len);

/*
 * Look a server up. Returns 0 and fills *hit, or -ENOENT (hit then
 * says: no ticket, wait for one). Drops what expired.
 */
int hd_tcache_lookup(struct hd_tcache *c, const char *key, size_t key_len,
		     uint64_t now_ms, struct hd_tcache_hit *hit);

/*
 * Keep ticket (copied) as the server's newest, for lifetime_s seconds
 * (capped at HD_TCACHE_LIFETIME_MAX_S; 0 drops the server's ticket),
 * evicting the oldest entry when the cache is full.
 */
int hd_tcache_put(struct hd_tcache *c, const char *key, size_t key_len,
		  const void *ticket, size_t len, uint32_t lifetime_s,
		  uint64_t now_ms);

/*
 * The server sent no ticket within the wait: do not wait for it again
 * for HD_TCACHE_QUIET_MS. A ticket it gave earlier stays usable.
 */
int hd_tcache_put_quiet(struct hd_tcache *c, const char *key,
			size_t key_len, uint64_t now_ms);

/* Entries after dropping those that expired. */
unsigned int hd_tcache_count(struct hd_tcache *c, uint64_t now_ms);

#endif /* HANDSHAKED_TICKETCACHE_H */
