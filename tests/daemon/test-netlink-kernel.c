// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves that the daemon can join the kernel's "handshake" family and
 * that ACCEPT with nothing queued comes back as -EAGAIN. Needs Linux
 * 6.4+ with net/handshake and CAP_NET_ADMIN; skips (77) without them.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "netlink.h"

int main(void)
{
	struct hd_accept a;
	struct hd_nl *nl;
	char err[256];
	int ret;

	ret = hd_nl_open(&nl, 0);
	if (ret == -ENOENT || ret == -EOPNOTSUPP || ret == -EPROTONOSUPPORT) {
		printf("skip: the kernel has no 'handshake' netlink family (%s)\n",
		       strerror(-ret));
		return EXIT_SKIP;
	}
	if (ret < 0) {
		fprintf(stderr, "cannot join the handshake family: %s\n",
			strerror(-ret));
		return EXIT_FAILURE;
	}

	ret = hd_nl_accept(nl, &a, err, sizeof(err));
	if (ret == -EPERM || ret == -EACCES) {
		printf("skip: ACCEPT needs CAP_NET_ADMIN\n");
		hd_nl_close(nl);
		return EXIT_SKIP;
	}
	CHECK(ret == -EAGAIN);
	CHECK(hd_nl_event_fd(nl) >= 0);

	hd_nl_close(nl);
	return check_exit();
}
