// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Supervisor and workers. The supervisor ACCEPTs, so the kernel
 * installs each request's socket in it; it passes a copy of the fd
 * with SCM_RIGHTS to the worker with the fewest requests. The worker
 * handshakes, installs kTLS and reports the result with the request's
 * token (the supervisor's fd number); the supervisor sends DONE on
 * its copy and closes it. DONE is an admin command (CAP_NET_ADMIN) in
 * current kernels, so workers that leave it to the supervisor need no
 * capability at all.
 *
 * A worker that dies costs the requests it held, and only those: the
 * supervisor reports EIO for each through its own copies, so that the
 * consumers need not wait for their timeouts, and forks a new worker.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "resume.h"
#include "worker.h"

/*
 * A request given to a worker, known by our fd for its socket. Until
 * the worker's socket takes it, the request waits in the worker's
 * queue with a copy of what to send.
 */
struct hd_held {
	struct hd_held *next;
	struct hd_held *queue_next;
	struct handoff *queued;
	size_t queued_len;
	struct hd_resume_req resume;
	int fd;
};

/*
 * Supervisor to worker, with the socket as SCM_RIGHTS; the ticket to
 * offer follows (resume.ticket_len bytes). It may carry the ticket
 * master key: wiped wherever it was.
 */
struct handoff {
	int32_t token;
	struct hd_accept acc;
	struct hd_resume_offer resume;
	uint8_t ticket[];
};

/* Worker to supervisor: the result to send DONE with, and a ticket. */
struct result {
	int32_t token;
	uint32_t status;
	uint32_t n_ids;
	uint32_t ids[HSD_NL_MAX_PEERIDS];
	struct hd_resume_result resume;
	uint8_t ticket[];
};

/* Largest messages either way. */
#define HANDOFF_MAX	(sizeof(struct handoff) + HD_TICKET_MAX)
#define RESULT_MAX	(sizeof(struct result) + HD_TICKET_MAX)

static void handoff_free(struct hd_held *h)
{
	if (!h->queued)
		return;
	explicit_bzero(h->queued, h->queued_len);
	free(h->queued);
	h->queued = NULL;
	h->queued_len = 0;
}

/* ---- forking ---- */

/* In a new worker: let go of everything that is the supervisor's. */
static void child_close_pool(struct hd_pool *p, struct hd_worker *self)
{
	struct hd_held *h;
	unsigned int i;

	for (i = 0; i < p->n; i++) {
		for (h = p->workers[i].held; h; h = h->next) {
			close(h->fd);
			handoff_free(h);
		}
		if (&p->workers[i] != self && p->workers[i].fd >= 0)
			close(p->workers[i].fd);
	}
}

static int worker_fork(struct hd_pool *p, struct hd_worker *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->watch };
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;

	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		child_close_pool(p, w);
		_exit(p->fn(sv[1], p->arg));
	}

	close(sv[1]);
	w->want_out = false;
	w->queue = NULL;
	w->queue_tail = &w->queue;
	w->watch.kind = HD_WATCH_WORKER;
	w->started_ms = hd_now_ms();
	w->pid = pid;
	w->fd = sv[0];
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		log_err("Failed to watch worker %d: %m", (int)pid);
	log_debug("Started worker %d", (int)pid);
	return 0;
}

