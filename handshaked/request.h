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

/*
 * Without a timeout from the kernel a handshake may take this long;
 * it matches GnuTLS's own default handshake timeout.
 */
#define HD_DEFAULT_TIMEOUT_MS	40000

/* Send ACCEPT until nothing is pending and start each request. */
void hd_requests_accept(struct hd_daemon *d);

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
