// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One kernel handshake request at a time per socket, many sockets at
 * once: each request owns a socket fd the kernel (or the supervisor)
 * gave us, is driven by epoll readiness and a deadline, and ends in
 * exactly one result (DONE, or to the supervisor) followed by close().
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <handshaked/handshaked.h>

#include "keyring.h"
#include "log.h"
#include "psk.h"
#include "request.h"
#include "status.h"
#include "worker.h"

/*
 * The kernel reads only whether a peer id is present (knfsd marks the
 * transport peer-authenticated on any non-zero id). Like tlshd, a
 * server reports this stand-in for a client certificate that verified.
 */
#define HD_PEERID_VERIFIED	0xffffffffu

struct hd_request {
	struct hd_watch watch;
	struct hd_request *next;
	struct hd_daemon *d;
	struct hd_accept acc;
	int32_t token;			/* the supervisor's name for it */
	enum hsd_role role;
	struct hsd_session *session;
	struct hsd_creds *creds;
	uint64_t start_ms;
	uint64_t deadline_ms;
	uint32_t events;		/* what epoll waits for now */
	bool keyring_held;
	struct hd_psk_offer psk_offer;	/* client PSK requests */
	struct hd_psk_lookup psk_lookup;	/* server PSK requests */
	uint32_t remote_ids[1];
	unsigned int n_remote_ids;
	struct hd_resume_offer offer;	/* key wiped once the session has it */
	void *offer_ticket;		/* offer.ticket_len bytes */
	bool ticket_wait;		/* client: reading for a ticket */
	uint64_t ticket_deadline_ms;
	struct hd_resume_result result;
	void *ticket;			/* result.ticket_len bytes */
	char addr[INET6_ADDRSTRLEN + 16];
	char reason[256];
};

static const char *auth_name(uint32_t mode)
{
	switch (mode) {
	case HSD_NL_AUTH_UNAUTH:	return "anon";
	case HSD_NL_AUTH_PSK:		return "psk";
	case HSD_NL_AUTH_X509:		return "x509";
	default:			return "unknown";
	}
}

static void request_set_reason(struct hd_request *r, const char *text)
{
	if (!r->reason[0])
		snprintf(r->reason, sizeof(r->reason), "%s", text);
}

/* "192.0.2.1:2049" or "[2001:db8::1]:2049" */
static void request_peer_addr(struct hd_request *r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	snprintf(r->addr, sizeof(r->addr), "?");
	if (getpeername(r->acc.sockfd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
			port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV))
		return;

	if (ss.ss_family == AF_INET6)
		snprintf(r->addr, sizeof(r->addr), "[%s]:%s", host, port);
	else
		snprintf(r->addr, sizeof(r->addr), "%s:%s", host, port);
}

/* The numeric host part of r->addr, for verifying without a peername. */
static void request_addr_host(const struct hd_request *r, char *buf,
			      size_t len)
{
	const char *s = r->addr;
	size_t n;

	if (*s == '[') {
		s++;
		n = strcspn(s, "]");
	} else {
		n = strcspn(s, ":");
	}
	snprintf(buf, len, "%.*s", (int)n, s);
}

/* ", PSK 'identity' key 123": which key a PSK handshake used. */
static void request_psk_text(const struct hd_request *r, char *buf,
			     size_t len)
{
	const char *id = hsd_session_psk_identity(r->session);

	buf[0] = '\0';
	if (id && r->n_remote_ids)
		snprintf(buf, len, ", PSK '%s' key %u", id, r->remote_ids[0]);
}

