// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Transport for GnuTLS over the session's socket. Reads never cross
 * the end of the current TLS record, so bytes the peer sends after
 * its last handshake record stay in the socket for kernel TLS.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

/* RFC 8446 section 5.1: type (1), legacy version (2), length (2). */
#define RECORD_HEADER_LEN 5

static ssize_t io_fail(struct hsd_session *s)
{
	int err = errno;

	if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
		s->io_errno = err;
	else
		s->io_blocked = true;
	gnutls_transport_set_errno(s->tls, err);
	return -1;
}

/* How many bytes the next read may take without leaving this record. */
static size_t record_room(const struct hsd__record_pos *rec, size_t len)
{
	size_t room;

	if (rec->header_len < RECORD_HEADER_LEN)
		room = RECORD_HEADER_LEN - rec->header_len;
	else
		room = rec->body_left;
	return len < room ? len : room;
}

static void record_advance(struct hsd__record_pos *rec,
			   const uint8_t *data, size_t n)
{
	if (rec->header_len < RECORD_HEADER_LEN) {
		memcpy(rec->header + rec->header_len, data, n);
		rec->header_len += n;
		if (rec->header_len == RECORD_HEADER_LEN)
			rec->body_left = (size_t)rec->header[3] << 8 |
					 rec->header[4];
	} else {
		rec->body_left -= n;
	}

	/* A record with an empty body ends with its header. */
	if (rec->header_len == RECORD_HEADER_LEN && rec->body_left == 0)
		rec->header_len = 0;
}

ssize_t hsd__io_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct hsd_session *s = ptr;
	size_t want;
	ssize_t n;

	want = record_room(&s->rec, len);
	if (want == 0)
		return 0;

	n = recv(s->fd, buf, want, 0);
	if (n < 0)
		return io_fail(s);

	record_advance(&s->rec, buf, (size_t)n);
	return n;
}

static ssize_t io_push(gnutls_transport_ptr_t ptr, const void *buf,
		       size_t len)
{
	struct hsd_session *s = ptr;
	ssize_t n;

	n = send(s->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return io_fail(s);
	return n;
}

static int io_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct hsd_session *s = ptr;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int rc;

	rc = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (rc < 0)
		return (int)io_fail(s);
	return rc;
}

void hsd__io_attach(struct hsd_session *s)
{
	gnutls_transport_set_ptr(s->tls, s);
	gnutls_transport_set_pull_function(s->tls, hsd__io_pull);
	gnutls_transport_set_push_function(s->tls, io_push);
	gnutls_transport_set_pull_timeout_function(s->tls, io_pull_timeout);
}