int hd_pool_start(struct hd_pool *p, unsigned int n, int epfd,
		  struct hd_nl *nl, struct hd_resume *rs, hd_worker_fn fn,
		  void *arg)
{
	unsigned int i;
	int ret;

	memset(p, 0, sizeof(*p));
	p->rs = rs;
	p->n = n;
	p->epfd = epfd;
	p->nl = nl;
	p->fn = fn;
	p->arg = arg;
	for (i = 0; i < n; i++)
		p->workers[i].fd = -1;

	for (i = 0; i < n; i++) {
		ret = worker_fork(p, &p->workers[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- handing requests on ---- */

static struct hd_worker *pool_pick(struct hd_pool *p)
{
	struct hd_worker *best = NULL;
	unsigned int i;

	for (i = 0; i < p->n; i++) {
		struct hd_worker *w = &p->workers[i];

		if (w->pid && (!best || w->n_held < best->n_held))
			best = w;
	}
	return best;
}

static int send_handoff(int fd, const struct handoff *msg, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &msg->acc.sockfd, sizeof(int));

	if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

static void fail_request(struct hd_pool *p, int fd, unsigned int status,
			 struct hd_resume_req *req)
{
	struct hd_resume_req none = { 0 };
	int ret;

	hd_resume_done(p->rs, req ? req : &none, status, NULL, NULL);
	ret = hd_nl_done(p->nl, fd, status, NULL, 0);
	if (ret < 0)
		/* usual when the worker sent DONE just before it died */
		log_debug("Failed to report result of handshake on socket %d: %s",
			  fd, strerror(-ret));
	close(fd);
}

static void worker_watch(struct hd_pool *p, struct hd_worker *w,
			 uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &w->watch };

	if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		log_err("Failed to watch worker %d: %m", (int)w->pid);
}

/*
 * Send what waits for the worker, oldest first. A burst can fill the
 * socketpair while the worker is busy handshaking; the rest then waits
 * here, accepted, rather than in the kernel's small pending queue, and
 * the socket is watched for room.
 *
 * There is no cap on what a worker runs at once: a client handshake
 * may wait for a server handshake through this same agent (both ends
 * on one host), and holding the server one back here would stall both
 * until their timeouts.
 */
static void pool_flush(struct hd_pool *p, struct hd_worker *w)
{
	bool blocked = false;
	struct hd_held *h;
	int ret;

	while ((h = w->queue)) {
		ret = send_handoff(w->fd, h->queued, h->queued_len);
		if (ret == -EAGAIN || ret == -ENOBUFS) {
			blocked = true;
			break;
		}
		if (ret < 0)
			log_err("Failed to hand handshake request on socket %d to worker %d: %s",
				h->fd, (int)w->pid, strerror(-ret));

		w->queue = h->queue_next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		handoff_free(h);
		if (ret < 0)
			/* the worker is dying; worker_lost() reports EIO */
			break;
	}

	if (blocked != w->want_out) {
		w->want_out = blocked;
		worker_watch(p, w, blocked ? EPOLLIN | EPOLLOUT : EPOLLIN);
	}
}

static void pool_queue(struct hd_worker *w, struct hd_held *h)
{
	h->queue_next = NULL;
	*w->queue_tail = h;
	w->queue_tail = &h->queue_next;
}

/* The message for a: the request, what to resume with, a ticket. */
static int handoff_build(struct hd_pool *p, struct hd_held *h,
			 const struct hd_accept *a)
{
	struct hd_resume_offer offer;
	const void *ticket;
	size_t len;

	hd_resume_handoff(p->rs, a, &offer, &ticket, &len, &h->resume);

	h->queued_len = sizeof(*h->queued) + len;
	h->queued = malloc(h->queued_len);
	if (!h->queued) {
		explicit_bzero(&offer, sizeof(offer));
		return -ENOMEM;
	}

	h->queued->token = a->sockfd;
	h->queued->acc = *a;
	h->queued->acc.accepted_ms = hd_now_ms();
	h->queued->resume = offer;
	if (len)
		memcpy(h->queued->ticket, ticket, len);
	explicit_bzero(&offer, sizeof(offer));
	return 0;
}

static void pool_handoff(struct hd_pool *p, const struct hd_accept *a)
{
	struct hd_worker *w = pool_pick(p);
	struct hd_held *h;

	if (!w) {
		log_err("Failed to hand handshake request on socket %d to a worker: no worker runs",
			a->sockfd);
		fail_request(p, a->sockfd, EIO, NULL);
		return;
	}

	h = calloc(1, sizeof(*h));
	if (!h || handoff_build(p, h, a) < 0) {
		log_err("Failed to hand handshake request on socket %d to a worker: %s",
			a->sockfd, strerror(ENOMEM));
		fail_request(p, a->sockfd, ENOMEM, h ? &h->resume : NULL);
		free(h);
		return;
	}

	h->fd = a->sockfd;
	h->next = w->held;
	w->held = h;
	w->n_held++;

	pool_queue(w, h);
	pool_flush(p, w);
	log_debug("Handed request on socket %d to worker %d", a->sockfd,
		  (int)w->pid);
}

/* A reply that did not parse: answer it if we know its socket. */
static void pool_reject(struct hd_pool *p, const struct hd_accept *a,
			const char *reason)
{
	log_err("Failed to parse handshake request: %s", reason);
	if (a->sockfd >= 0)
		fail_request(p, a->sockfd, EINVAL, NULL);
}

void hd_pool_accept(struct hd_pool *p)
{
	char reason[256];
	struct hd_accept a;
	int ret;

	/* Leave requests queued in the kernel while no worker runs. */
	while (!p->stopping && pool_pick(p)) {
		/* READYs of requests accepted here need no room meanwhile */
		hd_nl_drain(p->nl);
		ret = hd_nl_accept(p->nl, &a, reason, sizeof(reason));
		if (ret == -EAGAIN)
			return;

		if (ret < 0 && reason[0]) {
			pool_reject(p, &a, reason);
			continue;
		}
		if (ret < 0) {
			/* retried on the next READY; do not spin here */
			log_err("Failed to accept handshake request: %s",
				strerror(-ret));
			return;
		}
		pool_handoff(p, &a);
	}
}

/* ---- requests coming back ---- */

static void held_done(struct hd_pool *p, struct hd_worker *w,
		      const struct result *res)
{
	const struct hd_resume_result *rr = &res->resume;
	struct hd_held **pp, *h;
	int ret;

	for (pp = &w->held; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd != res->token)
			continue;
		h = *pp;
		*pp = h->next;
		w->n_held--;

		hd_resume_done(p->rs, &h->resume, res->status, rr,
			       rr->flags & HD_RESULT_TICKET ? res->ticket
							     : NULL);
		ret = hd_nl_done(p->nl, h->fd, res->status, res->ids,
				 res->n_ids);
		if (ret < 0)
			/* usual when the consumer cancelled meanwhile */
			log_debug("Failed to report result of handshake on socket %d: %s",
				  h->fd, strerror(-ret));
		close(h->fd);
		handoff_free(h);
		free(h);
		return;
	}
	log_warn("Worker %d reported unknown request %d, ignoring",
		 (int)w->pid, (int)res->token);
}

/* The message holds what it says it holds, and nothing more. */
static bool result_valid(const struct result *res, ssize_t n)
{
	const struct hd_resume_result *rr = &res->resume;
	size_t want;

	if (n < (ssize_t)sizeof(*res) || res->n_ids > HSD_NL_MAX_PEERIDS)
		return false;
	if (rr->ticket_len > HD_TICKET_MAX ||
	    !(rr->flags & HD_RESULT_TICKET) != !rr->ticket_len)
		return false;

	want = sizeof(*res) + rr->ticket_len;
	return (size_t)n == want;
}

void hd_pool_worker_event(struct hd_pool *p, struct hd_worker *w)
{
	static union {
		struct result res;
		uint8_t buf[RESULT_MAX];
	} in;
	ssize_t n;

	for (;;) {
		n = recv(w->fd, in.buf, sizeof(in.buf),
			 MSG_DONTWAIT | MSG_TRUNC);
		if (n > 0 && (size_t)n <= sizeof(in.buf) &&
		    result_valid(&in.res, n)) {
			held_done(p, w, &in.res);
			explicit_bzero(in.buf, n);
			continue;
		}
		if (n > 0) {
			explicit_bzero(in.buf, sizeof(in.buf));
			log_warn("Worker %d sent a garbled result, ignoring",
				 (int)w->pid);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			/* dying: SIGCHLD follows; stop watching meanwhile */
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, w->fd, NULL);
			return;
		}
		break;
	}

	/* room in the socketpair */
	if (w->queue)
		pool_flush(p, w);
}

/*
 * A worker that fails again right after its start meets a fault that
 * its successor would meet too (a broken library, no memory): wait
 * longer before each new try instead of forking in a loop.
 */
static void worker_backoff(struct hd_worker *w, bool failed)
{
	uint64_t now = hd_now_ms();
	unsigned int delay;

	if (!failed || now - w->started_ms >= HD_WORKER_QUICK_MS) {
		w->quick_deaths = 0;
		w->restart_ms = now;
		return;
	}

	w->quick_deaths++;
	delay = HD_WORKER_BACKOFF_MIN_MS << (w->quick_deaths < 8 ?
					     w->quick_deaths - 1 : 7);
	if (delay > HD_WORKER_BACKOFF_MAX_MS)
		delay = HD_WORKER_BACKOFF_MAX_MS;
	w->restart_ms = now + delay;
	log_err("Worker failed %u time(s) in a row right after start: starting the next in %u ms",
		w->quick_deaths, delay);
}

/* Report EIO for everything the worker held and forget it. */
static void worker_lost(struct hd_pool *p, struct hd_worker *w, int status)
{
	struct hd_held *h;
	unsigned int n;

	/* What it finished before it died gets its own result. */
	hd_pool_worker_event(p, w);
	n = w->n_held;

	if (WIFSIGNALED(status) || WEXITSTATUS(status))
		log_err("Worker %d %s %d: reporting EIO for %u request(s) it held",
			(int)w->pid,
			WIFSIGNALED(status) ? "killed by signal" : "exited with",
			WIFSIGNALED(status) ? WTERMSIG(status)
					    : WEXITSTATUS(status), n);
	else
		log_debug("Worker %d exited, %u request(s) held", (int)w->pid,
			  n);

	while ((h = w->held)) {
		w->held = h->next;
		fail_request(p, h->fd, EIO, &h->resume);
		handoff_free(h);
		free(h);
	}
	w->n_held = 0;
	w->want_out = false;
	w->queue = NULL;
	w->queue_tail = &w->queue;

	epoll_ctl(p->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
	w->pid = 0;
	worker_backoff(w, WIFSIGNALED(status) || WEXITSTATUS(status));
}

static struct hd_worker *pool_find(struct hd_pool *p, pid_t pid)
{
	unsigned int i;

	for (i = 0; i < p->n; i++)
		if (p->workers[i].pid == pid)
			return &p->workers[i];
	return NULL;
}

/* Fork the workers whose restart is due. */
static void pool_restart(struct hd_pool *p)
{
	uint64_t now = hd_now_ms();
	unsigned int i;
	int ret;

	for (i = 0; i < p->n; i++) {
		struct hd_worker *w = &p->workers[i];

		if (w->pid || w->restart_ms > now)
			continue;
		ret = worker_fork(p, w);
		if (ret < 0) {
			log_err("Failed to start worker: %s", strerror(-ret));
			worker_backoff(w, true);
		}
	}
	hd_pool_accept(p);
}

void hd_pool_reap(struct hd_pool *p)
{
	struct hd_worker *w;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		w = pool_find(p, pid);
		if (w)
			worker_lost(p, w, status);
	}
	if (!p->stopping)
		pool_restart(p);
}

int hd_pool_timeout(const struct hd_pool *p)
{
	uint64_t now = hd_now_ms(), first = UINT64_MAX;
	unsigned int i;

	if (p->stopping)
		return -1;
	for (i = 0; i < p->n; i++)
		if (!p->workers[i].pid && p->workers[i].restart_ms < first)
			first = p->workers[i].restart_ms;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)(first - now);
}