static void request_log(const struct hd_request *r, int err)
{
	const char *peer = r->acc.peername[0] ? r->acc.peername : "-";
	unsigned int ms = (unsigned int)(hd_now_ms() - r->start_ms);
	struct hsd_info info = { 0 };
	char psk[HSD_PSK_IDENTITY_MAX + 32];

	if (err) {
		log_info("Handshake %s %s peer '%s' at %s: %s (%s), %u ms",
			 r->role == HSD_CLIENT ? "client" : "server",
			 auth_name(r->acc.auth_mode), peer, r->addr,
			 hd_errno_name(err), r->reason, ms);
		return;
	}

	hsd_session_info(r->session, &info);
	request_psk_text(r, psk, sizeof(psk));
	log_info("Handshake %s %s peer '%s' at %s: ok, %s, %s %s %s%s%s, %u ms",
		 r->role == HSD_CLIENT ? "client" : "server",
		 auth_name(r->acc.auth_mode), peer, r->addr,
		 info.resumed ? "resumed" : "full",
		 info.version ? info.version : "?",
		 info.group && info.group[0] ? info.group : "-",
		 info.cipher ? info.cipher : "?",
		 r->n_remote_ids ? ", peer authenticated" : "", psk, ms);
}

static void request_unlink(struct hd_daemon *d, struct hd_request *r)
{
	struct hd_request **p;

	for (p = &d->requests; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			d->n_requests--;
			return;
		}
	}
}

/* The key and the ticket: the session holds its own copies. */
static void request_wipe_offer(struct hd_request *r)
{
	if (r->offer_ticket) {
		explicit_bzero(r->offer_ticket, r->offer.ticket_len);
		free(r->offer_ticket);
		r->offer_ticket = NULL;
	}
	explicit_bzero(r->offer.key, sizeof(r->offer.key));
}

static void request_drop_ticket(struct hd_request *r)
{
	if (r->ticket)
		hsd_ticket_free(r->ticket, r->result.ticket_len);
	r->ticket = NULL;
	r->result.ticket_len = 0;
	r->result.flags &= ~HD_RESULT_TICKET;
}

/* Report err (0 or negative errno), then let go of everything. */
static void request_finish(struct hd_request *r, int err)
{
	struct hd_daemon *d = r->d;
	unsigned int status = hd_done_status(err);
	struct hsd_info info = { 0 };
	int ret;

	if (!status && r->session && !hsd_session_info(r->session, &info) &&
	    info.resumed)
		r->result.flags |= HD_RESULT_RESUMED;
	if (status)
		request_drop_ticket(r);

	if (d->sup_fd >= 0) {
		/* the supervisor sends DONE on its copy of the socket */
		hd_worker_report(d->sup_fd, r->token, status, r->remote_ids,
				 r->n_remote_ids, &r->result, r->ticket);
		ret = 0;
	} else {
		ret = hd_nl_done(d->nl, r->acc.sockfd, status, r->remote_ids,
				 r->n_remote_ids);
	}
	if (ret < 0)
		/* usual when the consumer cancelled and the fd is gone */
		log_debug("Failed to report result of handshake with '%s': %s",
			  r->addr, strerror(-ret));

	request_log(r, status ? -(int)status : 0);
	if (err && status != (unsigned int)-err)
		log_debug("Reported %s for %s", hd_errno_name(status),
			  hd_errno_name(err));

	if (r->events)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, r->acc.sockfd, NULL);
	close(r->acc.sockfd);

	if (r->keyring_held)
		hd_keyring_release(r->acc.keyring);
	hsd_session_free(r->session);
	if (r->creds)
		hsd_creds_unref(r->creds);
	hd_psk_offer_free(&r->psk_offer);
	request_wipe_offer(r);
	request_drop_ticket(r);
	request_unlink(d, r);
	free(r);
}

/* The serial of the PSK named identity, as hd_psk_lookup() finds it. */
static int32_t request_psk_find(const struct hd_request *r, const char *id)
{
	int32_t serial = -ENOKEY;

	if (r->acc.keyring)
		serial = hd_keyring_search(r->acc.keyring, HD_PSK_KEY_TYPE, id);
	if (serial <= 0)
		serial = hd_keyring_search_config(HD_PSK_KEY_TYPE, id);
	return serial;
}

/*
 * The kernel's NVMe host and target take the peer id as the serial of
 * the PSK that was negotiated; the host refuses a serial it cannot
 * find as a "psk" key (nvme_tcp_tls_done()).
 */
