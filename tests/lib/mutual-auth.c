// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Client certificates: a server that requires one accepts a client
 * with a certificate from its CA and rejects a client without one, a
 * revoked one (CRL) or one from a CA it does not trust; a server that
 * only requests one also accepts a client without.
 */
#include <string.h>
#include <unistd.h>

#include "tu.h"

struct setup {
	const char *what;
	enum hsd_client_auth mode;
	const char *client_cert;	/* base name, NULL for none */
	const char *server_ca;
	const char *server_crl;
	bool ok;
};

static struct hsd_creds *client_creds(const char *base)
{
	char cert[64], key[64];

	if (!base)
		return tu_creds("ca.pem", NULL, NULL, NULL);

	snprintf(cert, sizeof(cert), "%s.pem", base);
	snprintf(key, sizeof(key), "%s-key.pem", base);
	return tu_creds("ca.pem", cert, key, NULL);
}

static void run(const struct setup *t)
{
	struct hsd_creds *cc = client_creds(t->client_cert);
	struct hsd_creds *sc = tu_creds(t->server_ca, "server.pem",
					"server-key.pem", t->server_crl);
	struct hsd_session *c, *s;
	struct hsd_info info;
	int fds[2], rc_c, rc_s;

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	hsd_session_set_client_auth(s, t->mode);

	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	if (t->ok) {
		tu_assert(rc_c == 0 && rc_s == 0, "%s: client %d '%s', server %d '%s'",
			  t->what, rc_c, hsd_session_error(c), rc_s,
			  hsd_session_error(s));
		tu_assert(hsd_session_info(s, &info) == 0 &&
			  info.peer_verified == (t->client_cert != NULL),
			  "%s: server peer_verified wrong", t->what);
	} else {
		/*
		 * RFC 8446 section 4.4.2.4: the server judges the client's
		 * certificate after the client has sent its Finished, so
		 * the client may well have completed already.
		 */
		tu_assert(rc_s == -EACCES,
			  "%s: client %d, server %d '%s', expected -EACCES",
			  t->what, rc_c, rc_s, hsd_session_error(s));
	}
	printf("ok %s: client %d, server %d %s\n", t->what, rc_c, rc_s,
	       hsd_session_error(s));

	tu_pair_free(c, s, cc, sc, fds);
}

int main(void)
{
	static const struct setup tests[] = {
		{ "require, valid cert", HSD_CLIENT_AUTH_REQUIRE, "client",
		  "ca.pem", "crl.pem", true },
		{ "require, no cert", HSD_CLIENT_AUTH_REQUIRE, NULL,
		  "ca.pem", NULL, false },
		{ "require, revoked cert", HSD_CLIENT_AUTH_REQUIRE, "revoked",
		  "ca.pem", "crl.pem", false },
		{ "require, untrusted CA", HSD_CLIENT_AUTH_REQUIRE, "client",
		  "other-ca.pem", NULL, false },
		{ "request, no cert", HSD_CLIENT_AUTH_REQUEST, NULL,
		  "ca.pem", NULL, true },
		{ "request, valid cert", HSD_CLIENT_AUTH_REQUEST, "client",
		  "ca.pem", NULL, true },
		{ "request, revoked cert", HSD_CLIENT_AUTH_REQUEST, "revoked",
		  "ca.pem", "crl.pem", false },
	};
	size_t i;

	tu_certs_setup();
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		run(&tests[i]);
	return 0;
}
