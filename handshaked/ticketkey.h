/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's session ticket master key: one per supervisor, in a
 * locked page that is wiped when replaced or freed and left out of
 * core dumps and forked workers, read from [resumption] ticket_key or
 * generated at random.
 */
#ifndef HANDSHAKED_TICKETKEY_H
#define HANDSHAKED_TICKETKEY_H

#include <stddef.h>
#include <stdint.h>

#include <handshaked/handshaked.h>

struct hd_ticket_key {
	uint8_t *bytes;		/* HSD_TICKET_KEY_SIZE bytes, locked */
};

/*
 * Fill k from the file at path, or with a random key when path is
 * NULL. The file must be a regular file of exactly
 * HSD_TICKET_KEY_SIZE bytes that neither group nor others may read.
 * On failure k is untouched and err names the file and the reason.
 */
int hd_ticket_key_load(struct hd_ticket_key *k, const char *path,
		       char *err, size_t errlen);
/* Wipe and release the key. */
void hd_ticket_key_free(struct hd_ticket_key *k);

#endif /* HANDSHAKED_TICKETKEY_H */