static int request_psk_remote_auth(struct hd_request *r)
{
	const char *id = hsd_session_psk_identity(r->session);
	int32_t serial;

	if (r->role == HSD_CLIENT)
		serial = hd_psk_offer_serial(&r->psk_offer, id);
	else
		serial = r->psk_lookup.serial;
	if (serial <= 0 && id && r->role == HSD_SERVER)
		/* resumed: the lookup did not run, the ticket named it */
		serial = request_psk_find(r, id);
	if (serial <= 0) {
		snprintf(r->reason, sizeof(r->reason),
			 "no key serial for PSK identity '%s'", id ? id : "");
		return -ENOKEY;
	}

	r->remote_ids[0] = (uint32_t)serial;
	r->n_remote_ids = 1;
	return 0;
}

/* A client reports the server's verified certificate as a key. */
static void request_remote_auth(struct hd_request *r)
{
	char desc[sizeof(r->acc.peername) + 16];
	struct hsd_info info = { 0 };
	const void *der;
	size_t len;
	int32_t serial;

	if (hsd_session_info(r->session, &info) < 0 || !info.peer_verified)
		return;

	serial = HD_PEERID_VERIFIED;
	if (r->role == HSD_CLIENT &&
	    !hsd_session_peer_cert(r->session, &der, &len)) {
		snprintf(desc, sizeof(desc), "TLS x509 %s",
			 r->acc.peername[0] ? r->acc.peername : r->addr);
		serial = hd_keyring_add_cert(der, len, desc);
		if (serial < 0) {
			log_debug("Failed to add key for certificate of '%s': %s",
				  desc, strerror(-serial));
			serial = HD_PEERID_VERIFIED;
		}
	}

	r->remote_ids[0] = (uint32_t)serial;
	r->n_remote_ids = 1;
}

/* Client: what to resume from next time, for the supervisor. */
static void request_take_ticket(struct hd_request *r)
{
	size_t len = 0;
	int ret;

	ret = hsd_session_ticket(r->session, &r->ticket, &len,
				 &r->result.lifetime_s);
	if (ret < 0) {
		r->ticket = NULL;
		return;
	}
	r->result.ticket_len = (uint32_t)len;
	r->result.flags |= HD_RESULT_TICKET;
	if (len > HD_TICKET_MAX) {
		log_debug("Ignoring session ticket of '%s': %zu bytes, more than %d",
			  r->addr, len, HD_TICKET_MAX);
		request_drop_ticket(r);
	}
}

static void request_complete(struct hd_request *r)
{
	int ret;

	if (r->ticket_wait)
		request_take_ticket(r);

	ret = hsd_session_ktls_install(r->session);
	if (ret < 0) {
		request_set_reason(r, hsd_session_error(r->session));
		request_finish(r, ret);
		return;
	}

	ret = 0;
	if (r->acc.auth_mode == HSD_NL_AUTH_PSK)
		ret = request_psk_remote_auth(r);
	else
		request_remote_auth(r);
	request_finish(r, ret);
}

static int request_wait(struct hd_request *r, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &r->watch };
	int op = r->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (events == r->events)
		return 0;
	if (epoll_ctl(r->d->epfd, op, r->acc.sockfd, &ev) < 0)
		return -errno;

	r->events = events;
	return 0;
}

static void request_fail(struct hd_request *r, int ret)
{
	/* A key we found but could not use says more than GnuTLS. */
	if (r->psk_lookup.err) {
		ret = r->psk_lookup.err;
		request_set_reason(r, r->psk_lookup.reason);
	}
	request_set_reason(r, hsd_session_error(r->session));
	request_set_reason(r, strerror(-ret));
	request_finish(r, ret);
}

static int request_read_ticket(struct hd_request *r)
{
	int ret;

	do {
		ret = hsd_session_read_ticket(r->session);
	} while (ret == HSD_WARNING_ALERT);
	return ret;
}

