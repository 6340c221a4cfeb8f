// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A peer that accepts the TCP connection but never answers: the
 * client gives up with -ETIMEDOUT once its bound has passed, and
 * hsd_session_timeout_left() counts down to 0 on the way.
 */
#include <time.h>
#include <unistd.h>

#include "tu.h"

#define BOUND_MS 300

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void)
{
	struct hsd_creds *cc;
	struct hsd_session *c;
	struct timespec start;
	int fds[2], rc, left;
	long ms;

	tu_certs_setup();
	cc = tu_creds("ca.pem", NULL, NULL, NULL);
	tu_tcp_pair(fds);
	tu_assert(hsd_session_new(&c, fds[0], HSD_CLIENT, cc) == 0, "session");

	tu_assert(hsd_session_timeout_left(c) == -1, "unbounded is not -1");
	clock_gettime(CLOCK_MONOTONIC, &start);
	hsd_session_set_timeout(c, BOUND_MS);
	left = hsd_session_timeout_left(c);
	tu_assert(left > 0 && left <= BOUND_MS, "timeout_left %d", left);

	rc = tu_run(c, fds[0]);
	ms = elapsed_ms(&start);
	tu_assert(rc == -ETIMEDOUT, "got %d '%s', expected -ETIMEDOUT", rc,
		  hsd_session_error(c));
	tu_assert(ms >= BOUND_MS && ms < 10 * BOUND_MS,
		  "timed out after %ld ms, bound %d ms", ms, BOUND_MS);
	tu_assert(hsd_session_timeout_left(c) == 0, "time left after timeout");
	tu_assert(hsd_handshake(c) == -ETIMEDOUT, "timeout is not final");
	printf("ok timed out after %ld ms: %s\n", ms, hsd_session_error(c));

	hsd_session_free(c);
	hsd_creds_unref(cc);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
