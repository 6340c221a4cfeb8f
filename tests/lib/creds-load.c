// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading credentials: a certificate and key in DER (as NFS keeps them
 * in a keyring), the key as SEC1 or as PKCS#8, serve a verified
 * handshake; missing files give -ENOENT, garbage -EINVAL, each with
 * an error text naming the file.
 */
#include <string.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "tu.h"

static void load_der(gnutls_datum_t *cert, gnutls_datum_t *key, bool pkcs8)
{
	gnutls_x509_privkey_t pk;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	int rc;

	tu_assert(gnutls_load_file(tu_file("server.pem"), &pem) == 0 &&
		  gnutls_x509_crt_init(&crt) == 0 &&
		  gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) == 0 &&
		  gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, cert) == 0,
		  "server certificate to DER");
	gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);

	tu_assert(gnutls_load_file(tu_file("server-key.pem"), &pem) == 0 &&
		  gnutls_x509_privkey_init(&pk) == 0 &&
		  gnutls_x509_privkey_import(pk, &pem, GNUTLS_X509_FMT_PEM) == 0,
		  "server key");
	if (pkcs8)
		rc = gnutls_x509_privkey_export2_pkcs8(pk, GNUTLS_X509_FMT_DER,
						       NULL, GNUTLS_PKCS_PLAIN,
						       key);
	else
		rc = gnutls_x509_privkey_export2(pk, GNUTLS_X509_FMT_DER, key);
	tu_assert(rc == 0, "key to DER: %s", gnutls_strerror(rc));
	gnutls_x509_privkey_deinit(pk);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
}

static void der_handshake(bool pkcs8)
{
	struct hsd_creds *cc = tu_creds("ca.pem", NULL, NULL, NULL);
	struct hsd_creds *sc = tu_creds(NULL, NULL, NULL, NULL);
	gnutls_datum_t cert, key;
	struct hsd_session *c, *s;
	int fds[2], rc, rc_c, rc_s;

	load_der(&cert, &key, pkcs8);
	tu_assert(!hsd_creds_has_x509(sc), "empty creds claim a certificate");
	rc = hsd_creds_x509_der(sc, cert.data, cert.size, key.data, key.size);
	tu_assert(rc == 0, "DER load: %d '%s'", rc, hsd_creds_error(sc));
	tu_assert(hsd_creds_has_x509(sc), "DER certificate not recorded");
	gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	gnutls_free(cert.data);

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "client %d '%s', server %d '%s'",
		  rc_c, hsd_session_error(c), rc_s, hsd_session_error(s));
	printf("ok DER certificate, %s key\n", pkcs8 ? "PKCS#8" : "SEC1");

	tu_pair_free(c, s, cc, sc, fds);
}

static void bad_inputs(void)
{
	static const char junk[] = "not a certificate";
	struct hsd_creds *c;
	int rc;

	tu_assert(hsd_creds_new(&c) == 0, "creds");
	tu_assert(*hsd_creds_error(c) == 0, "fresh creds have an error");

	rc = hsd_creds_trust_file(c, tu_file("missing.pem"));
	tu_assert(rc == -ENOENT && strstr(hsd_creds_error(c), "missing.pem"),
		  "missing CA file: %d '%s'", rc, hsd_creds_error(c));

	rc = hsd_creds_x509_files(c, tu_file("server.pem"),
				  tu_file("client-key.pem"));
	tu_assert(rc == -EINVAL, "mismatched key: %d '%s'", rc,
		  hsd_creds_error(c));

	rc = hsd_creds_x509_der(c, junk, sizeof(junk), junk, sizeof(junk));
	tu_assert(rc == -EINVAL, "junk DER: %d", rc);
	tu_assert(!hsd_creds_has_x509(c), "failed loads set a certificate");
	printf("ok bad inputs: %s\n", hsd_creds_error(c));
	hsd_creds_unref(c);
}

int main(void)
{
	tu_certs_setup();
	der_handshake(false);
	der_handshake(true);
	bad_inputs();
	return 0;
}
