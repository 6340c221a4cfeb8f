// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a connection does with each record other than data, seen
 * through test hooks instead of the kernel: bad KeyUpdates and other
 * broken handshake records end it with the right fatal alert; tickets
 * are kept, whole or split across records; alerts are reported; too
 * many KeyUpdates are cut off; the sending key turns over at the
 * record limit; a KeyUpdate that meets a full socket waits.
 */
#include <string.h>
#include <unistd.h>

#include "tu.h"

struct capture {
	int n_rx, n_tx;
	union hsd__ktls_info rx[8];
	int n_sent;
	uint8_t type[8];
	uint8_t data[8][8];
	size_t len[8];
	int refuse_sends;	/* answer -EAGAIN this many times */
};

static struct capture cap;

static int cap_set_key(struct hsd_conn *c, bool rx,
		       const union hsd__ktls_info *info, size_t len)
{
	if (rx)
		cap.rx[cap.n_rx++ % 8] = *info;
	else
		cap.n_tx++;
	return 0;
}

static ssize_t cap_send_record(struct hsd_conn *c, uint8_t type,
			       const void *data, size_t len)
{
	int i = cap.n_sent % 8;

	if (cap.refuse_sends > 0) {
		cap.refuse_sends--;
		return -EAGAIN;
	}
	cap.type[i] = type;
	memcpy(cap.data[i], data, len < 8 ? len : 8);
	cap.len[i] = len;
	cap.n_sent++;
	return (ssize_t)len;
}

static const struct hsd__conn_ops cap_ops = {
	.set_key = cap_set_key,
	.send_record = cap_send_record,
};

/* A connection of a finished library handshake, in the given role. */
struct pair {
	int fds[2];
	struct hsd_creds *cc, *sc;
	struct hsd_session *c, *s;
	struct hsd_conn *conn;
};

static void pair_open(struct pair *p, enum hsd_role role)
{
	int rc_c, rc_s, rc;

	memset(&cap, 0, sizeof(cap));
	tu_tcp_pair(p->fds);
	p->cc = tu_creds("ca.pem", NULL, NULL, NULL);
	p->sc = tu_creds(NULL, "server.pem", "server-key.pem", NULL);
	p->c = tu_session(p->fds[0], HSD_CLIENT, p->cc);
	p->s = tu_session(p->fds[1], HSD_SERVER, p->sc);
	tu_assert(hsd_session_set_peer_name(p->c, "localhost") == 0, "name");
	tu_run_pair(p->c, p->fds[0], p->s, p->fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "handshake %d %d", rc_c, rc_s);

	rc = hsd__conn_new(&p->conn, role == HSD_CLIENT ? p->c : p->s,
			   &cap_ops);
	tu_assert(rc == 0, "connection: %d", rc);
}

static void pair_close(struct pair *p)
{
	hsd_conn_free(p->conn);
	hsd_session_free(p->c);
	hsd_session_free(p->s);
	hsd_creds_unref(p->cc);
	hsd_creds_unref(p->sc);
	close(p->fds[0]);
	close(p->fds[1]);
}

/* The last record sent was a fatal alert with this description. */
static void expect_alert(const char *what, uint8_t desc)
{
	int i = (cap.n_sent - 1) % 8;

	tu_assert(cap.n_sent > 0 && cap.type[i] == 21 && cap.len[i] == 2 &&
		  cap.data[i][0] == 2 && cap.data[i][1] == desc,
		  "%s: expected fatal alert %u, sent %d records", what, desc,
		  cap.n_sent);
}

struct bad_case {
	const char *what;
	enum hsd_role role;
	unsigned int type;
	uint8_t rec[2][8];
	size_t len[2];		/* a second record when len[1] */
	uint8_t alert;
};

static const struct bad_case bad_cases[] = {
	{ "KeyUpdate of 2 bytes", HSD_CLIENT, 22,
	  { { 24, 0, 0, 2, 0, 0 } }, { 6 }, 50 },
	{ "KeyUpdate with request_update 2", HSD_CLIENT, 22,
	  { { 24, 0, 0, 1, 2 } }, { 5 }, 47 },
	{ "KeyUpdate followed by more", HSD_SERVER, 22,
	  { { 24, 0, 0, 1, 0, 24, 0, 0 } }, { 8 }, 10 },
	{ "KeyUpdate split across records", HSD_CLIENT, 22,
	  { { 24, 0, 0 }, { 1, 0 } }, { 3, 2 }, 10 },
	{ "unknown handshake type", HSD_SERVER, 22,
	  { { 99, 0, 0, 1, 0 } }, { 5 }, 10 },
	{ "ClientHello after the handshake", HSD_SERVER, 22,
	  { { 1, 0, 0, 1, 0 } }, { 5 }, 10 },
	{ "NewSessionTicket to a server", HSD_SERVER, 22,
	  { { 4, 0, 0, 1, 0 } }, { 5 }, 10 },
	{ "empty handshake record", HSD_CLIENT, 22, { { 0 } }, { 0 }, 10 },
	{ "message longer than any", HSD_CLIENT, 22,
	  { { 4, 0xff, 0xff, 0xff } }, { 4 }, 50 },
	{ "protected change_cipher_spec", HSD_CLIENT, 20,
	  { { 1 } }, { 1 }, 10 },
	{ "unknown record type", HSD_SERVER, 99, { { 1, 2 } }, { 2 }, 10 },
	{ "alert of 3 bytes", HSD_CLIENT, 21, { { 1, 0, 0 } }, { 3 }, 50 },
};

