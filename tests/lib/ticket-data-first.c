// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A server that sends application data before its ticket: reading the
 * ticket fails with -EPROTO at the data record, the data is not handed
 * on, and the keys can no longer move into the kernel (-EPROTO), since
 * the kernel would miss what was read.
 */
#include <string.h>
#include <unistd.h>

#include "tu.h"

static gnutls_datum_t stek;

static void server_before(struct tu_peer *p)
{
	tu_assert(gnutls_session_ticket_enable_server(p->tls, &stek) == 0,
		  "peer ticket key");
}

static int server_after(struct tu_peer *p)
{
	if (gnutls_record_send(p->tls, "data first", 10) != 10)
		return -1;
	return gnutls_session_ticket_send(p->tls, 1, 0) == 0 ? 0 : -2;
}

int main(void)
{
	struct tu_peer peer = { 0 };
	struct hsd_session *c;
	struct hsd_creds *cc;
	void *data;
	size_t len;
	int fds[2], rc;

	tu_certs_setup();
	tu_assert(gnutls_session_ticket_key_generate(&stek) == 0, "stek");
	tu_tcp_pair(fds);

	peer.fd = fds[1];
	peer.server = true;
	peer.priority = tu_peer_priority(HSD_AES_128_GCM);
	peer.flags = GNUTLS_NO_AUTO_SEND_TICKET;
	peer.before = server_before;
	peer.after = server_after;
	tu_peer_start(&peer);

	cc = tu_creds("ca.pem", NULL, NULL, NULL);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	tu_assert(hsd_session_set_tickets(c, true) == 0, "tickets");
	rc = tu_run(c, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(c));

	/* Data and ticket are both on their way once the peer is done. */
	tu_peer_join(&peer);
	tu_assert(peer.after_rc == 0, "peer could not send: %d",
		  peer.after_rc);

	rc = tu_read_ticket(c, fds[0]);
	tu_assert(rc == -EPROTO, "read_ticket: %d, expected -EPROTO", rc);
	printf("ok read_ticket: -EPROTO '%s'\n", hsd_session_error(c));

	tu_assert(hsd_session_ticket(c, &data, &len, NULL) == -ENOENT,
		  "a ticket was reported");
	tu_assert(hsd_session_read_ticket(c) == -EPROTO, "second read");
	rc = hsd_session_ktls_install(c);
	tu_assert(rc == -EPROTO, "ktls_install: %d, expected -EPROTO", rc);
	printf("ok kTLS refused: '%s'\n", hsd_session_error(c));

	hsd_session_free(c);
	hsd_creds_unref(cc);
	gnutls_free(stek.data);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
