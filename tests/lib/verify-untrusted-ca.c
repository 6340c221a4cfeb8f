// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A client that trusts only an unrelated CA rejects the server with
 * -EACCES and says why; the server fails too. With verification off
 * (anonymous trust) the same client completes, reporting no
 * verified peer.
 */
#include <string.h>
#include <unistd.h>

#include "tu.h"

static void run(bool verify, int *rc_c, int *rc_s, char *err, size_t len,
		bool *verified)
{
	struct hsd_creds *cc = tu_creds("other-ca.pem", NULL, NULL, NULL);
	struct hsd_creds *sc = tu_creds(NULL, "server.pem", "server-key.pem",
					NULL);
	struct hsd_session *c, *s;
	struct hsd_info info;
	int fds[2];

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	hsd_session_set_verify_peer(c, verify);

	tu_run_pair(c, fds[0], s, fds[1], rc_c, rc_s);
	snprintf(err, len, "%s", hsd_session_error(c));
	*verified = *rc_c == 0 && hsd_session_info(c, &info) == 0 &&
		    info.peer_verified;

	tu_pair_free(c, s, cc, sc, fds);
}

int main(void)
{
	char err[HSD_ERROR_MAX];
	int rc_c, rc_s;
	bool verified;

	tu_certs_setup();

	run(true, &rc_c, &rc_s, err, sizeof(err), &verified);
	tu_assert(rc_c == -EACCES, "client: %d '%s', expected -EACCES",
		  rc_c, err);
	tu_assert(strstr(err, "verification failed") &&
		  strstr(err, "NOT trusted"),
		  "error text does not explain the failure: '%s'", err);
	tu_assert(rc_s < 0, "server did not fail: %d", rc_s);
	printf("ok untrusted CA: client '%s', server %d\n", err, rc_s);

	run(false, &rc_c, &rc_s, err, sizeof(err), &verified);
	tu_assert(rc_c == 0 && rc_s == 0,
		  "anonymous trust: client %d '%s', server %d", rc_c, err, rc_s);
	tu_assert(!verified, "anonymous trust reports a verified peer");
	printf("ok anonymous trust completes unverified\n");
	return 0;
}
