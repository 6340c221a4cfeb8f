/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One kernel handshake request, from the ACCEPT reply to DONE: build
 * a session on the socket the kernel gave us, drive the handshake
 * from the event loop, install kTLS, report and close.
 */
#ifndef HANDSHAKED_REQUEST_H
#define HANDSHAKED_REQUEST_H

#include <stdint.h>

#include "daemon.h"
#include "resume.h"

/*
 * Without a timeout from the kernel a handshake may take this long;
 * it matches GnuTLS's own default handshake timeout.
 */
#define HD_DEFAULT_TIMEOUT_MS	40000

/*
 * Start the request a describes (a->sockfd is ours from now on);
 * token is passed back to the supervisor when it is done. o (may be
 * NULL) says how to resume; ticket, o->ticket_len bytes or NULL, is
 * ours from now on too.
 */
void hd_request_start(struct hd_daemon *d, const struct hd_accept *a,
		      int32_t token, const struct hd_resume_offer *o,
		      void *ticket);

/* An epoll event on a request's socket. */
void hd_request_event(struct hd_daemon *d, struct hd_watch *w,
		      uint32_t events);

/* Milliseconds until the next request times out, -1 when none. */
int hd_requests_next_timeout(const struct hd_daemon *d);
/* Fail every request past its deadline. */
void hd_requests_expire(struct hd_daemon *d);
/* Fail every request in flight (shutdown). */
void hd_requests_abort(struct hd_daemon *d);

#endif /* HANDSHAKED_REQUEST_H */
