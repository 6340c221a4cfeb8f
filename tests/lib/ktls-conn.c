// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Key updates through the kernel: two library sessions on loopback
 * hand their keys to kTLS, then update keys while data flows both
 * ways, on request, at a small record limit, after a KeyUpdate the
 * connection never saw (EKEYEXPIRED), and until a flood of them ends
 * the connection with an alert. /proc/net/tls_stat must count the
 * rekeys. Needs kTLS with TLS 1.3 rekey (Linux 6.14); skips without.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "tu.h"

struct ends {
	int fds[2];
	struct hsd_creds *cc, *sc;
	struct hsd_session *cs, *ss;
	struct hsd_conn *c, *s;
};

static long tls_stat(const char *name)
{
	char key[64];
	long value;
	FILE *f;

	f = fopen("/proc/net/tls_stat", "r");
	tu_assert(f, "no /proc/net/tls_stat");
	while (fscanf(f, "%63s %ld", key, &value) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return value;
		}
	}
	fclose(f);
	tu_fail("no %s in /proc/net/tls_stat", name);
}

static void ends_open(struct ends *e)
{
	int rc_c, rc_s, rc;

	tu_tcp_pair(e->fds);
	e->cc = tu_creds("ca.pem", NULL, NULL, NULL);
	e->sc = tu_creds(NULL, "server.pem", "server-key.pem", NULL);
	e->cs = tu_session(e->fds[0], HSD_CLIENT, e->cc);
	e->ss = tu_session(e->fds[1], HSD_SERVER, e->sc);
	tu_assert(hsd_session_set_peer_name(e->cs, "localhost") == 0, "name");
	tu_run_pair(e->cs, e->fds[0], e->ss, e->fds[1], &rc_c, &rc_s);
	tu_assert(rc_c == 0 && rc_s == 0, "handshake %d %d", rc_c, rc_s);

	rc = hsd_session_ktls_install_conn(e->cs, &e->c);
	tu_assert(rc == 0, "client conn: %d '%s'", rc, hsd_session_error(e->cs));
	rc = hsd_session_ktls_install_conn(e->ss, &e->s);
	tu_assert(rc == 0, "server conn: %d '%s'", rc, hsd_session_error(e->ss));

	/* The connections need nothing of the sessions any more. */
	hsd_session_free(e->cs);
	hsd_session_free(e->ss);
}

static void ends_close(struct ends *e)
{
	hsd_conn_free(e->c);
	hsd_conn_free(e->s);
	hsd_creds_unref(e->cc);
	hsd_creds_unref(e->sc);
	close(e->fds[0]);
	close(e->fds[1]);
}

static void send_text(struct hsd_conn *c, const char *text)
{
	ssize_t n = hsd_conn_send(c, text, strlen(text), 0);

	tu_assert(n == (ssize_t)strlen(text), "send '%s': %zd '%s'", text, n,
		  hsd_conn_error(c));
}

/* Read until data comes; returns its length or the error. */
static ssize_t recv_wait(struct hsd_conn *c, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = hsd_conn_fd(c), .events = POLLIN };
	ssize_t n;

	for (;;) {
		n = hsd_conn_recv(c, buf, len);
		if (n != -EAGAIN)
			return n;
		tu_assert(poll(&pfd, 1, TU_TIMEOUT_MS) == 1,
			  "nothing to read within %d ms", TU_TIMEOUT_MS);
	}
}

static void expect_text(struct hsd_conn *c, const char *text)
{
	char buf[HSD_RECORD_MAX];
	ssize_t n = recv_wait(c, buf, sizeof(buf));

	tu_assert(n == (ssize_t)strlen(text) && !memcmp(buf, text, (size_t)n),
		  "expected '%s', read %zd '%s'", text, n, hsd_conn_error(c));
}

static void requested_updates(void)
{
	long rx0 = tls_stat("TlsRxRekeyOk"), tx0 = tls_stat("TlsTxRekeyOk");
	struct hsd_conn_stats cst, sst;
	struct ends e;

	ends_open(&e);
	send_text(e.c, "before");
	expect_text(e.s, "before");

	/* The client asks; the server answers inside its next read. */
	tu_assert(hsd_conn_key_update(e.c, true) == 0, "key update: '%s'",
		  hsd_conn_error(e.c));
	send_text(e.c, "after the client's update");
	expect_text(e.s, "after the client's update");
	send_text(e.s, "after the server's answer");
	expect_text(e.c, "after the server's answer");

	/* And the other way, unasked. */
	tu_assert(hsd_conn_key_update(e.s, false) == 0, "server update");
	send_text(e.s, "after the server's update");
	expect_text(e.c, "after the server's update");

	hsd_conn_stats(e.c, &cst);
	hsd_conn_stats(e.s, &sst);
	tu_assert(cst.tx_key_updates == 1 && cst.rx_key_updates == 2 &&
		  sst.tx_key_updates == 2 && sst.rx_key_updates == 1,
		  "client %llu/%llu, server %llu/%llu",
		  (unsigned long long)cst.tx_key_updates,
		  (unsigned long long)cst.rx_key_updates,
		  (unsigned long long)sst.tx_key_updates,
		  (unsigned long long)sst.rx_key_updates);
	tu_assert(tls_stat("TlsRxRekeyOk") - rx0 >= 3 &&
		  tls_stat("TlsTxRekeyOk") - tx0 >= 3,
		  "tls_stat rekeys: rx +%ld, tx +%ld",
		  tls_stat("TlsRxRekeyOk") - rx0, tls_stat("TlsTxRekeyOk") - tx0);
	printf("ok requested and unrequested updates through the kernel\n");
	ends_close(&e);
}

