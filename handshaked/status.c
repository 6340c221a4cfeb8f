// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Map our results to DONE statuses. NFS and NVMe act only on 0,
 * EACCES, ENOMEM, EINVAL, ENOKEY, EIO, ETIMEDOUT and EKEYREJECTED;
 * anything else would reach them as an unexplained failure.
 */
#include <errno.h>

#include "status.h"

unsigned int hd_done_status(int err)
{
	switch (-err) {
	case 0:
		return 0;
	case EACCES:
	case EPERM:
		return EACCES;		/* the peer is not trusted */
	case ENOMEM:
		return ENOMEM;
	case EINVAL:
		return EINVAL;		/* the request itself is unusable */
	case ENOKEY:
	case ENOENT:
		return ENOKEY;		/* a key the request names is absent */
	case EKEYREJECTED:
	case EKEYREVOKED:
	case EKEYEXPIRED:
		return EKEYREJECTED;
	case ETIMEDOUT:
		return ETIMEDOUT;
	default:
		return EIO;		/* protocol, peer gone, kTLS refused */
	}
}