/* Wait for the socket as a progress code asks, or fail on an error. */
static void request_again(struct hd_request *r, int ret)
{
	if (ret == HSD_AGAIN_READ || ret == HSD_AGAIN_WRITE)
		ret = request_wait(r, ret == HSD_AGAIN_READ ? EPOLLIN : EPOLLOUT);
	if (ret < 0)
		request_fail(r, ret);
}

/*
 * Client: the server sends its tickets after the handshake (RFC 8446
 * section 4.6.1). Read them before the socket goes to the kernel,
 * whose consumer would meet them as records it does not expect; this
 * is safe only because NFS and NVMe/TCP clients speak first, so no
 * application data can come before a ticket.
 */
static void request_ticket_step(struct hd_request *r)
{
	int ret;

	/* 0: a ticket came, with the rest of its flight that had arrived */
	ret = request_read_ticket(r);
	if (ret == 0) {
		request_complete(r);
		return;
	}
	if ((ret == HSD_AGAIN_READ || ret == HSD_AGAIN_WRITE) &&
	    hd_now_ms() >= r->ticket_deadline_ms) {
		if (r->offer.wait_ms)
			r->result.flags |= HD_RESULT_NO_TICKET;
		request_complete(r);
		return;
	}
	request_again(r, ret);
}

static void request_start_ticket_wait(struct hd_request *r)
{
	uint64_t until = hd_now_ms() + r->offer.wait_ms;

	r->ticket_wait = true;
	r->ticket_deadline_ms = until < r->deadline_ms ? until
						      : r->deadline_ms;
	request_ticket_step(r);
}

static void request_step(struct hd_request *r)
{
	int ret;

	if (r->ticket_wait) {
		request_ticket_step(r);
		return;
	}

	do {
		ret = hsd_handshake(r->session);
		if (ret == HSD_WARNING_ALERT)
			log_debug("Peer '%s' sent warning alert %d", r->addr,
				  hsd_session_alert(r->session));
	} while (ret == HSD_WARNING_ALERT);

	if (ret == 0 && r->role == HSD_CLIENT &&
	    (r->offer.flags & HD_RESUME_TICKETS)) {
		request_start_ticket_wait(r);
		return;
	}
	if (ret == 0) {
		request_complete(r);
		return;
	}
	request_again(r, ret);
}

/*
 * PSK credentials are per request: a client's keys come from the
 * serials in the request, a server's lookup writes into the request.
 */
static int request_psk_creds(struct hd_request *r)
{
	int ret;

	ret = hsd_creds_new(&r->creds);
	if (ret < 0)
		return ret;

	if (r->role == HSD_CLIENT)
		return hd_psk_offer_build(&r->psk_offer, r->creds,
					  r->acc.peerids, r->acc.n_peerids,
					  HD_PSK_KEY_TYPE, r->reason,
					  sizeof(r->reason));

	r->psk_lookup.type = HD_PSK_KEY_TYPE;
	r->psk_lookup.keyring = r->acc.keyring;
	ret = hsd_creds_psk_lookup(r->creds, hd_psk_lookup, &r->psk_lookup);
	if (ret < 0)
		request_set_reason(r, hsd_creds_error(r->creds));
	return ret;
}

static int request_creds(struct hd_request *r)
{
	struct hd_daemon *d = r->d;
	const struct hd_auth_conf *a;
	struct hsd_creds *shared;

	if (r->acc.auth_mode == HSD_NL_AUTH_PSK)
		return request_psk_creds(r);

	if (r->role == HSD_CLIENT && r->acc.auth_mode == HSD_NL_AUTH_UNAUTH) {
		r->creds = hsd_creds_ref(d->creds.anon);
		return 0;
	}

	a = r->role == HSD_CLIENT ? &d->cfg.client : &d->cfg.server;
	shared = r->role == HSD_CLIENT ? d->creds.client : d->creds.server;
	if (r->acc.cert && r->acc.privkey)
		return hd_creds_from_keys(&r->creds, a, r->acc.cert,
					  r->acc.privkey, r->reason,
					  sizeof(r->reason));

	if (r->role == HSD_SERVER && !hsd_creds_has_x509(shared)) {
		request_set_reason(r, "no server certificate: set x509.certificate and x509.private_key in [authenticate.server]");
		return -ENOKEY;
	}
	r->creds = hsd_creds_ref(shared);
	return 0;
}

