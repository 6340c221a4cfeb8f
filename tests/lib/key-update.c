// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Key updates agree with GnuTLS's own. A plain GnuTLS server updates
 * its key with gnutls_session_key_update(), with and without asking
 * us to update too; the records it sends are read raw from the socket
 * here, the KeyUpdate goes to the connection, and the receive key the
 * connection would install decrypts what the server sent after it.
 * When asked, the KeyUpdate and the transmit key the connection would
 * install are used to write records that the server must accept. A
 * third run has our client ask through hsd_handshake() before kTLS,
 * which checks that the recorded secrets follow GnuTLS's updates.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

#define BEFORE "server record under the first key"
#define AFTER "server record under the next key"
#define REPLY "client record after the update"
#define HELLO "client record before the server updates"

enum mode {
	PEER_UPDATES,		/* update_not_requested */
	PEER_ASKS,		/* update_requested */
	WE_ASK,			/* hsd_handshake() again on our client */
};

/* What the connection asked of the kernel, seen instead by the test. */
struct capture {
	union hsd__ktls_info rx, tx;
	size_t rx_len, tx_len;
	int n_rx, n_tx;
	uint8_t sent_type;
	uint8_t sent[16];
	size_t sent_len;
	int n_sent;
};

static struct capture cap;

static int cap_set_key(struct hsd_conn *c, bool rx,
		       const union hsd__ktls_info *info, size_t len)
{
	if (rx) {
		cap.rx = *info;
		cap.rx_len = len;
		cap.n_rx++;
	} else {
		cap.tx = *info;
		cap.tx_len = len;
		cap.n_tx++;
	}
	return 0;
}

static ssize_t cap_send_record(struct hsd_conn *c, uint8_t type,
			       const void *data, size_t len)
{
	tu_assert(len <= sizeof(cap.sent), "record of %zu bytes", len);
	cap.sent_type = type;
	memcpy(cap.sent, data, len);
	cap.sent_len = len;
	cap.n_sent++;
	return (ssize_t)len;
}

static const struct hsd__conn_ops cap_ops = {
	.set_key = cap_set_key,
	.send_record = cap_send_record,
};

static int expect(gnutls_session_t tls, const char *what)
{
	char buf[256];
	ssize_t n;

	do
		n = gnutls_record_recv(tls, buf, sizeof(buf));
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);

	if (n != (ssize_t)strlen(what) || memcmp(buf, what, (size_t)n))
		return -1;
	return 0;
}

static int server_after(struct tu_peer *p)
{
	enum mode mode = *(enum mode *)p->data;
	unsigned int flags = mode == PEER_ASKS ? GNUTLS_KU_PEER : 0;

	/* Asked by the client: GnuTLS answers inside the receive. */
	if (mode == WE_ASK && expect(p->tls, HELLO) < 0)
		return -1;

	if (mode != WE_ASK &&
	    gnutls_record_send(p->tls, BEFORE, strlen(BEFORE)) < 0)
		return -2;
	if (mode != WE_ASK && gnutls_session_key_update(p->tls, flags) < 0)
		return -3;

	if (gnutls_record_send(p->tls, AFTER, strlen(AFTER)) < 0)
		return -4;
	return expect(p->tls, REPLY) < 0 ? -5 : 0;
}

/* Read one raw record; decrypt it with info at seq; returns the type. */
static int next_record(int fd, const union hsd__ktls_info *info,
		       uint64_t seq, uint8_t *out, size_t *out_len)
{
	uint8_t rec[1100];
	size_t body;

	tu_read_full(fd, rec, 5);
	body = (size_t)rec[3] << 8 | rec[4];
	tu_assert(rec[0] == 23 && body <= 1024, "record header %u/%zu",
		  rec[0], body);
	tu_read_full(fd, rec + 5, body);

	*out_len = 1024;
	return tu_record_decrypt(info, seq, rec, 5 + body, out, out_len);
}

static void expect_text(int type, const uint8_t *out, size_t len,
			const char *what)
{
	tu_assert(type == 23 && len == strlen(what) && !memcmp(out, what, len),
		  "expected '%s', got type %d and %zu bytes", what, type, len);
}

static void write_record(int fd, const union hsd__ktls_info *info,
			 uint64_t seq, uint8_t type, const void *data,
			 size_t len)
{
	uint8_t rec[1100];
	size_t n;

	n = tu_record_encrypt_type(info, seq, type, data, len, rec);
	tu_assert(send(fd, rec, n, MSG_NOSIGNAL) == (ssize_t)n, "send");
}

/* Our side of the update: the KeyUpdate asked for, then data. */
static void reply(int fd, enum mode mode, const union hsd__ktls_info *tx0)
{
	uint64_t seq = tu_info_seq(tx0);

	if (mode == PEER_ASKS) {
		tu_assert(cap.n_sent == 1 && cap.sent_type == 22 &&
			  cap.sent_len == 5 && cap.sent[0] == 24 &&
			  cap.sent[4] == 0,
			  "no KeyUpdate(update_not_requested) was sent");
		tu_assert(cap.n_tx == 1 && tu_info_seq(&cap.tx) == 0,
			  "no next transmit key at rec_seq 0");
		write_record(fd, tx0, seq, 22, cap.sent, cap.sent_len);
		write_record(fd, &cap.tx, 0, 23, REPLY, strlen(REPLY));
		return;
	}

	tu_assert(cap.n_sent == 0 && cap.n_tx == 0,
		  "update_not_requested answered with %d records", cap.n_sent);
	write_record(fd, tx0, seq, 23, REPLY, strlen(REPLY));
}