static void rotation(void)
{
	struct hsd_conn_stats st;
	char text[32];
	struct ends e;
	int i;

	ends_open(&e);
	tu_assert(hsd_conn_set_tx_rekey_limit(e.c, 3) == 0, "limit");
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "record %d", i);
		send_text(e.c, text);
		expect_text(e.s, text);
	}

	hsd_conn_stats(e.c, &st);
	tu_assert(st.tx_key_updates == 3 && st.tx_records == 1,
		  "10 records at limit 3: %llu updates, %llu counted",
		  (unsigned long long)st.tx_key_updates,
		  (unsigned long long)st.tx_records);
	hsd_conn_stats(e.s, &st);
	tu_assert(st.rx_key_updates == 3, "server took %llu keys",
		  (unsigned long long)st.rx_key_updates);
	printf("ok sending key turned over every 3 records\n");
	ends_close(&e);
}

/* Take the KeyUpdate record off the socket behind the connection's back. */
static void steal_record(int fd)
{
	char buf[64], control[CMSG_SPACE(1)];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	tu_assert(poll(&pfd, 1, TU_TIMEOUT_MS) == 1, "no KeyUpdate came");
	tu_assert(recvmsg(fd, &msg, 0) == 5 && hsd_record_type(&msg) == 22 &&
		  buf[0] == 24, "not a KeyUpdate record");
}

static void unseen_update(void)
{
	char buf[64];
	struct ends e;
	ssize_t n;

	ends_open(&e);
	tu_assert(hsd_conn_key_update(e.c, false) == 0, "update");
	send_text(e.c, "after an unseen update");
	steal_record(e.fds[1]);

	n = recv(e.fds[1], buf, sizeof(buf), MSG_DONTWAIT);
	tu_assert(n < 0 && errno == EKEYEXPIRED,
		  "read after a KeyUpdate: %zd (%s)", n, strerror(errno));
	tu_assert(hsd_conn_read_error(e.s, -EKEYEXPIRED) == 0, "'%s'",
		  hsd_conn_error(e.s));
	expect_text(e.s, "after an unseen update");

	/* The server updated its key too, in case it was asked. */
	send_text(e.s, "server after its own update");
	expect_text(e.c, "server after its own update");
	printf("ok EKEYEXPIRED: next key installed, own update sent\n");
	ends_close(&e);
}

static void flood(void)
{
	char buf[64];
	struct ends e;
	ssize_t n;
	int i;

	ends_open(&e);
	tu_assert(hsd_conn_set_key_update_limit(e.s, 4, 0) == 0, "limit");
	for (i = 0; i < 20; i++)
		tu_assert(hsd_conn_key_update(e.c, false) == 0, "update %d", i);
	send_text(e.c, "never read");

	n = recv_wait(e.s, buf, sizeof(buf));
	tu_assert(n == -EPROTO, "server read %zd in a flood", n);
	n = recv_wait(e.c, buf, sizeof(buf));
	tu_assert(n == -EPROTO && hsd_conn_alert(e.c) == 10,
		  "client: %zd, alert %d '%s'", n, hsd_conn_alert(e.c),
		  hsd_conn_error(e.c));
	printf("ok flood ended with alert: '%s'\n", hsd_conn_error(e.s));
	ends_close(&e);
}

static bool kernel_rekeys(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	uname(&u);
	sscanf(u.release, "%d.%d", &major, &minor);
	return major > 6 || (major == 6 && minor >= 14);
}

int main(void)
{
	unsigned int mask;
	int rc;

	rc = hsd_ktls_probe(&mask);
	if (rc == -ENOPROTOOPT)
		tu_skip("kernel has no kTLS (CONFIG_TLS)");
	tu_assert(rc == 0, "probe: %s", strerror(-rc));
	if (!kernel_rekeys())
		tu_skip("kernel older than 6.14 has no TLS 1.3 rekey");

	tu_certs_setup();
	requested_updates();
	rotation();
	unseen_update();
	flood();
	return 0;
}
