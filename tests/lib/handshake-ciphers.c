// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A library client and a library server complete a verified TLS 1.3
 * handshake over loopback TCP for each single-cipher mask, and report
 * the version, cipher, group and the server's certificate.
 */
#include <string.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "tu.h"

static gnutls_datum_t server_der;

static void load_server_der(void)
{
	gnutls_datum_t pem;
	gnutls_x509_crt_t crt;

	tu_assert(gnutls_load_file(tu_file("server.pem"), &pem) == 0,
		  "load server.pem");
	tu_assert(gnutls_x509_crt_init(&crt) == 0 &&
		  gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) == 0 &&
		  gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
					  &server_der) == 0,
		  "convert server.pem to DER");
	gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
}

static void check_info(struct hsd_session *s, const char *side,
		       const char *cipher, bool verified)
{
	struct hsd_info info;

	tu_assert(hsd_session_info(s, &info) == 0, "%s: no info", side);
	tu_assert(!strcmp(info.version, "TLS1.3"), "%s: version '%s'",
		  side, info.version);
	tu_assert(!cipher || !strcmp(info.cipher, cipher),
		  "%s: cipher '%s', expected '%s'", side, info.cipher, cipher);
	tu_assert(*info.group, "%s: no key exchange group", side);
	tu_assert(info.peer_verified == verified, "%s: peer_verified %d",
		  side, info.peer_verified);
}

static void check_peer_cert(struct hsd_session *client)
{
	const void *der;
	size_t len;

	tu_assert(hsd_session_peer_cert(client, &der, &len) == 0,
		  "client sees no server certificate");
	tu_assert(len == server_der.size && !memcmp(der, server_der.data, len),
		  "client's peer certificate is not server.pem");
}

static void one(unsigned int mask, const char *cipher)
{
	struct hsd_creds *ccreds = tu_creds("ca.pem", NULL, NULL, NULL);
	struct hsd_creds *screds = tu_creds("ca.pem", "server.pem",
					    "server-key.pem", NULL);
	struct hsd_session *c, *s;
	const void *der;
	size_t len;
	int fds[2], rc_c, rc_s;

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, ccreds);
	s = tu_session(fds[1], HSD_SERVER, screds);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "peer name");
	tu_assert(hsd_session_set_ciphers(c, mask) == 0 &&
		  hsd_session_set_ciphers(s, mask) == 0, "cipher mask");

	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "mask %#x: client %d '%s', server %d '%s'",
		  mask, rc_c, hsd_session_error(c), rc_s, hsd_session_error(s));

	check_info(c, "client", cipher, true);
	check_info(s, "server", cipher, false);
	check_peer_cert(c);
	tu_assert(hsd_session_peer_cert(s, &der, &len) == -ENOENT,
		  "server sees a client certificate that was never sent");
	tu_assert(hsd_handshake(c) == 0, "a finished handshake is not 0");

	hsd_session_free(c);
	hsd_session_free(s);
	hsd_creds_unref(ccreds);
	hsd_creds_unref(screds);
	close(fds[0]);
	close(fds[1]);
	printf("ok mask %#x: %s\n", mask, cipher ? cipher : "(any)");
}

int main(void)
{
	static const unsigned int masks[] = {
		HSD_AES_128_GCM, HSD_AES_256_GCM, HSD_AES_128_CCM,
		HSD_CHACHA20_POLY1305,
	};
	size_t i;

	tu_certs_setup();
	load_server_der();

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		one(masks[i], tu_cipher_name(masks[i]));
	one(HSD_CIPHERS_ALL, NULL);

	gnutls_free(server_der.data);
	return 0;
}