/* Read BEFORE (unless asked by us) and the KeyUpdate under rx0. */
static void read_update(int fd, enum mode mode,
			const union hsd__ktls_info *rx0, uint8_t *ku,
			size_t *ku_len)
{
	uint64_t seq = tu_info_seq(rx0);
	int type;

	if (mode != WE_ASK) {
		type = next_record(fd, rx0, seq++, ku, ku_len);
		expect_text(type, ku, *ku_len, BEFORE);
	}

	type = next_record(fd, rx0, seq, ku, ku_len);
	tu_assert(type == 22 && *ku_len == 5 && ku[0] == 24,
		  "expected a KeyUpdate record, got type %d of %zu bytes",
		  type, *ku_len);
	tu_assert(ku[4] == (mode == PEER_ASKS),
		  "request_update %u in mode %d", ku[4], mode);
}

static void we_ask(struct hsd_session *c)
{
	gnutls_session_t tls = hsd_session_gnutls(c);
	int rc;

	rc = hsd_handshake(c);
	tu_assert(rc == 0, "hsd_handshake again on a client: %d '%s'", rc,
		  hsd_session_error(c));
	tu_assert(gnutls_record_send(tls, HELLO, strlen(HELLO)) ==
		  (ssize_t)strlen(HELLO), "send after our update");
}

static void one(unsigned int cipher, enum mode mode)
{
	struct hsd_creds *cc = tu_creds("ca.pem", NULL, NULL, NULL);
	union hsd__ktls_info rx0, tx0;
	struct tu_peer peer = { 0 };
	struct hsd_conn_stats st;
	uint8_t ku[1100], out[1100];
	struct hsd_session *c;
	struct hsd_conn *conn;
	size_t len, ku_len, out_len;
	int fds[2], rc, type;

	memset(&cap, 0, sizeof(cap));
	tu_tcp_pair(fds);
	peer.fd = fds[1];
	peer.server = true;
	peer.priority = tu_peer_priority(cipher);
	peer.flags = GNUTLS_NO_TICKETS;
	peer.after = server_after;
	peer.data = &mode;
	tu_peer_start(&peer);

	c = tu_session(fds[0], HSD_CLIENT, cc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	rc = tu_run(c, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(c));
	if (mode == WE_ASK)
		we_ask(c);

	tu_assert(hsd__ktls_fill(c, true, &rx0, &len) == 0 &&
		  hsd__ktls_fill(c, false, &tx0, &len) == 0, "fill");
	rc = hsd__conn_new(&conn, c, &cap_ops);
	tu_assert(rc == 0, "connection: %d '%s'", rc, hsd_session_error(c));
	tu_assert(hsd__conn_new(&conn, c, &cap_ops) == -EBUSY,
		  "a second connection from one session");

	read_update(fds[0], mode, &rx0, ku, &ku_len);
	rc = hsd_conn_input(conn, 22, ku, ku_len);
	tu_assert(rc == 0, "input: %d '%s'", rc, hsd_conn_error(conn));
	tu_assert(cap.n_rx == 1 && tu_info_seq(&cap.rx) == 0 &&
		  cap.rx_len == len, "no next receive key at rec_seq 0");

	/* A new key, and it opens the server's next record. */
	type = next_record(fds[0], &cap.rx, 0, out, &out_len);
	expect_text(type, out, out_len, AFTER);
	tu_assert(memcmp(&cap.rx, &rx0, len - 8) != 0, "key did not change");

	reply(fds[0], mode, &tx0);
	tu_peer_join(&peer);
	tu_assert(peer.handshake_rc == 0 && peer.after_rc == 0,
		  "server: handshake %d, after the update %d",
		  peer.handshake_rc, peer.after_rc);

	hsd_conn_stats(conn, &st);
	tu_assert(st.rx_key_updates == 1 &&
		  st.tx_key_updates == (mode == PEER_ASKS), "stats %llu/%llu",
		  (unsigned long long)st.rx_key_updates,
		  (unsigned long long)st.tx_key_updates);
	printf("ok %s mode %d\n", tu_cipher_name(cipher), mode);

	gnutls_memset(&rx0, 0, sizeof(rx0));
	gnutls_memset(&tx0, 0, sizeof(tx0));
	hsd_conn_free(conn);
	hsd_session_free(c);
	hsd_creds_unref(cc);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	static const unsigned int ciphers[] = {
		HSD_AES_128_GCM, HSD_AES_256_GCM, HSD_AES_128_CCM,
		HSD_CHACHA20_POLY1305,
	};
	size_t i;

	tu_certs_setup();
	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		one(ciphers[i], PEER_UPDATES);
		one(ciphers[i], PEER_ASKS);
		one(ciphers[i], WE_ASK);
	}
	return 0;
}
