// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The keys the library would hand to the kernel are right: for each
 * cipher, records a plain GnuTLS server sends after the handshake are
 * decrypted here from the raw socket with the crypto_info built by
 * hsd__ktls_fill() for reading, and records encrypted here with the
 * crypto_info for writing are accepted by the GnuTLS server.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

#define N_DOWN 3
#define N_UP 2

static const char *down_msg[N_DOWN] = {
	"first record from the server",
	"second",
	"third record, a little longer than the others to vary sizes",
};

static const char *up_msg[N_UP] = {
	"client record one",
	"client record two",
};

static int server_after(struct tu_peer *p)
{
	char buf[256];
	ssize_t n;
	int i;

	for (i = 0; i < N_DOWN; i++)
		if (gnutls_record_send(p->tls, down_msg[i],
				       strlen(down_msg[i])) < 0)
			return -1;

	for (i = 0; i < N_UP; i++) {
		n = gnutls_record_recv(p->tls, buf, sizeof(buf));
		if (n != (ssize_t)strlen(up_msg[i]) ||
		    memcmp(buf, up_msg[i], (size_t)n))
			return -1;
	}
	return 0;
}

static void read_record(int fd, uint8_t *rec, size_t *len)
{
	size_t body;

	tu_read_full(fd, rec, 5);
	tu_assert(rec[0] == 23, "outer record type %u, expected 23", rec[0]);
	body = (size_t)rec[3] << 8 | rec[4];
	tu_assert(body <= 1024, "record of %zu bytes", body);
	tu_read_full(fd, rec + 5, body);
	*len = 5 + body;
}

static void check_down(int fd, const union hsd__ktls_info *rx)
{
	uint8_t rec[1100], out[1100];
	uint64_t seq = tu_info_seq(rx);
	size_t len, out_len;
	int i, type;

	for (i = 0; i < N_DOWN; i++, seq++) {
		read_record(fd, rec, &len);

		/* The check can fail: the wrong sequence number must. */
		out_len = sizeof(out);
		tu_assert(tu_record_decrypt(rx, seq + 1, rec, len, out,
					    &out_len) < 0,
			  "record %d decrypts with a wrong nonce", i);

		out_len = sizeof(out);
		type = tu_record_decrypt(rx, seq, rec, len, out, &out_len);
		tu_assert(type == 23, "record %d: inner type %d", i, type);
		tu_assert(out_len == strlen(down_msg[i]) &&
			  !memcmp(out, down_msg[i], out_len),
			  "record %d: plaintext differs", i);
	}
}

static void send_up(int fd, const union hsd__ktls_info *tx)
{
	uint64_t seq = tu_info_seq(tx);
	uint8_t rec[1100];
	size_t len;
	int i;

	for (i = 0; i < N_UP; i++, seq++) {
		len = tu_record_encrypt(tx, seq, up_msg[i], strlen(up_msg[i]),
					rec);
		tu_assert(send(fd, rec, len, MSG_NOSIGNAL) == (ssize_t)len,
			  "send record %d", i);
	}
}

static void one(unsigned int cipher)
{
	struct hsd_creds *cc = tu_creds("ca.pem", NULL, NULL, NULL);
	union hsd__ktls_info rx, tx;
	struct tu_peer peer = { 0 };
	struct hsd_session *c;
	size_t rx_len, tx_len;
	int fds[2], rc;

	tu_tcp_pair(fds);
	peer.fd = fds[1];
	peer.server = true;
	peer.priority = tu_peer_priority(cipher);
	peer.flags = GNUTLS_NO_TICKETS;
	peer.after = server_after;
	tu_peer_start(&peer);

	c = tu_session(fds[0], HSD_CLIENT, cc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	rc = tu_run(c, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(c));

	tu_assert(hsd__ktls_fill(c, true, &rx, &rx_len) == 0 &&
		  hsd__ktls_fill(c, false, &tx, &tx_len) == 0,
		  "fill: %s", hsd_session_error(c));
	tu_assert(rx.info.cipher_type == tx.info.cipher_type &&
		  rx_len == tx_len, "directions disagree on the cipher");

	check_down(fds[0], &rx);
	send_up(fds[0], &tx);

	tu_peer_join(&peer);
	tu_assert(peer.handshake_rc == 0 && peer.after_rc == 0,
		  "server rejected our records: handshake %d, records %d",
		  peer.handshake_rc, peer.after_rc);
	printf("ok %s: kTLS type %u, %zu-byte crypto_info\n",
	       tu_cipher_name(cipher), rx.info.cipher_type, rx_len);

	gnutls_memset(&rx, 0, sizeof(rx));
	gnutls_memset(&tx, 0, sizeof(tx));
	hsd_session_free(c);
	hsd_creds_unref(cc);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	tu_certs_setup();
	one(HSD_AES_128_GCM);
	one(HSD_AES_256_GCM);
	one(HSD_AES_128_CCM);
	one(HSD_CHACHA20_POLY1305);
	return 0;
}
