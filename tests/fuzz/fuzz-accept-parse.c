// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the bytes after the generic netlink header of an
 * ACCEPT reply, as the kernel would send them, through the daemon's
 * parser. Whatever it returns, sockfd must be -1 or a parsed value
 * and the peer name a terminated string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t hdr = NLMSG_HDRLEN + GENL_HDRLEN;
	struct nlmsghdr *nlh;
	struct hd_accept a;
	char err[256];

	if (size > 65536)
		return 0;
	/* A heap copy of exactly the message, so ASan sees overreads. */
	nlh = malloc(hdr + size);
	if (!nlh)
		return 0;
	memset(nlh, 0, hdr);
	nlh->nlmsg_len = (uint32_t)(hdr + size);
	nlh->nlmsg_type = 0x1c;
	memcpy((char *)nlh + hdr, data, size);

	hd_accept_parse(nlh, &a, err, sizeof(err));
	if (memchr(a.peername, '\0', sizeof(a.peername)) == NULL ||
	    memchr(err, '\0', sizeof(err)) == NULL ||
	    a.n_peerids > HSD_NL_MAX_PEERIDS)
		abort();

	free(nlh);
	return 0;
}
