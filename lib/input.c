// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Records other than application data that kTLS hands to user space:
 * post-handshake messages (KeyUpdate, NewSessionTicket; RFC 8446
 * section 4.6) and alerts (section 6), and reading them with recvmsg
 * for callers that have no io_uring loop of their own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* RFC 8446 appendix B.3 handshake types, 4.6.3 and section 6. */
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24
#define HS_HEADER 4
#define AL_WARNING 1
#define AL_FATAL 2
#define AL_CLOSE_NOTIFY 0
#define AL_UNEXPECTED_MESSAGE 10
#define AL_ILLEGAL_PARAMETER 47
#define AL_DECODE_ERROR 50
#define AL_INTERNAL_ERROR 80

/*
 * Largest post-handshake message taken: a NewSessionTicket with a
 * 255-byte nonce, a 64 KiB ticket and 64 KiB of extensions.
 */
#define HS_BODY_MAX (4 + 4 + 1 + 255 + 2 + 0xffff + 2 + 0xfffe)

#define conn_abort(c, desc, ...) \
	(hsd__conn_error(c, __VA_ARGS__), hsd__conn_abort(c, desc))

static int ku_flood(struct hsd_conn *c)
{
	if (c->ku_interval_ms == 0)
		return conn_abort(c, AL_UNEXPECTED_MESSAGE,
				  "peer sent more KeyUpdates than allowed (%u)",
				  c->ku_burst);
	return conn_abort(c, AL_UNEXPECTED_MESSAGE,
			  "peer sent more KeyUpdates than allowed (%u at once, then one per %u ms)",
			  c->ku_burst, c->ku_interval_ms);
}

/* Move to the peer's next key, within the KeyUpdate rate limit. */
static int rx_next_key(struct hsd_conn *c)
{
	if (!hsd__conn_ku_allowed(c))
		return ku_flood(c);

	if (hsd__conn_next_key(c, true) < 0) {
		hsd__conn_abort(c, AL_INTERNAL_ERROR);
		return c->failed = -EIO;
	}
	c->rx_updates++;
	return 0;
}

static const char *alert_name(uint8_t desc)
{
	const char *name;

	name = gnutls_alert_get_name((gnutls_alert_description_t)desc);
	return name ? name : "unknown";
}

/* RFC 8446 section 5.1: alerts come one per record, never split. */
static int alert_in(struct hsd_conn *c, const uint8_t *data, size_t len)
{
	if (len != 2)
		return conn_abort(c, AL_DECODE_ERROR,
				  "alert record of %zu bytes", len);

	c->alert = data[1];
	if (data[1] == AL_CLOSE_NOTIFY) {
		c->peer_closed = true;
		return HSD_CONN_CLOSED;
	}

	if (data[0] == AL_WARNING) {
		hsd__conn_error(c, "peer sent warning alert '%s'",
				alert_name(data[1]));
		return HSD_CONN_WARNING;
	}

	hsd__conn_error(c, "peer sent fatal alert '%s'", alert_name(data[1]));
	return c->failed = -EPROTO;
}

static int ticket_in(struct hsd_conn *c, const uint8_t *body, size_t len)
{
	struct hsd__ticket *t;
	uint8_t *copy;

	if (c->role == HSD_SERVER)
		return conn_abort(c, AL_UNEXPECTED_MESSAGE,
				  "client sent a NewSessionTicket");

	copy = malloc(len ? len : 1);
	if (!copy)
		return conn_abort(c, AL_INTERNAL_ERROR,
				  "no memory for a session ticket");
	memcpy(copy, body, len);

	/* Keep the newest: drop the oldest when full. */
	if (c->n_tickets == HSD_CONN_TICKETS_MAX) {
		gnutls_memset(c->tickets[0].data, 0, c->tickets[0].len);
		free(c->tickets[0].data);
		memmove(&c->tickets[0], &c->tickets[1],
			sizeof(c->tickets[0]) * (HSD_CONN_TICKETS_MAX - 1));
		c->n_tickets--;
	}

	t = &c->tickets[c->n_tickets++];
	t->data = copy;
	t->len = len;
	c->tickets_total++;
	return 0;
}

