// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GnuTLS handshake codes become the documented library results, also
 * for cases the other tests cannot provoke on demand: a transport
 * error keeps its errno, a premature close is -ECONNRESET, memory is
 * -ENOMEM, a GnuTLS timeout -ETIMEDOUT, protocol breakage -EPROTO.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

static const struct {
	int gnutls_rc;
	int io_errno;
	int want;
} cases[] = {
	{ GNUTLS_E_SUCCESS, 0, 0 },
	{ GNUTLS_E_AGAIN, 0, HSD_AGAIN_READ },
	{ GNUTLS_E_INTERRUPTED, 0, HSD_AGAIN_READ },
	{ GNUTLS_E_PREMATURE_TERMINATION, 0, -ECONNRESET },
	{ GNUTLS_E_PULL_ERROR, ECONNRESET, -ECONNRESET },
	{ GNUTLS_E_PUSH_ERROR, EPIPE, -EPIPE },
	{ GNUTLS_E_MEMORY_ERROR, 0, -ENOMEM },
	{ GNUTLS_E_TIMEDOUT, 0, -ETIMEDOUT },
	{ GNUTLS_E_UNEXPECTED_PACKET, 0, -EPROTO },
	{ GNUTLS_E_DECRYPTION_FAILED, 0, -EPROTO },
	{ GNUTLS_E_NO_CIPHER_SUITES, 0, -EPROTO },
	{ GNUTLS_E_CERTIFICATE_REQUIRED, 0, -EACCES },
	{ GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR, 0, -EACCES },
	{ GNUTLS_E_INVALID_REQUEST, 0, -EINVAL },
};

int main(void)
{
	struct hsd_session *s;
	size_t i;
	int fds[2], rc;

	tu_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *what = gnutls_strerror(cases[i].gnutls_rc);

		tu_assert(hsd_session_new(&s, fds[0], HSD_CLIENT, NULL) == 0,
			  "session");
		s->io_errno = cases[i].io_errno;

		rc = hsd__handshake_result(s, cases[i].gnutls_rc);
		tu_assert(rc == cases[i].want, "%s: %d, expected %d", what,
			  rc, cases[i].want);
		tu_assert(rc >= 0 || *hsd_session_error(s),
			  "%s: no error text", what);
		printf("ok %s -> %d\n", what, rc);
		hsd_session_free(s);
	}

	close(fds[0]);
	close(fds[1]);
	return 0;
}
