/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * State shared by the event loop and the requests it drives: the
 * netlink sockets, the epoll set, configuration and credentials.
 */
#ifndef HANDSHAKED_DAEMON_H
#define HANDSHAKED_DAEMON_H

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "creds.h"
#include "netlink.h"
#include "resume.h"

/* What an epoll event points at. */
enum hd_watch_kind {
	HD_WATCH_NETLINK,
	HD_WATCH_SIGNAL,
	HD_WATCH_REQUEST,
	HD_WATCH_WORKER,	/* supervisor: a worker's socketpair */
	HD_WATCH_SUPERVISOR,	/* worker: its socketpair */
};

struct hd_watch {
	enum hd_watch_kind kind;
};

struct hd_request;

struct hd_daemon {
	struct hd_nl *nl;
	int epfd;
	int sup_fd;			/* worker: socketpair, else -1 */
	struct hd_config cfg;
	struct hd_creds_set creds;
	unsigned int ciphers;		/* what kTLS here accepts */
	struct hd_request *requests;	/* in flight */
	unsigned int n_requests;
	uint64_t check_ms;		/* next look at their sockets */
	struct hd_resume resume;	/* supervisor: tickets, counters */
};

/* How often a worker asks its sockets for errors epoll missed. */
#define HD_CHECK_INTERVAL_MS 1000

/* CLOCK_MONOTONIC in milliseconds: the same in every process. */
static inline uint64_t hd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* HANDSHAKED_DAEMON_H */