/*
 * RFC 8446 section 4.6.3: take the peer's next key, and answer a
 * request with a KeyUpdate of our own before any more data.
 */
static int key_update_in(struct hsd_conn *c, const uint8_t *body, size_t len,
			 bool at_end)
{
	int ret;

	if (len != 1)
		return conn_abort(c, AL_DECODE_ERROR,
				  "KeyUpdate of %zu bytes", len);
	if (body[0] > 1)
		return conn_abort(c, AL_ILLEGAL_PARAMETER,
				  "KeyUpdate request_update %u", body[0]);

	/* Section 5.1: messages may not span a key change. */
	if (!at_end)
		return conn_abort(c, AL_UNEXPECTED_MESSAGE,
				  "KeyUpdate not at the end of its record");

	ret = rx_next_key(c);
	if (ret < 0 || body[0] != 1)
		return ret;
	return hsd_conn_key_update(c, false);
}

static int message_in(struct hsd_conn *c, uint8_t type, const uint8_t *body,
		      size_t len, bool at_end)
{
	switch (type) {
	case HS_KEY_UPDATE:
		return key_update_in(c, body, len, at_end);
	case HS_NEW_SESSION_TICKET:
		return ticket_in(c, body, len);
	}

	/* No post-handshake authentication was offered. */
	return conn_abort(c, AL_UNEXPECTED_MESSAGE,
			  "unexpected handshake message type %u", type);
}

