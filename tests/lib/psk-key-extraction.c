// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kTLS keys of a PSK session are right: after a PSK handshake of
 * a library client with a plain GnuTLS server, records the server
 * sends are decrypted here from the raw socket with the crypto_info
 * hsd__ktls_fill() builds for reading, and a record encrypted with
 * the one for writing is accepted by the server.
 */
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tu.h"

#define ID "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:host nqn.2024-01.test:subsys"
#define DOWN "a record from the PSK server"
#define UP "a record from the PSK client"

static uint8_t key[32];

struct server {
	int fd;
	gnutls_session_t tls;
	gnutls_psk_server_credentials_t cred;
	int rc;			/* GnuTLS code of the first failure */
};

static int server_key(gnutls_session_t tls, const gnutls_datum_t *id,
		      gnutls_datum_t *out)
{
	if (id->size != strlen(ID) || memcmp(id->data, ID, id->size))
		return -1;
	out->data = gnutls_malloc(sizeof(key));
	if (!out->data)
		return -1;
	memcpy(out->data, key, sizeof(key));
	out->size = sizeof(key);
	return 0;
}

static void *server_main(void *arg)
{
	struct server *sv = arg;
	char buf[256];
	ssize_t n;
	int rc;

	do
		rc = gnutls_handshake(sv->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		goto out;

	rc = (int)gnutls_record_send(sv->tls, DOWN, strlen(DOWN));
	if (rc < 0)
		goto out;

	n = gnutls_record_recv(sv->tls, buf, sizeof(buf));
	rc = n == (ssize_t)strlen(UP) && !memcmp(buf, UP, (size_t)n) ? 0 :
	     n < 0 ? (int)n : GNUTLS_E_DECRYPTION_FAILED;
out:
	sv->rc = rc;
	return NULL;
}

static void server_start(struct server *sv, pthread_t *thread,
			 unsigned int cipher)
{
	char prio[128];

	snprintf(prio, sizeof(prio), "%s:+ECDHE-PSK:+DHE-PSK",
		 tu_peer_priority(cipher));
	tu_assert(gnutls_psk_allocate_server_credentials(&sv->cred) == 0,
		  "server credentials");
	gnutls_psk_set_server_credentials_function2(sv->cred, server_key);
	tu_assert(gnutls_init(&sv->tls, GNUTLS_SERVER | GNUTLS_NO_TICKETS) ==
		  0, "server init");
	tu_assert(gnutls_priority_set_direct(sv->tls, prio, NULL) == 0,
		  "server priority '%s'", prio);
	gnutls_credentials_set(sv->tls, GNUTLS_CRD_PSK, sv->cred);
	gnutls_transport_set_int(sv->tls, sv->fd);
	gnutls_handshake_set_timeout(sv->tls, TU_TIMEOUT_MS);
	tu_assert(pthread_create(thread, NULL, server_main, sv) == 0,
		  "pthread_create");
}

static void check_down(int fd, const union hsd__ktls_info *rx)
{
	uint8_t rec[1100], out[1100];
	size_t body, out_len = sizeof(out);
	int type;

	tu_read_full(fd, rec, 5);
	tu_assert(rec[0] == 23, "outer record type %u", rec[0]);
	body = (size_t)rec[3] << 8 | rec[4];
	tu_assert(body <= 1024, "record of %zu bytes", body);
	tu_read_full(fd, rec + 5, body);

	type = tu_record_decrypt(rx, tu_info_seq(rx), rec, 5 + body, out,
				 &out_len);
	tu_assert(type == 23, "inner type %d", type);
	tu_assert(out_len == strlen(DOWN) && !memcmp(out, DOWN, out_len),
		  "plaintext differs");
}

static void one(unsigned int cipher)
{
	struct server sv = { 0 };
	union hsd__ktls_info rx, tx;
	struct hsd_session *c;
	struct hsd_creds *cc;
	size_t rx_len, tx_len, len;
	uint8_t rec[1100];
	pthread_t thread;
	int fds[2], rc;

	tu_tcp_pair(fds);
	sv.fd = fds[1];
	server_start(&sv, &thread, cipher);

	tu_assert(hsd_creds_new(&cc) == 0, "creds");
	tu_assert(hsd_creds_psk_add(cc, ID, key, sizeof(key),
				    HSD_PSK_SHA256) == 0, "psk add");
	c = tu_session(fds[0], HSD_CLIENT, cc);
	rc = tu_run(c, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(c));
	tu_assert(hsd_session_psk_identity(c) &&
		  !strcmp(hsd_session_psk_identity(c), ID), "identity");

	tu_assert(hsd__ktls_fill(c, true, &rx, &rx_len) == 0 &&
		  hsd__ktls_fill(c, false, &tx, &tx_len) == 0,
		  "fill: %s", hsd_session_error(c));
	check_down(fds[0], &rx);

	len = tu_record_encrypt(&tx, tu_info_seq(&tx), UP, strlen(UP), rec);
	tu_assert(send(fds[0], rec, len, MSG_NOSIGNAL) == (ssize_t)len,
		  "send");

	pthread_join(thread, NULL);
	tu_assert(sv.rc == 0, "server: %s", gnutls_strerror(sv.rc));
	printf("ok PSK %s: kTLS type %u\n", tu_cipher_name(cipher),
	       rx.info.cipher_type);

	gnutls_memset(&rx, 0, sizeof(rx));
	gnutls_memset(&tx, 0, sizeof(tx));
	hsd_session_free(c);
	hsd_creds_unref(cc);
	gnutls_deinit(sv.tls);
	gnutls_psk_free_server_credentials(sv.cred);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	tu_assert(gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) == 0, "rnd");
	one(HSD_AES_128_GCM);
	one(HSD_AES_128_CCM);
	one(HSD_CHACHA20_POLY1305);
	return 0;
}