void hd_pool_tick(struct hd_pool *p)
{
	if (hd_pool_timeout(p) == 0)
		pool_restart(p);
}

void hd_pool_signal(const struct hd_pool *p, int sig)
{
	unsigned int i;

	for (i = 0; i < p->n; i++)
		if (p->workers[i].pid)
			kill(p->workers[i].pid, sig);
}

void hd_pool_stop(struct hd_pool *p)
{
	struct hd_worker *w;
	int status;
	pid_t pid;

	p->stopping = true;
	hd_pool_signal(p, SIGTERM);
	while ((pid = waitpid(-1, &status, 0)) > 0) {
		w = pool_find(p, pid);
		if (w)
			worker_lost(p, w, status);
	}
}

/* ---- the worker's side ---- */

/* The ticket that came with a request, in a buffer of its own. */
static int recv_ticket(const struct handoff *msg, size_t n, void **ticket)
{
	size_t len = msg->resume.ticket_len;

	*ticket = NULL;
	if (len > HD_TICKET_MAX || n != sizeof(*msg) + len)
		return -EBADMSG;
	if (!len)
		return 0;

	*ticket = malloc(len);
	if (!*ticket)
		return -ENOMEM;
	memcpy(*ticket, msg->ticket, len);
	return 0;
}

int hd_worker_recv(int fd, struct hd_accept *a, int32_t *token,
		   struct hd_resume_offer *o, void **ticket)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	static union {
		struct handoff msg;
		uint8_t buf[HANDOFF_MAX];
	} in;
	struct iovec iov = { .iov_base = in.buf, .iov_len = sizeof(in.buf) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	int sockfd = -1, ret;
	ssize_t n;

	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;

	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&sockfd, CMSG_DATA(cm), sizeof(int));

	ret = -EBADMSG;
	if ((size_t)n >= sizeof(in.msg) && sockfd >= 0 &&
	    !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		ret = recv_ticket(&in.msg, n, ticket);
	if (ret == 0) {
		*a = in.msg.acc;
		a->sockfd = sockfd;
		*token = in.msg.token;
		*o = in.msg.resume;
	} else if (sockfd >= 0) {
		close(sockfd);
	}
	explicit_bzero(in.buf, (size_t)n);
	return ret;
}

