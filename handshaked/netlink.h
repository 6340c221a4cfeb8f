/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's "handshake" generic netlink family: wait for READY on
 * the "tlshd" multicast group, fetch requests with ACCEPT, report
 * results with DONE.
 */
#ifndef HANDSHAKED_NETLINK_H
#define HANDSHAKED_NETLINK_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#include "nl-handshake.h"

/* One request as the ACCEPT reply describes it. */
struct hd_accept {
	int sockfd;			/* -1 when absent */
	uint32_t msg_type;		/* HSD_NL_MSG_* */
	uint32_t auth_mode;		/* HSD_NL_AUTH_* */
	uint32_t timeout_ms;		/* 0: none given */
	uint32_t peerids[HSD_NL_MAX_PEERIDS];
	unsigned int n_peerids;
	int32_t cert;			/* key serial, 0: none */
	int32_t privkey;		/* key serial, 0: none */
	int32_t keyring;		/* key serial, 0: none */
	char peername[256];		/* "" when absent */
	uint64_t accepted_ms;		/* hd_now_ms() at ACCEPT, 0: unknown */
};

/*
 * Parse an ACCEPT reply. Returns 0, or a negative errno with a reason
 * naming the attribute in err; a->sockfd is filled whenever the reply
 * carried one, so that the request can still be answered.
 */
int hd_accept_parse(const struct nlmsghdr *nlh, struct hd_accept *a,
		    char *err, size_t errlen);

struct hd_nl;

/* Connect, resolve the family and join its "tlshd" group. */
int hd_nl_open(struct hd_nl **out, int nl_debug);
void hd_nl_close(struct hd_nl *nl);

/* The multicast socket, to wait on for READY. */
int hd_nl_event_fd(const struct hd_nl *nl);
/* Read and drop whatever arrived on the multicast socket. */
void hd_nl_drain(struct hd_nl *nl);

/*
 * Take the next pending request. Returns 0, -EAGAIN when none is
 * pending, or another negative errno; see hd_accept_parse() for a
 * reply that does not parse (err then says why).
 */
int hd_nl_accept(struct hd_nl *nl, struct hd_accept *a,
		 char *err, size_t errlen);

/* Report a result: status is 0 or a positive errno. */
int hd_nl_done(struct hd_nl *nl, int sockfd, unsigned int status,
	       const uint32_t *remote_ids, unsigned int n_ids);

/* libnl's own debug output level ([debug] nl), 0 for none. */
void hd_nl_set_debug(int level);

/* Translate a libnl error code into a negative errno. */
int hd_nl_errno(int nlerr);

#endif /* HANDSHAKED_NETLINK_H */
