/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Session resumption as the supervisor runs it: it decides for each
 * request whether tickets are used, hands a worker the server's
 * ticket key or the client's cached ticket with the request, keeps
 * the tickets that come back, and counts handshakes.
 */
#ifndef HANDSHAKED_RESUME_H
#define HANDSHAKED_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <handshaked/handshaked.h>

#include "conf.h"
#include "netlink.h"
#include "ticketcache.h"
#include "ticketkey.h"

/* Largest ticket data passed between supervisor and worker. */
#define HD_TICKET_MAX	16384

/* What a worker is told with a request. */
enum hd_resume_flag {
	HD_RESUME_TICKETS = 1u << 0,	/* client: ask for tickets */
	HD_RESUME_KEY = 1u << 1,	/* server: key and lifetime_s set */
	HD_RESUME_PSK_KE = 1u << 2,	/* allow psk_ke */
};

/* Sent with each request; ticket_len bytes of ticket data follow. */
struct hd_resume_offer {
	uint32_t flags;
	uint32_t wait_ms;		/* client: wait this long for one */
	uint32_t lifetime_s;		/* server */
	uint32_t ticket_len;		/* client: a ticket to offer */
	uint8_t key[HSD_TICKET_KEY_SIZE];	/* server */
};

/* What a worker says with a result. */
enum hd_result_flag {
	HD_RESULT_RESUMED = 1u << 0,
	HD_RESULT_TICKET = 1u << 1,	/* ticket_len bytes follow */
	HD_RESULT_NO_TICKET = 1u << 2,	/* asked, waited, none came */
};

struct hd_resume_result {
	uint32_t flags;
	uint32_t lifetime_s;		/* of the ticket */
	uint32_t ticket_len;
};

struct hd_counters {
	uint64_t full;
	uint64_t resumed;
	uint64_t failed;
	uint64_t tickets_offered;
	uint64_t tickets_received;
};

struct hd_resume {
	struct hd_resume_conf conf;	/* ticket_key: always NULL here */
	struct hd_ticket_key key;
	struct hd_tcache cache;
	struct hd_counters count;
	bool changed;			/* counters, since the last look */
	uint64_t generation;		/* configurations applied so far */
};

/* The supervisor's request: what to remember until its result. */
struct hd_resume_req {
	char *key;			/* cache key, NULL: nothing to keep */
	size_t key_len;
	bool offered;			/* a cached ticket went with it */
	uint64_t generation;		/* of the configuration it ran under */
};

/*
 * Take a new configuration and the key loaded for it: the old key is
 * wiped, and so is every cached ticket, since credentials or trust
 * may have changed.
 */
void hd_resume_apply(struct hd_resume *rs, const struct hd_resume_conf *c,
		     struct hd_ticket_key *key);
/* Wipe the key and the cache (shutdown, and in a new worker). */
void hd_resume_free(struct hd_resume *rs);

/*
 * Decide for request a: fill *o, and *ticket and *len with a cached
 * ticket to send with it (valid until the cache changes, NULL if
 * none); fill *req for hd_resume_done().
 */
void hd_resume_handoff(struct hd_resume *rs, const struct hd_accept *a,
		       struct hd_resume_offer *o, const void **ticket,
		       size_t *len, struct hd_resume_req *req);

/*
 * A request ended with status (0 or a positive errno) and, when a
 * worker reported it, res and its ticket data (else NULL). Releases
 * req.
 */
void hd_resume_done(struct hd_resume *rs, struct hd_resume_req *req,
		    unsigned int status, const struct hd_resume_result *res,
		    const void *ticket);

/* "counters: handshakes=N resumed=N ..." */
void hd_resume_counters(struct hd_resume *rs, char *buf, size_t len);

#endif /* HANDSHAKED_RESUME_H */