void hd_worker_report(int fd, int32_t token, unsigned int status,
		      const uint32_t *ids, unsigned int n_ids,
		      const struct hd_resume_result *rr, const void *ticket)
{
	static union {
		struct result res;
		uint8_t buf[RESULT_MAX];
	} out;
	size_t len = sizeof(out.res);

	memset(&out.res, 0, sizeof(out.res));
	out.res.token = token;
	out.res.status = status;
	if (n_ids > HSD_NL_MAX_PEERIDS)
		n_ids = HSD_NL_MAX_PEERIDS;
	if (n_ids)
		memcpy(out.res.ids, ids, n_ids * sizeof(*ids));
	out.res.n_ids = n_ids;

	if (rr)
		out.res.resume = *rr;
	if (out.res.resume.ticket_len > HD_TICKET_MAX || !ticket) {
		out.res.resume.flags &= ~HD_RESULT_TICKET;
		out.res.resume.ticket_len = 0;
	}
	if (out.res.resume.ticket_len) {
		memcpy(out.res.ticket, ticket, out.res.resume.ticket_len);
		len += out.res.resume.ticket_len;
	}

	if (send(fd, out.buf, len, MSG_NOSIGNAL) < 0)
		log_err("Failed to report result of request %d to the supervisor: %m",
			(int)token);
	explicit_bzero(out.buf, len);
}
