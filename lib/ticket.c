// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TLS 1.3 session resumption (RFC 8446 sections 2.2 and 4.6.1): the
 * server's ticket key and the ticket it sends, the client's tickets
 * read after the handshake and offered on a later one, and the checks
 * a resumed session owes its caller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "internal.h"

/* RFC 8446 section 4.6.1: servers keep tickets at most seven days. */
#define LIFETIME_MAX (7 * 24 * 3600)
#define LIFETIME_DEFAULT (6 * 3600)
/* RFC 8446 section 4.2.9. */
#define EXT_PSK_KE_MODES 45
/* One per connection: a resumed connection brings the next (C.4). */
#define TICKETS_PER_HANDSHAKE 1
/* GnuTLS's session data, certificate chain included, stays far below. */
#define RESUME_DATA_MAX 65536

int hsd_ticket_key_generate(uint8_t key[HSD_TICKET_KEY_SIZE])
{
	if (gnutls_rnd(GNUTLS_RND_KEY, key, HSD_TICKET_KEY_SIZE) < 0)
		return -EIO;
	return 0;
}

int hsd_session_set_ticket_key(struct hsd_session *s, const void *key,
			       size_t len, unsigned int lifetime_s)
{
	if (s->started)
		return -EBUSY;

	if (s->role != HSD_SERVER || !key || len != HSD_TICKET_KEY_SIZE ||
	    lifetime_s > LIFETIME_MAX) {
		hsd__session_error(s, "ticket key of %zu bytes, lifetime %u s: a server takes %d bytes and at most %d s",
				   len, lifetime_s, HSD_TICKET_KEY_SIZE,
				   LIFETIME_MAX);
		return -EINVAL;
	}

	memcpy(s->ticket_key, key, HSD_TICKET_KEY_SIZE);
	s->has_ticket_key = true;
	s->ticket_lifetime = lifetime_s ? lifetime_s : LIFETIME_DEFAULT;
	return 0;
}

static void resume_data_wipe(struct hsd_session *s)
{
	if (s->resume_data)
		gnutls_memset(s->resume_data, 0, s->resume_len);
	free(s->resume_data);
	s->resume_data = NULL;
	s->resume_len = 0;
}

void hsd__ticket_wipe(struct hsd_session *s)
{
	gnutls_memset(s->ticket_key, 0, sizeof(s->ticket_key));
	resume_data_wipe(s);
}

static int client_only(struct hsd_session *s)
{
	if (s->started)
		return -EBUSY;
	if (s->role != HSD_CLIENT) {
		hsd__session_error(s, "only a client takes session tickets");
		return -EINVAL;
	}
	return 0;
}

int hsd_session_set_tickets(struct hsd_session *s, bool on)
{
	int rc;

	rc = client_only(s);
	if (rc < 0)
		return rc;

	s->tickets = on;
	if (!on)
		resume_data_wipe(s);
	return 0;
}

int hsd_session_set_ticket(struct hsd_session *s, const void *data,
			   size_t len)
{
	uint8_t *copy;
	int rc;

	rc = client_only(s);
	if (rc < 0)
		return rc;

	if (!data || len == 0 || len > RESUME_DATA_MAX) {
		hsd__session_error(s, "ticket data of %zu bytes", len);
		return -EINVAL;
	}

	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);

	resume_data_wipe(s);
	s->resume_data = copy;
	s->resume_len = len;
	s->tickets = true;
	return 0;
}

bool hsd__tickets_on(const struct hsd_session *s)
{
	return s->role == HSD_SERVER ? s->has_ticket_key : s->tickets;
}

/*
 * Key exchanges for the priority string of a certificate session with
 * tickets. GnuTLS derives the psk_key_exchange_modes a client sends
 * and a server accepts from them; a list without any would let a
 * GnuTLS client offer psk_ke as well (RFC 8446 section 4.2.9).
 */
const char *hsd__ticket_kx(const struct hsd_session *s)
{
	return s->psk_ke ? ":+PSK:+ECDHE-PSK:+DHE-PSK" :
			   ":+ECDHE-PSK:+DHE-PSK";
}

static int gnutls_errno(struct hsd_session *s, const char *what, int rc)
{
	hsd__session_error(s, "cannot %s: %s", what, gnutls_strerror(rc));
	return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
}

