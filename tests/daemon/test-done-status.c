// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves that every result the daemon can meet becomes a DONE status
 * the kernel's consumers understand, and that the meaningful ones
 * keep their meaning.
 */
#include <errno.h>
#include <stdbool.h>

#include "check.h"
#include "status.h"

static const unsigned int understood[] = {
	0, EACCES, ENOMEM, EINVAL, ENOKEY, EIO, ETIMEDOUT, EKEYREJECTED,
};

static bool is_understood(unsigned int status)
{
	size_t i;

	for (i = 0; i < sizeof(understood) / sizeof(understood[0]); i++)
		if (understood[i] == status)
			return true;
	return false;
}

static void test_meaning_is_kept(void)
{
	CHECK(hd_done_status(0) == 0);
	CHECK(hd_done_status(-EACCES) == EACCES);
	CHECK(hd_done_status(-ENOMEM) == ENOMEM);
	CHECK(hd_done_status(-EINVAL) == EINVAL);
	CHECK(hd_done_status(-ENOKEY) == ENOKEY);
	CHECK(hd_done_status(-ETIMEDOUT) == ETIMEDOUT);
	CHECK(hd_done_status(-EKEYREJECTED) == EKEYREJECTED);
	CHECK(hd_done_status(-EIO) == EIO);
}

/* What libhandshaked documents for hsd_handshake() and kTLS install. */
static void test_library_errors(void)
{
	CHECK(hd_done_status(-EPROTO) == EIO);
	CHECK(hd_done_status(-ECONNRESET) == EIO);
	CHECK(hd_done_status(-EPIPE) == EIO);
	CHECK(hd_done_status(-ENOPROTOOPT) == EIO);
	CHECK(hd_done_status(-EBADF) == EIO);
	CHECK(hd_done_status(-EKEYEXPIRED) == EKEYREJECTED);
	CHECK(hd_done_status(-ENOENT) == ENOKEY);
	CHECK(hd_done_status(-EPERM) == EACCES);
}

static void test_every_errno_is_understood(void)
{
	int err;

	for (err = 0; err < 4096; err++)
		if (!is_understood(hd_done_status(-err))) {
			fprintf(stderr, "errno %d maps to %u\n", err,
				hd_done_status(-err));
			check_failures++;
		}
}

int main(void)
{
	test_meaning_is_kept();
	test_library_errors();
	test_every_errno_is_understood();
	return check_exit();
}
