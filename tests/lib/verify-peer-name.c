// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The client checks the server certificate against the peer name: a
 * wrong DNS name or a wrong IP address fails with -EACCES, "localhost"
 * and the IP address 127.0.0.1 (an IPAddress name in the certificate)
 * verify. SNI is sent for the DNS name only.
 */
#include <string.h>
#include <unistd.h>

#include "tu.h"

/* The server name the server session received, "" if none. */
static void server_sni(struct hsd_session *s, char *out, size_t len)
{
	unsigned int type;

	*out = 0;
	if (gnutls_server_name_get(hsd_session_gnutls(s), out, &len, &type,
				   0) < 0)
		*out = 0;
}

static int run(const char *name, char *err, size_t len, char *sni)
{
	struct hsd_creds *cc = tu_creds("ca.pem", NULL, NULL, NULL);
	struct hsd_creds *sc = tu_creds(NULL, "server.pem", "server-key.pem",
					NULL);
	struct hsd_session *c, *s;
	int fds[2], rc_c, rc_s;

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_peer_name(c, name) == 0, "name");

	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	snprintf(err, len, "%s", hsd_session_error(c));
	server_sni(s, sni, 256);
	tu_assert(rc_c != 0 || rc_s == 0, "server failed: %d '%s'", rc_s,
		  hsd_session_error(s));

	tu_pair_free(c, s, cc, sc, fds);
	return rc_c;
}

static void expect(const char *name, int want, const char *want_sni)
{
	char err[HSD_ERROR_MAX], sni[256];
	int rc;

	rc = run(name, err, sizeof(err), sni);
	tu_assert(rc == want, "peer name '%s': %d '%s', expected %d", name,
		  rc, err, want);
	tu_assert(want != 0 || !strcmp(sni, want_sni),
		  "peer name '%s': server saw SNI '%s', expected '%s'",
		  name, sni, want_sni);
	printf("ok '%s' -> %d %s\n", name, rc, err);
}

int main(void)
{
	tu_certs_setup();

	expect("localhost", 0, "localhost");
	expect("127.0.0.1", 0, "");
	expect("wrong.example", -EACCES, NULL);
	expect("127.0.0.2", -EACCES, NULL);
	expect("::1", -EACCES, NULL);
	return 0;
}