static int server_start(struct hsd_session *s)
{
	gnutls_datum_t key = { s->ticket_key, HSD_TICKET_KEY_SIZE };
	int rc;

	if (!s->has_ticket_key)
		return 0;

	/* GnuTLS keeps a copy, which gnutls_deinit() wipes. */
	rc = gnutls_session_ticket_enable_server(s->tls, &key);
	gnutls_memset(s->ticket_key, 0, sizeof(s->ticket_key));
	if (rc < 0)
		return gnutls_errno(s, "enable session tickets", rc);

	gnutls_db_set_cache_expiration(s->tls, (int)s->ticket_lifetime);
	return 0;
}

/*
 * GnuTLS leaves a session half set up by data it fails to parse, and
 * such a session may crash in the handshake: try the data on a scratch
 * session first.
 */
static bool resume_data_usable(const struct hsd_session *s)
{
	gnutls_session_t scratch;
	bool usable;

	if (gnutls_init(&scratch, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0)
		return false;
	usable = gnutls_session_set_data(scratch, s->resume_data,
					 s->resume_len) == 0;
	gnutls_deinit(scratch);
	return usable;
}

static int client_start(struct hsd_session *s)
{
	int rc;

	if (!s->tickets)
		return 0;

	rc = gnutls_session_ticket_enable_client(s->tls);
	if (rc < 0)
		return gnutls_errno(s, "enable session tickets", rc);

	if (!s->resume_data)
		return 0;

	/* Data GnuTLS cannot use is not offered: a full handshake follows. */
	rc = 0;
	if (resume_data_usable(s))
		rc = gnutls_session_set_data(s->tls, s->resume_data,
					     s->resume_len);
	resume_data_wipe(s);
	if (rc == GNUTLS_E_MEMORY_ERROR)
		return -ENOMEM;
	return 0;
}

int hsd__ticket_start(struct hsd_session *s)
{
	return s->role == HSD_SERVER ? server_start(s) : client_start(s);
}

static int ext_seen(void *ctx, unsigned int tls_id,
		    const unsigned char *data, unsigned int len)
{
	struct hsd_session *s = ctx;

	if (tls_id == EXT_PSK_KE_MODES)
		s->client_modes = true;
	return 0;
}

/*
 * Server: a ticket goes only to a client that sent the modes it could
 * resume with (RFC 8446 section 4.2.9); GnuTLS clients send none
 * unless tickets or PSKs are on. The last ClientHello counts.
 */
static int client_hello(struct hsd_session *s, const gnutls_datum_t *msg)
{
	s->client_modes = false;
	gnutls_ext_raw_parse(s, ext_seen, msg,
			     GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
	return 0;
}

/*
 * Client: RFC 8446 section 4.6.1, ticket_lifetime leads the message.
 * GnuTLS has consumed the message by the time the post hook runs: read
 * it before, count it once GnuTLS accepted it.
 */
static int ticket_seen(struct hsd_session *s, unsigned int when,
		       const gnutls_datum_t *msg)
{
	const uint8_t *p = msg->data;

	if (when == GNUTLS_HOOK_POST) {
		s->ticket_lifetime_rx = s->ticket_lifetime_next;
		s->tickets_seen++;
		return 0;
	}

	if (msg->size < 4)
		return GNUTLS_E_UNEXPECTED_PACKET_LENGTH;
	s->ticket_lifetime_next = (uint32_t)p[0] << 24 |
				  (uint32_t)p[1] << 16 |
				  (uint32_t)p[2] << 8 | p[3];
	return 0;
}

/*
 * GnuTLS runs the hook for handshake messages after the handshake as
 * well (3.7.9 and 3.8.9 alike), before and after it handles each.
 */
int hsd__ticket_hook(struct hsd_session *s, unsigned int type,
		     unsigned int when, unsigned int incoming,
		     const gnutls_datum_t *msg)
{
	if (!incoming)
		return 0;

	if (type == GNUTLS_HANDSHAKE_CLIENT_HELLO && when == GNUTLS_HOOK_PRE &&
	    s->role == HSD_SERVER && s->has_ticket_key)
		return client_hello(s, msg);

	if (type == GNUTLS_HANDSHAKE_NEW_SESSION_TICKET &&
	    s->role == HSD_CLIENT)
		return ticket_seen(s, when, msg);
	return 0;
}

/*
 * Verify the peer's chain kept from the original handshake, as of now:
 * today's trust anchors and CRLs, and on a client the name asked for.
 */
static int resumed_verify(struct hsd_session *s, const char *name,
			  bool required)
{
	unsigned int n = 0, status = 0;
	int rc;

	if (!gnutls_certificate_get_peers(s->tls, &n) || n == 0) {
		if (!required)
			return 0;
		hsd__session_error(s, "resumed session holds no peer certificate");
		gnutls_alert_send(s->tls, GNUTLS_AL_FATAL,
				  s->role == HSD_SERVER ?
				  GNUTLS_A_CERTIFICATE_REQUIRED :
				  GNUTLS_A_BAD_CERTIFICATE);
		return -EACCES;
	}

	rc = gnutls_certificate_verify_peers3(s->tls, name, &status);
	if (rc == 0 && status == 0)
		return 0;

	gnutls_alert_send(s->tls, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
	return hsd__verify_failed(s, rc < 0 ? rc :
				  GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR,
				  status);
}

/*
 * A resumed handshake carries no Certificate message (RFC 8446 section
 * 2.2), so nothing was verified in it. PSK sessions have no chain.
 */
int hsd__resumed_check(struct hsd_session *s)
{
	if (!gnutls_session_is_resumed(s->tls) || hsd__session_psk(s))
		return 0;

	if (s->role == HSD_CLIENT)
		return s->verify_peer ? resumed_verify(s, s->peer_name, true) :
					0;

	if (s->client_auth == HSD_CLIENT_AUTH_NONE)
		return 0;
	return resumed_verify(s, NULL,
			      s->client_auth == HSD_CLIENT_AUTH_REQUIRE);
}

/* Server, once the handshake is complete: send the ticket, if due. */
int hsd__ticket_send(struct hsd_session *s)
{
	int ret, rc;

	if (s->role != HSD_SERVER || !s->client_modes)
		return 0;

	ret = gnutls_session_ticket_send(s->tls, TICKETS_PER_HANDSHAKE, 0);
	if (ret == 0) {
		s->client_modes = false;
		return 0;
	}

	rc = hsd__gnutls_result(s, ret);
	if (rc < 0)
		hsd__send_alert(s, ret);
	return rc;
}

static int read_check(struct hsd_session *s)
{
	if (s->role != HSD_CLIENT || !s->tickets) {
		hsd__session_error(s, "session tickets were not asked for");
		return -EINVAL;
	}
	if (!s->done || s->in_kernel) {
		hsd__session_error(s, "no handshake finished in user space");
		return -EINVAL;
	}
	if (s->data_lost) {
		hsd__session_error(s, "application data was already read and dropped");
		return -EPROTO;
	}
	return 0;
}

/*
 * Nothing more to read now. Tickets of one flight that have arrived
 * are all read, so that they stay out of the kernel; a record begun
 * must end here too, the kernel starts at a record boundary.
 */
static int read_blocked(struct hsd_session *s)
{
	if (gnutls_record_get_direction(s->tls))
		return HSD_AGAIN_WRITE;
	if (s->tickets_seen && !s->rec.header_len)
		return 0;
	return HSD_AGAIN_READ;
}

/*
 * gnutls_record_recv() returns GNUTLS_E_AGAIN both after it handled a
 * handshake record and when the socket is empty; the transport tells
 * the two apart. Each call reads at most one record (io.c).
 */
int hsd_session_read_ticket(struct hsd_session *s)
{
	uint8_t buf[256];
	ssize_t n;
	int rc;

	rc = read_check(s);
	if (rc < 0)
		return rc;

	for (;;) {
		s->io_blocked = false;
		n = gnutls_record_recv(s->tls, buf, sizeof(buf));
		if (n > 0) {
			gnutls_memset(buf, 0, sizeof(buf));
			s->data_lost = true;
			hsd__session_error(s, "server sent application data while a session ticket was awaited");
			return -EPROTO;
		}

		if (n == 0) {
			hsd__session_error(s, "server closed the connection while a session ticket was awaited");
			return -ECONNRESET;
		}

		if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED) {
			rc = hsd__gnutls_result(s, (int)n);
			if (rc < 0)
				hsd__send_alert(s, (int)n);
			return rc;
		}

		if (s->io_blocked)
			return read_blocked(s);
	}
}

int hsd_session_ticket(const struct hsd_session *s, void **data,
		       size_t *len, uint32_t *lifetime_s)
{
	gnutls_datum_t d = { NULL, 0 };
	void *copy;
	int rc;

	if (s->role != HSD_CLIENT || !s->done || !s->tickets_seen)
		return -ENOENT;

	rc = gnutls_session_get_data2(s->tls, &d);
	if (rc < 0)
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;

	copy = malloc(d.size);
	if (copy)
		memcpy(copy, d.data, d.size);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	if (!copy)
		return -ENOMEM;

	*data = copy;
	*len = d.size;
	if (lifetime_s)
		*lifetime_s = s->ticket_lifetime_rx;
	return 0;
}

void hsd_ticket_free(void *data, size_t len)
{
	if (!data)
		return;

	gnutls_memset(data, 0, len);
	free(data);
}