static int request_peer_name(struct hd_request *r)
{
	char host[INET6_ADDRSTRLEN];

	if (r->acc.peername[0])
		return hsd_session_set_peer_name(r->session, r->acc.peername);

	/* No DNS lookups in the event loop: verify the address itself. */
	if (r->role == HSD_CLIENT) {
		request_addr_host(r, host, sizeof(host));
		return hsd_session_set_peer_name(r->session, host);
	}
	return 0;
}

/* Client: a ticket the server refuses is no reason to fail. */
static int request_offer_ticket(struct hd_request *r)
{
	int ret;

	ret = hsd_session_set_ticket(r->session, r->offer_ticket,
				     r->offer.ticket_len);
	if (ret == 0)
		return 0;

	log_debug("Failed to offer session ticket to '%s': %s, not resuming",
		  r->addr, hsd_session_error(r->session));
	return hsd_session_set_tickets(r->session, true);
}

/* What the supervisor decided: tickets, the ticket key, psk_ke. */
static int request_resume(struct hd_request *r)
{
	struct hd_resume_offer *o = &r->offer;
	int ret = 0;

	if (o->flags & HD_RESUME_PSK_KE)
		hsd_session_set_psk_ke(r->session, true);

	if (r->role == HSD_SERVER && (o->flags & HD_RESUME_KEY))
		ret = hsd_session_set_ticket_key(r->session, o->key,
						 sizeof(o->key),
						 o->lifetime_s);
	else if (r->role == HSD_CLIENT && r->offer_ticket)
		ret = request_offer_ticket(r);
	else if (r->role == HSD_CLIENT && (o->flags & HD_RESUME_TICKETS))
		ret = hsd_session_set_tickets(r->session, true);

	request_wipe_offer(r);
	return ret;
}

static int request_session(struct hd_request *r)
{
	struct hsd_session *s;
	uint32_t timeout;
	int ret;

	ret = hsd_session_new(&s, r->acc.sockfd, r->role, r->creds);
	if (ret < 0)
		return ret;
	r->session = s;

	ret = hsd_session_set_ciphers(s, r->d->ciphers);
	if (ret < 0)
		return ret;
	ret = request_peer_name(r);
	if (ret < 0)
		return ret;

	/*
	 * A client always verifies the server (the library's default):
	 * "anonymous" only means it shows no certificate of its own.
	 */
	if (r->role == HSD_SERVER && r->acc.auth_mode != HSD_NL_AUTH_PSK)
		hsd_session_set_client_auth(s, HSD_CLIENT_AUTH_REQUEST);

	timeout = r->acc.timeout_ms ? r->acc.timeout_ms : HD_DEFAULT_TIMEOUT_MS;
	r->deadline_ms = r->start_ms + timeout;
	if (r->deadline_ms <= hd_now_ms())
		return -ETIMEDOUT;
	hsd_session_set_timeout(s, (unsigned int)(r->deadline_ms - hd_now_ms()));
	return request_resume(r);
}

static int request_setup(struct hd_request *r)
{
	int ret;

	if (r->acc.keyring) {
		ret = hd_keyring_hold(r->acc.keyring);
		if (ret < 0)
			log_debug("Failed to link keyring %d: %s",
				  r->acc.keyring, strerror(-ret));
		r->keyring_held = ret == 0;
	}

	ret = request_creds(r);
	if (ret < 0)
		return ret;

	ret = request_session(r);
	if (ret < 0 && r->session)
		request_set_reason(r, hsd_session_error(r->session));
	return ret;
}

