/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a request's outcome becomes in DONE: the kernel's consumers
 * understand only a handful of errno values.
 */
#ifndef HANDSHAKED_STATUS_H
#define HANDSHAKED_STATUS_H

/* Map 0 or a negative errno to the positive status DONE carries. */
unsigned int hd_done_status(int err);

#endif /* HANDSHAKED_STATUS_H */
