// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Alerts in the middle of a handshake: a warning alert (user_canceled)
 * gives HSD_WARNING_ALERT and leaves the handshake going; a fatal one
 * (handshake_failure) ends it with -EPROTO. Both are remembered. The
 * peer is a raw socket answering the ClientHello with alert records.
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

/* RFC 8446 section 6: plaintext alert records, level then description. */
static const uint8_t warning_alert[] = { 21, 3, 3, 0, 2, 1, 90 };
static const uint8_t fatal_alert[] = { 21, 3, 3, 0, 2, 2, 40 };

/* Step until something other than "would block" comes back. */
static int next_result(struct hsd_session *c, int fd)
{
	struct pollfd pfd = { .fd = fd };
	int rc;

	while ((rc = hsd_handshake(c)) == HSD_AGAIN_READ ||
	       rc == HSD_AGAIN_WRITE) {
		pfd.events = rc == HSD_AGAIN_READ ? POLLIN : POLLOUT;
		poll(&pfd, 1, hsd_session_timeout_left(c));
	}
	return rc;
}

static void send_alert(int fd, const uint8_t *alert, size_t len)
{
	tu_assert(send(fd, alert, len, 0) == (ssize_t)len, "send alert");
}

int main(void)
{
	struct hsd_session *c;
	uint8_t hello[5];
	int fds[2], rc;

	tu_tcp_pair(fds);
	tu_assert(hsd_session_new(&c, fds[0], HSD_CLIENT, NULL) == 0,
		  "session");
	hsd_session_set_verify_peer(c, false);
	hsd_session_set_timeout(c, TU_TIMEOUT_MS);
	tu_assert(hsd_session_alert(c) == -1, "alert before any");

	rc = hsd_handshake(c);
	tu_assert(rc == HSD_AGAIN_READ, "first step: %d", rc);
	tu_read_full(fds[1], hello, sizeof(hello));
	tu_assert(hello[0] == 22, "no ClientHello record: type %u", hello[0]);

	send_alert(fds[1], warning_alert, sizeof(warning_alert));
	rc = next_result(c, fds[0]);
	tu_assert(rc == HSD_WARNING_ALERT, "warning alert gave %d '%s'", rc,
		  hsd_session_error(c));
	tu_assert(hsd_session_alert(c) == GNUTLS_A_USER_CANCELED,
		  "alert %d remembered", hsd_session_alert(c));
	printf("ok warning: %s\n", hsd_session_error(c));

	send_alert(fds[1], fatal_alert, sizeof(fatal_alert));
	rc = next_result(c, fds[0]);
	tu_assert(rc == -EPROTO, "fatal alert gave %d '%s'", rc,
		  hsd_session_error(c));
	tu_assert(hsd_session_alert(c) == GNUTLS_A_HANDSHAKE_FAILURE,
		  "alert %d remembered", hsd_session_alert(c));
	tu_assert(hsd_handshake(c) == -EPROTO, "failure is not final");
	printf("ok fatal: %s\n", hsd_session_error(c));

	hsd_session_free(c);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
