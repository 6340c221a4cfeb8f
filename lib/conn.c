// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel TLS connection after the handshake: made from a finished
 * session, it owns the traffic secrets and updates the sending key
 * (RFC 8446 section 4.6.3) on request, for the peer or when enough
 * records went out under one key (section 5.5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* RFC 8446 appendix B.3: HandshakeType key_update. */
#define HS_KEY_UPDATE 24
#define AL_WARNING 1
#define AL_FATAL 2

/* Default inbound KeyUpdate bucket: 16 at once, one more a second. */
#define KU_BURST 16
#define KU_INTERVAL_MS 1000

/*
 * Sending key limits. AES-GCM may protect 2^24.5 full records (RFC
 * 8446 section 5.5); CCM is held to the same. ChaCha20-Poly1305 has
 * no practical limit before the 64-bit sequence number.
 */
#define TX_LIMIT_AES (UINT64_C(1) << 24)
#define TX_LIMIT_CHACHA (UINT64_C(1) << 60)

static int kernel_set_key(struct hsd_conn *c, bool rx,
			  const union hsd__ktls_info *info, size_t len)
{
	if (setsockopt(c->fd, SOL_TLS, rx ? TLS_RX : TLS_TX, info,
		       (socklen_t)len) < 0)
		return -errno;
	return 0;
}

/* One record of the given type through kTLS (TLS_SET_RECORD_TYPE). */
static ssize_t kernel_send_record(struct hsd_conn *c, uint8_t type,
				  const void *data, size_t len)
{
	char control[CMSG_SPACE(sizeof(type))];
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	ssize_t n;

	memset(control, 0, sizeof(control));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cmsg), &type, sizeof(type));

	n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	return n < 0 ? -errno : n;
}

static const struct hsd__conn_ops kernel_ops = {
	.set_key = kernel_set_key,
	.send_record = kernel_send_record,
};

static uint64_t default_tx_limit(gnutls_cipher_algorithm_t alg)
{
	return alg == GNUTLS_CIPHER_CHACHA20_POLY1305 ? TX_LIMIT_CHACHA :
							  TX_LIMIT_AES;
}

static uint64_t seq_value(const union hsd__ktls_info *info, size_t len)
{
	const uint8_t *seq = (const uint8_t *)info + len - 8;
	uint64_t v = 0;
	int i;

	/* rec_seq ends every kTLS crypto_info struct. */
	for (i = 0; i < 8; i++)
		v = v << 8 | seq[i];
	return v;
}

/*
 * The recorded secret must give the key GnuTLS uses for this direction
 * now; a mismatch means the secrets went stale. Sets *seq to the next
 * record number under that key.
 */
static int secret_check(struct hsd_session *s, bool rx, uint64_t *seq)
{
	const uint8_t *secret = rx ? s->secrets->rx : s->secrets->tx;
	union hsd__ktls_info cur, derived;
	size_t cur_len, len;
	int rc;

	rc = hsd__ktls_fill(s, rx, &cur, &cur_len);
	if (rc < 0)
		goto wipe;

	rc = hsd__secret_ktls(gnutls_cipher_get(s->tls), hsd__session_mac(s),
			      secret, s->secrets->len, &derived, &len);
	if (rc < 0)
		goto wipe;

	/* Compare all but rec_seq: the derived key starts at 0. */
	*seq = seq_value(&cur, cur_len);
	if (len != cur_len || memcmp(&cur, &derived, len - 8) != 0) {
		hsd__session_error(s, "recorded %s secret does not match the key in use",
				   rx ? "receive" : "transmit");
		rc = -EIO;
	}

wipe:
	gnutls_memset(&cur, 0, sizeof(cur));
	gnutls_memset(&derived, 0, sizeof(derived));
	return rc;
}