void hd_request_start(struct hd_daemon *d, const struct hd_accept *a,
		      int32_t token, const struct hd_resume_offer *o,
		      void *ticket)
{
	struct hd_request *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r) {
		log_err("Failed to start handshake on socket %d: %s",
			a->sockfd, strerror(ENOMEM));
		if (ticket) {
			explicit_bzero(ticket, o->ticket_len);
			free(ticket);
		}
		if (d->sup_fd >= 0)
			hd_worker_report(d->sup_fd, token, ENOMEM, NULL, 0,
					 NULL, NULL);
		else
			hd_nl_done(d->nl, a->sockfd, ENOMEM, NULL, 0);
		close(a->sockfd);
		return;
	}

	r->watch.kind = HD_WATCH_REQUEST;
	r->d = d;
	r->acc = *a;
	r->token = token;
	if (o)
		r->offer = *o;
	r->offer_ticket = ticket;
	r->role = a->msg_type == HSD_NL_MSG_CLIENTHELLO ? HSD_CLIENT
							 : HSD_SERVER;
	/* the request's timeout runs from ACCEPT, queueing included */
	r->start_ms = a->accepted_ms ? a->accepted_ms : hd_now_ms();
	r->next = d->requests;
	d->requests = r;
	d->n_requests++;
	request_peer_addr(r);

	ret = request_setup(r);
	if (ret < 0) {
		request_set_reason(r, strerror(-ret));
		request_finish(r, ret);
		return;
	}

	/* A client speaks first; a server finds nothing to read yet. */
	request_step(r);
}

void hd_request_event(struct hd_daemon *d, struct hd_watch *w,
		      uint32_t events)
{
	struct hd_request *r = (struct hd_request *)w;

	/* Errors and hangups surface from the next read or write. */
	request_step(r);
}

/* When the request must move on: its deadline, or a ticket's. */
static uint64_t request_due(const struct hd_request *r)
{
	return r->ticket_wait ? r->ticket_deadline_ms : r->deadline_ms;
}

int hd_requests_next_timeout(const struct hd_daemon *d)
{
	const struct hd_request *r;
	uint64_t now = hd_now_ms(), first = UINT64_MAX;

	for (r = d->requests; r; r = r->next)
		if (request_due(r) < first)
			first = request_due(r);

	if (first == UINT64_MAX)
		return -1;
	if (d->check_ms < first)
		first = d->check_ms;
	if (first <= now)
		return 0;
	return first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
}

/*
 * A consumer may have replaced the socket's wakeup callbacks (SunRPC
 * does), so that epoll never learns of a reset by the peer. Ask the
 * socket itself now and then, and let a request whose socket has an
 * error or a hangup run into it.
 */
static void requests_check(struct hd_daemon *d, uint64_t now)
{
	struct hd_request *r, *next;
	struct pollfd pfd;

	if (now < d->check_ms)
		return;
	d->check_ms = now + HD_CHECK_INTERVAL_MS;

	for (r = d->requests; r; r = next) {
		next = r->next;
		pfd = (struct pollfd){ .fd = r->acc.sockfd,
				       .events = POLLRDHUP };
		if (poll(&pfd, 1, 0) != 1 ||
		    !(pfd.revents & (POLLERR | POLLHUP | POLLRDHUP)))
			continue;
		log_debug("Socket %d of '%s' has an error or hangup epoll did not report",
			  r->acc.sockfd, r->addr);
		hd_request_event(d, &r->watch, EPOLLERR);
	}
}

void hd_requests_expire(struct hd_daemon *d)
{
	struct hd_request *r, *next;
	uint64_t now = hd_now_ms();

	requests_check(d, now);
	for (r = d->requests; r; r = next) {
		next = r->next;
		if (request_due(r) > now)
			continue;
		if (r->ticket_wait) {
			/* no ticket in time: go on without one */
			request_ticket_step(r);
			continue;
		}
		snprintf(r->reason, sizeof(r->reason),
			 "no result within %llu ms",
			 (unsigned long long)(r->deadline_ms - r->start_ms));
		request_finish(r, -ETIMEDOUT);
	}
}

void hd_requests_abort(struct hd_daemon *d)
{
	while (d->requests) {
		request_set_reason(d->requests, "the daemon is stopping");
		request_finish(d->requests, -EIO);
	}
}