static size_t body_len(const uint8_t *hdr)
{
	return (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
}

/*
 * Handle the whole messages in buf; *used says how many bytes they
 * took. A positive result (our KeyUpdate waits) ends the record too,
 * since a KeyUpdate is its record's last message.
 */
static int messages_in(struct hsd_conn *c, const uint8_t *buf, size_t len,
		       size_t *used)
{
	size_t off = 0, blen;
	int rc = 0;

	while (rc == 0 && len - off >= HS_HEADER) {
		blen = body_len(buf + off);
		if (blen > HS_BODY_MAX)
			return conn_abort(c, AL_DECODE_ERROR,
					  "handshake message of %zu bytes",
					  blen);
		if (len - off - HS_HEADER < blen)
			break;

		rc = message_in(c, buf[off], buf + off + HS_HEADER, blen,
				off + HS_HEADER + blen == len);
		off += HS_HEADER + blen;
	}

	*used = off;
	return rc;
}

/* Keep the start of a message that continues in the next record. */
static int keep_partial(struct hsd_conn *c, const uint8_t *rest, size_t len)
{
	uint8_t *hs;

	/* The kernel stops decrypting at a KeyUpdate record: it must be whole. */
	if (rest[0] == HS_KEY_UPDATE)
		return conn_abort(c, AL_UNEXPECTED_MESSAGE,
				  "KeyUpdate split across records");

	hs = malloc(len);
	if (!hs)
		return conn_abort(c, AL_INTERNAL_ERROR,
				  "no memory for a handshake message");
	memmove(hs, rest, len);
	free(c->hs);
	c->hs = hs;
	c->hs_len = len;
	return 0;
}

/* Append a record to the unfinished message held from the last one. */
static int join_partial(struct hsd_conn *c, const uint8_t *data, size_t len,
			uint8_t **joined, size_t *joined_len)
{
	size_t total = c->hs_len + len;
	uint8_t *buf;

	if (total > HS_HEADER + HS_BODY_MAX)
		return conn_abort(c, AL_DECODE_ERROR,
				  "handshake message too long");

	buf = realloc(c->hs, total);
	if (!buf)
		return conn_abort(c, AL_INTERNAL_ERROR,
				  "no memory for a handshake message");
	memcpy(buf + c->hs_len, data, len);
	c->hs = NULL;
	c->hs_len = 0;
	*joined = buf;
	*joined_len = total;
	return 0;
}

static int handshake_in(struct hsd_conn *c, const uint8_t *data, size_t len)
{
	uint8_t *joined = NULL;
	size_t used = 0;
	int rc;

	/* RFC 8446 section 5.1: no empty handshake fragments. */
	if (len == 0)
		return conn_abort(c, AL_UNEXPECTED_MESSAGE,
				  "empty handshake record");

	if (c->hs_len) {
		rc = join_partial(c, data, len, &joined, &len);
		if (rc < 0)
			return rc;
		data = joined;
	}

	rc = messages_in(c, data, len, &used);
	if (rc == 0 && used < len)
		rc = keep_partial(c, data + used, len - used);

	free(joined);
	return rc;
}

int hsd_conn_input(struct hsd_conn *c, unsigned int type,
		   const void *data, size_t len)
{
	if (c->failed)
		return c->failed;

	switch (type) {
	case HSD_RECORD_ALERT:
		return alert_in(c, data, len);
	case HSD_RECORD_HANDSHAKE:
		return handshake_in(c, data, len);
	case HSD_RECORD_DATA:
		hsd__conn_error(c, "application data is not for hsd_conn_input()");
		return -EINVAL;
	}

	/* Section 5: change_cipher_spec and unknown types, protected. */
	return conn_abort(c, AL_UNEXPECTED_MESSAGE,
			  "unexpected record type %u", type);
}

int hsd_conn_read_error(struct hsd_conn *c, int err)
{
	if (c->failed)
		return c->failed;

	if (err == -EAGAIN || err == -EWOULDBLOCK || err == -EINTR)
		return err;

	if (err != -EKEYEXPIRED) {
		hsd__conn_error(c, "read failed: %s", strerror(-err));
		return c->failed = err;
	}

	/*
	 * The peer moved to its next key in a KeyUpdate we never saw, so
	 * whether it asked for ours is unknown: send one either way.
	 */
	err = rx_next_key(c);
	if (err < 0)
		return err;
	return hsd_conn_key_update(c, false);
}

int hsd_record_type(const struct msghdr *msg)
{
	struct cmsghdr *cmsg;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg;
	     cmsg = CMSG_NXTHDR((struct msghdr *)msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_TLS &&
		    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
			return *CMSG_DATA(cmsg);
	}
	return HSD_RECORD_DATA;
}

/* One recvmsg with room for the record type; bytes or -errno. */
static ssize_t recv_typed(int fd, void *buf, size_t len, int flags,
			  int *type)
{
	char control[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { buf, len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	ssize_t n;

	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return -errno;

	*type = hsd_record_type(&msg);
	return n;
}

/*
 * Read one record's worth. Other records must come whole: with a
 * small buffer, peek at the type first and take them into our own.
 */
static ssize_t recv_one(struct hsd_conn *c, void *buf, size_t len,
			const uint8_t **rec, int *type)
{
	uint8_t probe;
	ssize_t n;

	*rec = buf;
	if (len >= HSD_RECORD_MAX)
		return recv_typed(c->fd, buf, len, 0, type);

	n = recv_typed(c->fd, &probe, 1, MSG_PEEK, type);
	if (n <= 0 || *type == HSD_RECORD_DATA)
		return n <= 0 ? n : recv_typed(c->fd, buf, len, 0, type);

	if (!c->rbuf) {
		c->rbuf = malloc(HSD_RECORD_MAX);
		if (!c->rbuf)
			return -ENOMEM;
	}
	*rec = c->rbuf;
	return recv_typed(c->fd, c->rbuf, HSD_RECORD_MAX, 0, type);
}

ssize_t hsd_conn_recv(struct hsd_conn *c, void *buf, size_t len)
{
	const uint8_t *rec;
	ssize_t n;
	int type, rc;

	for (;;) {
		if (c->failed)
			return c->failed;
		if (c->peer_closed)
			return 0;

		/* An answer to the peer's request goes first, if it can. */
		rc = hsd_conn_flush(c);
		if (rc < 0)
			return rc;

		n = recv_one(c, buf, len, &rec, &type);
		if (n < 0) {
			rc = hsd_conn_read_error(c, (int)n);
			if (rc < 0)
				return rc;
			continue;
		}
		if (type == HSD_RECORD_DATA)
			return n;

		rc = hsd_conn_input(c, (unsigned int)type, rec, (size_t)n);
		if (rc < 0)
			return rc;
	}
}
