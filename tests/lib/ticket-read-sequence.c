// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * After the client read the server's ticket record, the keys meant for
 * the kernel carry the record sequence numbers past it: the receiving
 * side starts at 1, and the server's next data record, left in the
 * socket, decrypts with them as the kernel would decrypt it.
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

#define MSG "first data after the ticket"
#define RECORD_LEN (5 + sizeof(MSG) - 1 + 1 + 16)

static void check_record(struct hsd_session *c, int fd)
{
	uint8_t rec[RECORD_LEN], out[RECORD_LEN];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	union hsd__ktls_info rx, tx;
	size_t len, out_len = sizeof(out);
	int type;

	tu_assert(poll(&pfd, 1, TU_TIMEOUT_MS) == 1, "no data record");
	tu_assert(recv(fd, rec, sizeof(rec), MSG_PEEK | MSG_WAITALL) ==
		  sizeof(rec), "cannot peek the record");

	tu_assert(hsd__ktls_fill(c, true, &rx, &len) == 0, "fill rx");
	tu_assert(hsd__ktls_fill(c, false, &tx, &len) == 0, "fill tx");
	tu_assert(tu_info_seq(&rx) == 1, "receive sequence %llu, expected 1",
		  (unsigned long long)tu_info_seq(&rx));
	tu_assert(tu_info_seq(&tx) == 0, "send sequence %llu, expected 0",
		  (unsigned long long)tu_info_seq(&tx));

	type = tu_record_decrypt(&rx, 1, rec, sizeof(rec), out, &out_len);
	tu_assert(type == 23 && out_len == strlen(MSG) &&
		  !memcmp(out, MSG, out_len), "record does not decrypt");
	gnutls_memset(&rx, 0, sizeof(rx));
	gnutls_memset(&tx, 0, sizeof(tx));
}

int main(void)
{
	uint8_t key[HSD_TICKET_KEY_SIZE];
	struct hsd_session *c, *s;
	struct hsd_creds *cc, *sc;
	int fds[2], rc_c, rc_s, rc;

	tu_certs_setup();
	tu_tcp_pair(fds);
	cc = tu_creds("ca.pem", NULL, NULL, NULL);
	sc = tu_creds(NULL, "server.pem", "server-key.pem", NULL);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");
	tu_assert(hsd_session_set_ticket_key(s, key, sizeof(key), 0) == 0 &&
		  hsd_session_set_tickets(c, true) == 0, "tickets");

	tu_run_pair(c, fds[0], s, fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "client %d, server %d", rc_c, rc_s);
	rc = tu_read_ticket(c, fds[0]);
	tu_assert(rc == 0, "read_ticket: %d '%s'", rc, hsd_session_error(c));

	tu_assert(gnutls_record_send(hsd_session_gnutls(s), MSG, strlen(MSG)) ==
		  (ssize_t)strlen(MSG), "server send");
	check_record(c, fds[0]);
	printf("ok kTLS keys start past the ticket record\n");

	tu_pair_free(c, s, cc, sc, fds);
	return 0;
}