static int conn_check_session(struct hsd_session *s)
{
	if (!s->done) {
		hsd__session_error(s, "handshake not finished");
		return -EINVAL;
	}
	if (gnutls_protocol_get_version(s->tls) != GNUTLS_TLS1_3) {
		hsd__session_error(s, "key updates need TLS 1.3");
		return -EINVAL;
	}
	if (!s->secrets) {
		hsd__session_error(s, "the session already made its connection");
		return -EBUSY;
	}
	if (!s->secrets->have_rx || !s->secrets->have_tx) {
		hsd__session_error(s, "no traffic secrets were recorded");
		return -EIO;
	}
	if (hsd__session_mac(s) == GNUTLS_MAC_UNKNOWN) {
		hsd__session_error(s, "unknown hash of the cipher suite");
		return -EOPNOTSUPP;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int hsd__conn_new(struct hsd_conn **out, struct hsd_session *s,
		  const struct hsd__conn_ops *ops)
{
	uint64_t rx_seq, tx_seq;
	struct hsd_conn *c;
	int rc;

	rc = conn_check_session(s);
	if (rc < 0)
		return rc;

	rc = secret_check(s, true, &rx_seq);
	if (rc < 0)
		return rc;
	rc = secret_check(s, false, &tx_seq);
	if (rc < 0)
		return rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;

	c->fd = s->fd;
	c->role = s->role;
	c->cipher = gnutls_cipher_get(s->tls);
	c->mac = hsd__session_mac(s);
	c->ops = ops;
	c->tx_records = tx_seq;
	c->tx_limit = default_tx_limit(c->cipher);
	c->ku_burst = KU_BURST;
	c->ku_interval_ms = KU_INTERVAL_MS;
	c->ku_tokens = KU_BURST;
	c->ku_refill_ms = now_ms();
	c->alert = -1;

	/* The secrets move: only one connection may advance them. */
	c->sec = s->secrets;
	s->secrets = NULL;
	*out = c;
	return 0;
}

int hsd_conn_from_session(struct hsd_conn **out, struct hsd_session *s)
{
	if (!s->in_kernel) {
		hsd__session_error(s, "keys are not in the kernel yet");
		return -EINVAL;
	}
	return hsd__conn_new(out, s, &kernel_ops);
}

int hsd_session_ktls_install_conn(struct hsd_session *s,
				  struct hsd_conn **out)
{
	int rc;

	rc = hsd_session_ktls_install(s);
	if (rc < 0)
		return rc;
	return hsd_conn_from_session(out, s);
}

static void ticket_wipe(struct hsd__ticket *t)
{
	if (t->data)
		gnutls_memset(t->data, 0, t->len);
	free(t->data);
	t->data = NULL;
	t->len = 0;
}

void hsd_conn_free(struct hsd_conn *c)
{
	size_t i;

	if (!c)
		return;

	hsd__secrets_free(c->sec);
	for (i = 0; i < c->n_tickets; i++)
		ticket_wipe(&c->tickets[i]);
	free(c->hs);
	free(c->rbuf);
	free(c);
}

int hsd_conn_fd(const struct hsd_conn *c)
{
	return c->fd;
}

const char *hsd_conn_error(const struct hsd_conn *c)
{
	return c->error;
}

int hsd_conn_alert(const struct hsd_conn *c)
{
	return c->alert;
}

bool hsd_conn_peer_closed(const struct hsd_conn *c)
{
	return c->peer_closed;
}

int hsd_conn_set_key_update_limit(struct hsd_conn *c, unsigned int burst,
				  unsigned int interval_ms)
{
	if (burst == 0)
		return -EINVAL;

	c->ku_burst = burst;
	c->ku_interval_ms = interval_ms;
	c->ku_tokens = burst;
	c->ku_refill_ms = now_ms();
	return 0;
}

int hsd_conn_set_tx_rekey_limit(struct hsd_conn *c, uint64_t records)
{
	if (records == 0 || records > default_tx_limit(c->cipher))
		return -EINVAL;

	c->tx_limit = records;
	return 0;
}

bool hsd__conn_ku_allowed(struct hsd_conn *c)
{
	uint64_t now, add;

	if (c->ku_interval_ms) {
		now = now_ms();
		add = (now - c->ku_refill_ms) / c->ku_interval_ms;
		if (add >= c->ku_burst - c->ku_tokens) {
			c->ku_tokens = c->ku_burst;
			c->ku_refill_ms = now;
		} else if (add) {
			c->ku_tokens += (unsigned int)add;
			c->ku_refill_ms += add * c->ku_interval_ms;
		}
	}

	if (c->ku_tokens == 0)
		return false;
	c->ku_tokens--;
	return true;
}

int hsd__conn_next_key(struct hsd_conn *c, bool rx)
{
	uint8_t *secret = rx ? c->sec->rx : c->sec->tx;
	union hsd__ktls_info info;
	size_t len;
	int rc;

	rc = hsd__secret_next(c->mac, secret, c->sec->len);
	if (rc < 0)
		goto wipe;

	rc = hsd__secret_ktls(c->cipher, c->mac, secret, c->sec->len, &info,
			      &len);
	if (rc < 0)
		goto wipe;

	rc = c->ops->set_key(c, rx, &info, len);
	if (rc < 0)
		hsd__conn_error(c, "kernel refused the next %s key: %s",
				rx ? "receive" : "transmit", strerror(-rc));

wipe:
	gnutls_memset(&info, 0, sizeof(info));
	return rc;
}

int hsd__conn_abort(struct hsd_conn *c, uint8_t desc)
{
	uint8_t alert[2] = { AL_FATAL, desc };

	/* Best effort: the peer may be gone or the socket full. */
	c->ops->send_record(c, HSD_RECORD_ALERT, alert, sizeof(alert));
	c->failed = -EPROTO;
	return -EPROTO;
}

static bool again(ssize_t n)
{
	return n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR;
}

int hsd_conn_flush(struct hsd_conn *c)
{
	uint8_t msg[5] = { HS_KEY_UPDATE, 0, 0, 1, c->ku_request };
	ssize_t n;
	int rc;

	if (c->failed)
		return c->failed;
	if (!c->ku_pending)
		return 0;

	/* RFC 8446 section 4.6.3: KeyUpdate under the old key, then switch. */
	n = c->ops->send_record(c, HSD_RECORD_HANDSHAKE, msg, sizeof(msg));
	if (again(n))
		return HSD_CONN_AGAIN_WRITE;
	if (n != (ssize_t)sizeof(msg)) {
		hsd__conn_error(c, "cannot send KeyUpdate: %s",
				n < 0 ? strerror((int)-n) : "short write");
		return c->failed = n < 0 ? (int)n : -EIO;
	}

	c->ku_pending = false;
	c->ku_request = false;
	rc = hsd__conn_next_key(c, false);
	if (rc < 0)
		return c->failed = -EIO;

	c->tx_records = 0;
	c->tx_updates++;
	return 0;
}

int hsd_conn_key_update(struct hsd_conn *c, bool request_peer)
{
	if (c->failed)
		return c->failed;

	c->ku_pending = true;
	c->ku_request |= request_peer;
	return hsd_conn_flush(c);
}

int hsd_conn_handshake(struct hsd_conn *c)
{
	if (c->failed)
		return c->failed;
	if (c->role == HSD_SERVER)
		return 0;
	return hsd_conn_key_update(c, true);
}

int hsd_conn_sent(struct hsd_conn *c, size_t bytes)
{
	uint64_t records = bytes ? (bytes + HSD_RECORD_MAX - 1) / HSD_RECORD_MAX :
				   1;

	if (c->failed)
		return c->failed;

	c->tx_records += records;
	if (c->tx_records < c->tx_limit || c->ku_pending)
		return 0;
	return hsd_conn_key_update(c, false);
}

ssize_t hsd_conn_send(struct hsd_conn *c, const void *buf, size_t len,
		      int flags)
{
	ssize_t n;
	int rc;

	rc = hsd_conn_flush(c);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return -EAGAIN;

	n = send(c->fd, buf, len, flags | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;

	rc = hsd_conn_sent(c, (size_t)n);
	return rc < 0 ? rc : n;
}

int hsd_conn_close(struct hsd_conn *c)
{
	static const uint8_t close_notify[2] = { AL_WARNING, 0 };
	ssize_t n;

	n = c->ops->send_record(c, HSD_RECORD_ALERT, close_notify,
				sizeof(close_notify));
	if (n < 0) {
		hsd__conn_error(c, "cannot send close_notify: %s",
				strerror((int)-n));
		return (int)n;
	}
	return 0;
}

void hsd_conn_stats(const struct hsd_conn *c, struct hsd_conn_stats *st)
{
	st->tx_records = c->tx_records;
	st->tx_key_updates = c->tx_updates;
	st->rx_key_updates = c->rx_updates;
	st->tickets = c->tickets_total;
}

size_t hsd_conn_ticket_count(const struct hsd_conn *c)
{
	return c->n_tickets;
}

int hsd_conn_ticket(const struct hsd_conn *c, size_t index,
		    const void **data, size_t *len)
{
	if (index >= c->n_tickets)
		return -ENOENT;

	*data = c->tickets[index].data;
	*len = c->tickets[index].len;
	return 0;
}