static void bad_one(const struct bad_case *bc)
{
	struct pair p;
	int rc, sent;

	pair_open(&p, bc->role);
	rc = hsd_conn_input(p.conn, bc->type, bc->rec[0], bc->len[0]);
	if (bc->len[1]) {
		tu_assert(rc == -EPROTO || rc == 0, "%s: first part %d",
			  bc->what, rc);
		if (rc == 0)
			rc = hsd_conn_input(p.conn, bc->type, bc->rec[1],
					    bc->len[1]);
	}
	tu_assert(rc == -EPROTO, "%s: %d", bc->what, rc);
	expect_alert(bc->what, bc->alert);
	tu_assert(cap.n_rx == 0, "%s: a receive key was installed", bc->what);

	/* Final: nothing more is taken, and no second alert goes out. */
	sent = cap.n_sent;
	rc = hsd_conn_input(p.conn, 22, "\x18\0\0\x01\0", 5);
	tu_assert(rc == -EPROTO && cap.n_sent == sent && cap.n_rx == 0,
		  "%s: not final", bc->what);
	printf("ok %s: alert %u, '%s'\n", bc->what, bc->alert,
	       hsd_conn_error(p.conn));
	pair_close(&p);
}

static void tickets(void)
{
	static const uint8_t nst1[] = { 4, 0, 0, 6, 1, 2, 3, 4, 5, 6 };
	static const uint8_t both[] = { 4, 0, 0, 2, 7, 8, 24, 0, 0, 1, 0 };
	const void *t;
	struct pair p;
	size_t len;

	pair_open(&p, HSD_CLIENT);

	/* One ticket split after its header, then a ticket and a KeyUpdate. */
	tu_assert(hsd_conn_input(p.conn, 22, nst1, 5) == 0, "first part");
	tu_assert(hsd_conn_ticket_count(p.conn) == 0, "ticket too early");
	tu_assert(hsd_conn_input(p.conn, 22, nst1 + 5, 5) == 0, "second part");
	tu_assert(hsd_conn_input(p.conn, 22, both, sizeof(both)) == 0,
		  "ticket and KeyUpdate: '%s'", hsd_conn_error(p.conn));

	tu_assert(hsd_conn_ticket_count(p.conn) == 2, "tickets kept: %zu",
		  hsd_conn_ticket_count(p.conn));
	tu_assert(hsd_conn_ticket(p.conn, 0, &t, &len) == 0 && len == 6 &&
		  !memcmp(t, nst1 + 4, 6), "first ticket differs");
	tu_assert(hsd_conn_ticket(p.conn, 1, &t, &len) == 0 && len == 2 &&
		  !memcmp(t, both + 4, 2), "second ticket differs");
	tu_assert(hsd_conn_ticket(p.conn, 2, &t, &len) == -ENOENT, "third");
	tu_assert(cap.n_rx == 1 && cap.n_sent == 0, "KeyUpdate not taken");
	printf("ok tickets kept across records, next to a KeyUpdate\n");
	pair_close(&p);
}

static void alerts(void)
{
	static const uint8_t warning[] = { 1, 90 };	/* user_canceled */
	static const uint8_t fatal[] = { 2, 40 };	/* handshake_failure */
	static const uint8_t close_notify[] = { 1, 0 };
	struct pair p;

	pair_open(&p, HSD_SERVER);
	tu_assert(hsd_conn_input(p.conn, 21, warning, 2) == HSD_CONN_WARNING &&
		  hsd_conn_alert(p.conn) == 90, "warning alert");
	tu_assert(hsd_conn_input(p.conn, 21, close_notify, 2) ==
		  HSD_CONN_CLOSED && hsd_conn_peer_closed(p.conn),
		  "close_notify");
	tu_assert(hsd_conn_input(p.conn, 21, fatal, 2) == -EPROTO &&
		  hsd_conn_alert(p.conn) == 40 && cap.n_sent == 0,
		  "fatal alert: answered with %d records", cap.n_sent);
	tu_assert(hsd_conn_close(p.conn) == 0 && cap.type[0] == 21 &&
		  cap.data[0][0] == 1 && cap.data[0][1] == 0,
		  "close_notify not sent");
	printf("ok alerts: warning, close_notify, fatal\n");
	pair_close(&p);
}

static const uint8_t ku_plain[] = { 24, 0, 0, 1, 0 };

