// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Data the peer sends right behind its last handshake flight stays in
 * the socket: a GnuTLS server that starts early (TLS 1.3 0.5-RTT data)
 * has its application record queued before the client processes the
 * server's flight; after hsd_handshake() returns 0 the whole record is
 * still unread and decrypts with the keys meant for the kernel.
 */
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"

#define MSG "sent behind the server Finished, meant for the kernel"
#define RECORD_LEN (5 + sizeof(MSG) - 1 + 1 + 16)

struct sync {
	sem_t sent;
	sem_t done;
};

static int server_after(struct tu_peer *p)
{
	struct sync *sy = p->data;
	int rc = 0;

	if (!(gnutls_session_get_flags(p->tls) & GNUTLS_SFLAGS_EARLY_START))
		rc = -1;
	else if (gnutls_record_send(p->tls, MSG, strlen(MSG)) < 0)
		rc = -2;

	sem_post(&sy->sent);
	sem_wait(&sy->done);
	return rc;
}

static void wait_sem(sem_t *sem)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += TU_TIMEOUT_MS / 1000;
	tu_assert(sem_timedwait(sem, &ts) == 0, "peer never sent its data");
}

/* Bytes queued on the socket, once the expected amount arrived or later. */
static int queued(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = 0, tries;

	for (tries = 0; tries < TU_TIMEOUT_MS / 10; tries++) {
		tu_assert(ioctl(fd, FIONREAD, &n) == 0, "FIONREAD");
		if ((size_t)n >= RECORD_LEN)
			break;
		poll(&pfd, 0, 10);
	}
	return n;
}

static void check_record(struct hsd_session *c, int fd)
{
	uint8_t rec[RECORD_LEN], out[RECORD_LEN];
	union hsd__ktls_info rx;
	size_t len, out_len = sizeof(out);
	int type;

	tu_assert(recv(fd, rec, sizeof(rec), MSG_PEEK) == sizeof(rec),
		  "cannot peek the record");
	tu_assert(rec[0] == 23 && ((size_t)rec[3] << 8 | rec[4]) ==
		  RECORD_LEN - 5, "queued bytes are not one data record");

	tu_assert(hsd__ktls_fill(c, true, &rx, &len) == 0, "fill");
	tu_assert(tu_info_seq(&rx) == 0, "read sequence is not 0");
	type = tu_record_decrypt(&rx, 0, rec, sizeof(rec), out, &out_len);
	tu_assert(type == 23 && out_len == strlen(MSG) &&
		  !memcmp(out, MSG, out_len), "record does not decrypt");
	gnutls_memset(&rx, 0, sizeof(rx));
}

int main(void)
{
	struct hsd_creds *cc;
	struct tu_peer peer = { 0 };
	struct hsd_session *c;
	struct sync sy;
	int fds[2], rc, n;

	tu_certs_setup();
	sem_init(&sy.sent, 0, 0);
	sem_init(&sy.done, 0, 0);
	tu_tcp_pair(fds);

	peer.fd = fds[1];
	peer.server = true;
	peer.priority = tu_peer_priority(HSD_AES_256_GCM);
	peer.flags = GNUTLS_NO_TICKETS | GNUTLS_ENABLE_EARLY_START;
	peer.after = server_after;
	peer.data = &sy;
	tu_peer_start(&peer);

	cc = tu_creds("ca.pem", NULL, NULL, NULL);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	tu_assert(hsd_session_set_peer_name(c, "localhost") == 0, "name");

	/*
	 * ClientHello out; then let the whole server side arrive first.
	 * A quick server thread may answer within this first call, and
	 * the handshake then completes in it.
	 */
	rc = hsd_handshake(c);
	tu_assert(rc == HSD_AGAIN_READ || rc == 0, "first step: %d", rc);
	wait_sem(&sy.sent);

	if (rc)
		rc = tu_run(c, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(c));
	tu_assert(gnutls_record_check_pending(hsd_session_gnutls(c)) == 0,
		  "GnuTLS holds decrypted data");

	n = queued(fds[0]);
	tu_assert((size_t)n == RECORD_LEN, "%d bytes queued, expected %zu",
		  n, RECORD_LEN);
	check_record(c, fds[0]);

	sem_post(&sy.done);
	tu_peer_join(&peer);
	tu_assert(peer.after_rc == 0, "server could not send early: %d",
		  peer.after_rc);
	printf("ok %zu-byte record left in the socket\n", RECORD_LEN);

	hsd_session_free(c);
	hsd_creds_unref(cc);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
