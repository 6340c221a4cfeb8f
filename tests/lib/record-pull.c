// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The session's pull function never returns bytes past the end of the
 * current TLS record, however much GnuTLS asks for: two records queued
 * back to back come out header, body, header, body, also when a header
 * arrives in pieces and when a record has an empty body.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

static void put(int fd, const void *buf, size_t len)
{
	tu_assert(send(fd, buf, len, 0) == (ssize_t)len, "send");
}

static void expect_pull(struct hsd_session *s, size_t want,
			const uint8_t *bytes)
{
	uint8_t buf[4096];
	ssize_t n;

	n = hsd__io_pull(s, buf, sizeof(buf));
	tu_assert(n == (ssize_t)want, "pull returned %zd, expected %zu", n,
		  want);
	tu_assert(!memcmp(buf, bytes, want), "pull returned other bytes");
}

int main(void)
{
	static const uint8_t a[] = { 23, 3, 3, 0, 10,
				     1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const uint8_t b[] = { 22, 3, 3, 0, 0 };
	static const uint8_t c[] = { 23, 3, 3, 0, 4, 0xa, 0xb, 0xc, 0xd };
	struct hsd_session *s;
	uint8_t buf[16];
	int fds[2];

	tu_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
	tu_assert(hsd_session_new(&s, fds[0], HSD_CLIENT, NULL) == 0,
		  "session");

	put(fds[1], a, sizeof(a));
	put(fds[1], b, sizeof(b));
	put(fds[1], c, 3);

	expect_pull(s, 5, a);
	expect_pull(s, 10, a + 5);
	expect_pull(s, 5, b);		/* empty body, then a new header */
	expect_pull(s, 3, c);		/* a header split in two */
	tu_assert(hsd__io_pull(s, buf, sizeof(buf)) < 0 &&
		  (errno == EAGAIN || errno == EWOULDBLOCK),
		  "pull on an empty socket does not say EAGAIN");

	put(fds[1], c + 3, sizeof(c) - 3);
	put(fds[1], a, sizeof(a));
	expect_pull(s, 2, c + 3);
	expect_pull(s, 4, c + 5);
	expect_pull(s, 5, a);
	printf("ok pulls stop at record boundaries\n");

	hsd_session_free(s);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
