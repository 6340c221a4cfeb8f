/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The process model: a supervisor that owns the netlink sockets and
 * ACCEPTs requests, and a few pre-forked workers that run handshakes.
 * Each accepted socket is passed to a worker over a socketpair; the
 * supervisor keeps its own copy of the fd, sends DONE with the result
 * the worker reports, and answers for the request itself when the
 * worker dies.
 */
#ifndef HANDSHAKED_WORKER_H
#define HANDSHAKED_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"
#include "netlink.h"
#include "resume.h"

#define HD_WORKERS_DEFAULT	2
#define HD_WORKERS_MAX		64

/*
 * A worker that fails within HD_WORKER_QUICK_MS of its start is
 * replaced after a delay that doubles with each such failure in a row,
 * from HD_WORKER_BACKOFF_MIN_MS up to HD_WORKER_BACKOFF_MAX_MS.
 */
#define HD_WORKER_QUICK_MS		2000
#define HD_WORKER_BACKOFF_MIN_MS	100
#define HD_WORKER_BACKOFF_MAX_MS	10000

struct hd_held;

struct hd_worker {
	struct hd_watch watch;		/* HD_WATCH_WORKER */
	pid_t pid;			/* 0: not running */
	uint64_t started_ms;		/* hd_now_ms() at fork */
	uint64_t restart_ms;		/* not running: when to fork again */
	unsigned int quick_deaths;	/* failures right after start in a row */
	int fd;				/* our end of the socketpair */
	unsigned int n_held;		/* given to it, sent or queued */
	bool want_out;			/* watching for room to send */
	struct hd_held *held;		/* requests given to it */
	struct hd_held *queue;		/* of those, not yet sent */
	struct hd_held **queue_tail;
};

/*
 * Runs in a fresh worker: fd is its end of the socketpair. Returns
 * the worker's exit status.
 */
typedef int (*hd_worker_fn)(int fd, void *arg);

struct hd_pool {
	struct hd_worker workers[HD_WORKERS_MAX];
	unsigned int n;
	int epfd;
	struct hd_nl *nl;
	struct hd_resume *rs;		/* tickets, keys and counters */
	hd_worker_fn fn;
	void *arg;
	bool stopping;
};

/*
 * Fork n workers; watch their sockets in epfd. Each request goes out
 * with what rs decides about resuming it; each result comes back to
 * rs.
 */
int hd_pool_start(struct hd_pool *p, unsigned int n, int epfd,
		  struct hd_nl *nl, struct hd_resume *rs, hd_worker_fn fn,
		  void *arg);
/* ACCEPT until nothing is pending and hand each request on. */
void hd_pool_accept(struct hd_pool *p);
/* A worker's socket is readable: send DONE for what it finished. */
void hd_pool_worker_event(struct hd_pool *p, struct hd_worker *w);
/* SIGCHLD: fail what dead workers held and fork replacements. */
void hd_pool_reap(struct hd_pool *p);
/* Milliseconds until a replacement is due (for epoll), -1 for none. */
int hd_pool_timeout(const struct hd_pool *p);
/* Fork the replacements that are due. */
void hd_pool_tick(struct hd_pool *p);
/* Send sig to every worker. */
void hd_pool_signal(const struct hd_pool *p, int sig);
/* Stop every worker and fail what they still held. */
void hd_pool_stop(struct hd_pool *p);

/* ---- the worker's side ---- */

/*
 * Receive one request: *a with a->sockfd our own fd for the socket,
 * *token to pass to hd_worker_report(), *o what to resume with and
 * *ticket a ticket to offer (o->ticket_len bytes, NULL if none; wipe
 * and free it). Returns 0, -EAGAIN when nothing is waiting, -EPIPE
 * when the supervisor is gone, or another negative errno.
 */
int hd_worker_recv(int fd, struct hd_accept *a, int32_t *token,
		   struct hd_resume_offer *o, void **ticket);
/*
 * Hand the request's result to the supervisor, which sends DONE with
 * it: status 0 or a positive errno, ids the peer's key serials, rr
 * (may be NULL) how it went, with rr->ticket_len bytes of ticket.
 */
void hd_worker_report(int fd, int32_t token, unsigned int status,
		      const uint32_t *ids, unsigned int n_ids,
		      const struct hd_resume_result *rr, const void *ticket);

#endif /* HANDSHAKED_WORKER_H */
