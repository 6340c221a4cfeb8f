// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Tickets are off unless both ends ask: a server with a ticket key
 * sends none to a client that did not ask for tickets (its first
 * record after the handshake is the server's data), and a server
 * without a key sends none to a client that did (reading a ticket
 * meets the server's data instead: -EPROTO). A client that did not
 * ask cannot read tickets at all (-EINVAL).
 */
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "tu.h"

#define MSG "after the handshake"

static void server_send(struct hsd_session *s)
{
	gnutls_session_t tls = hsd_session_gnutls(s);

	tu_assert(gnutls_record_send(tls, MSG, strlen(MSG)) ==
		  (ssize_t)strlen(MSG), "server send");
}

/* The first record the client gets, read through GnuTLS. */
static void client_first_record(struct hsd_session *c, int fd)
{
	gnutls_session_t tls = hsd_session_gnutls(c);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[64];
	ssize_t n;

	do {
		tu_assert(poll(&pfd, 1, TU_TIMEOUT_MS) == 1, "no data");
		n = gnutls_record_recv(tls, buf, sizeof(buf));
	} while (n == GNUTLS_E_AGAIN);
	tu_assert(n == (ssize_t)strlen(MSG) && !memcmp(buf, MSG, (size_t)n),
		  "client read %zd", n);
	tu_assert(!(gnutls_session_get_flags(tls) &
		    GNUTLS_SFLAGS_SESSION_TICKET), "a ticket arrived");
}

static void pair(int fds[2], struct hsd_creds **cc, struct hsd_creds **sc,
		 struct hsd_session **c, struct hsd_session **s)
{
	tu_tcp_pair(fds);
	*cc = tu_creds("ca.pem", NULL, NULL, NULL);
	*sc = tu_creds(NULL, "server.pem", "server-key.pem", NULL);
	*c = tu_session(fds[0], HSD_CLIENT, *cc);
	*s = tu_session(fds[1], HSD_SERVER, *sc);
	tu_assert(hsd_session_set_peer_name(*c, "localhost") == 0, "name");
}

static void done(int fds[2], struct hsd_creds *cc, struct hsd_creds *sc,
		 struct hsd_session *c, struct hsd_session *s)
{
	tu_pair_free(c, s, cc, sc, fds);
}

static void client_did_not_ask(void)
{
	uint8_t key[HSD_TICKET_KEY_SIZE];
	struct hsd_session *c, *s;
	struct hsd_creds *cc, *sc;
	int fds[2], rc_c, rc_s;
	void *data;
	size_t len;

	pair(fds, &cc, &sc, &c, &s);
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");
	tu_assert(hsd_session_set_ticket_key(s, key, sizeof(key), 0) == 0,
		  "ticket key");
	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "client %d, server %d", rc_c, rc_s);

	server_send(s);
	client_first_record(c, fds[0]);
	tu_assert(hsd_session_read_ticket(c) == -EINVAL,
		  "read_ticket without tickets asked for");
	tu_assert(hsd_session_ticket(c, &data, &len, NULL) == -ENOENT,
		  "ticket reported");
	printf("ok server with a key sent no ticket to a client that did not ask\n");
	done(fds, cc, sc, c, s);
}

static void server_has_no_key(void)
{
	struct hsd_session *c, *s;
	struct hsd_creds *cc, *sc;
	int fds[2], rc_c, rc_s, rc;

	pair(fds, &cc, &sc, &c, &s);
	tu_assert(hsd_session_set_tickets(c, true) == 0, "tickets");
	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "client %d, server %d", rc_c, rc_s);

	server_send(s);
	rc = tu_read_ticket(c, fds[0]);
	tu_assert(rc == -EPROTO, "read_ticket: %d, expected -EPROTO", rc);
	printf("ok server without a key sent no ticket\n");
	done(fds, cc, sc, c, s);
}

int main(void)
{
	tu_certs_setup();
	client_did_not_ask();
	server_has_no_key();
	return 0;
}