static void flood(void)
{
	struct pair p;
	int i, rc;

	pair_open(&p, HSD_SERVER);
	tu_assert(hsd_conn_set_key_update_limit(p.conn, 0, 0) == -EINVAL,
		  "empty bucket accepted");
	tu_assert(hsd_conn_set_key_update_limit(p.conn, 3, 0) == 0, "limit");
	for (i = 0; i < 3; i++) {
		rc = hsd_conn_input(p.conn, 22, ku_plain, 5);
		tu_assert(rc == 0, "KeyUpdate %d: %d", i, rc);
	}
	tu_assert(cap.n_rx == 3, "%d receive keys", cap.n_rx);
	tu_assert(memcmp(&cap.rx[0], &cap.rx[1], sizeof(cap.rx[0])) &&
		  memcmp(&cap.rx[1], &cap.rx[2], sizeof(cap.rx[0])),
		  "successive receive keys repeat");

	rc = hsd_conn_input(p.conn, 22, ku_plain, 5);
	tu_assert(rc == -EPROTO && cap.n_rx == 3, "fourth KeyUpdate: %d", rc);
	expect_alert("flood", 10);
	printf("ok KeyUpdate flood cut off after 3: '%s'\n",
	       hsd_conn_error(p.conn));
	pair_close(&p);
}

static void expect_key_update(int i, uint8_t request)
{
	tu_assert(cap.type[i] == 22 && cap.len[i] == 5 &&
		  cap.data[i][0] == 24 && cap.data[i][4] == request,
		  "record %d is not KeyUpdate(%u)", i, request);
}

static void rotation(void)
{
	struct hsd_conn_stats st;
	struct pair p;
	int i;

	pair_open(&p, HSD_CLIENT);
	tu_assert(hsd_conn_set_tx_rekey_limit(p.conn, 0) == -EINVAL, "zero");
	tu_assert(hsd_conn_set_tx_rekey_limit(p.conn, 5) == 0, "limit");

	/* The handshake's Finished made no application records. */
	hsd_conn_stats(p.conn, &st);
	tu_assert(st.tx_records == 0, "%llu records before any data",
		  (unsigned long long)st.tx_records);

	for (i = 0; i < 4; i++)
		tu_assert(hsd_conn_sent(p.conn, 1) == 0, "sent %d", i);
	tu_assert(cap.n_sent == 0 && cap.n_tx == 0, "rotated early");
	tu_assert(hsd_conn_sent(p.conn, 0) == 0, "fifth");
	tu_assert(cap.n_sent == 1 && cap.n_tx == 1, "no rotation at 5");
	expect_key_update(0, 0);

	/* 64 KiB + 1 is five records: the limit again in one step. */
	tu_assert(hsd_conn_sent(p.conn, 4 * HSD_RECORD_MAX + 1) == 0, "big");
	tu_assert(cap.n_tx == 2, "no rotation after 5 records in one send");
	tu_assert(hsd_conn_sent(p.conn, 4 * HSD_RECORD_MAX) == 0 &&
		  cap.n_tx == 2, "4 records rotated");

	hsd_conn_stats(p.conn, &st);
	tu_assert(st.tx_records == 4 && st.tx_key_updates == 2,
		  "stats: %llu records, %llu updates",
		  (unsigned long long)st.tx_records,
		  (unsigned long long)st.tx_key_updates);
	printf("ok sending key turned over at 5 records\n");
	pair_close(&p);
}

static void full_socket(void)
{
	static const uint8_t ku_asks[] = { 24, 0, 0, 1, 1 };
	struct pair p;
	int rc;

	pair_open(&p, HSD_SERVER);

	/* The peer asks; our answer meets a full socket and waits. */
	cap.refuse_sends = 1;
	rc = hsd_conn_input(p.conn, 22, ku_asks, 5);
	tu_assert(rc == HSD_CONN_AGAIN_WRITE && cap.n_rx == 1 &&
		  cap.n_tx == 0, "answer did not wait: %d", rc);
	tu_assert(hsd_conn_flush(p.conn) == 0 && cap.n_tx == 1, "flush");
	expect_key_update(0, 0);
	tu_assert(hsd_conn_flush(p.conn) == 0 && cap.n_sent == 1,
		  "flush sent twice");

	/* A server's handshake call does nothing; a client's asks. */
	tu_assert(hsd_conn_handshake(p.conn) == 0 && cap.n_sent == 1,
		  "server handshake call sent something");
	tu_assert(hsd_handshake(p.s) == 0, "finished server session");
	pair_close(&p);

	pair_open(&p, HSD_CLIENT);
	tu_assert(hsd_conn_handshake(p.conn) == 0 && cap.n_tx == 1,
		  "client handshake call");
	expect_key_update(0, 1);
	printf("ok KeyUpdate waits for a full socket; handshake calls\n");
	pair_close(&p);
}

int main(void)
{
	size_t i;

	tu_certs_setup();
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		bad_one(&bad_cases[i]);
	tickets();
	alerts();
	flood();
	rotation();
	full_socket();
	return 0;
}
