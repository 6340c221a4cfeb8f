/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pre-shared keys from the kernel keyrings for PSK requests (NVMe/TCP):
 * the keys a client offers, named by serial in the request, and the
 * lookup a server answers a client's identity with.
 */
#ifndef HANDSHAKED_PSK_H
#define HANDSHAKED_PSK_H

#include <stddef.h>
#include <stdint.h>

#include <handshaked/handshaked.h>

#include "nl-handshake.h"

/* The key type NVMe/TCP keeps its PSKs in (nvme-keyring.ko). */
#define HD_PSK_KEY_TYPE "psk"

/*
 * The hash a PSK identity binds its key to: the hash field of an
 * NVMe/TCP identity, SHA-256 for anything not starting with "NVMe"
 * (RFC 8446 section 4.2.11). -EINVAL for a malformed NVMe identity.
 */
int hd_psk_hash(const char *identity);

/* One PSK as read from a key: its serial, identity and key bytes. */
struct hd_psk_key {
	int32_t serial;
	char *identity;
	uint8_t key[HSD_PSK_KEY_MAX];
	size_t key_len;
	enum hsd_psk_hash hash;
};

/*
 * Read the key serial, which must be of key type type. Returns 0,
 * -ENOKEY when the key is missing, of another type, unreadable or not
 * a usable PSK, -ENOMEM; err then says which and why.
 */
int hd_psk_read(int32_t serial, const char *type, struct hd_psk_key *k,
		char *err, size_t errlen);
/* Wipe the key bytes and free the identity. */
void hd_psk_key_wipe(struct hd_psk_key *k);

/* What a client offers: the request's keys, in the kernel's order. */
struct hd_psk_offer {
	unsigned int n;
	int32_t serials[HSD_NL_MAX_PEERIDS];
	char *identities[HSD_NL_MAX_PEERIDS];
};

/*
 * Client: read every serial (of key type type) and add identity and
 * key to c in order. Any key that cannot be used fails the whole
 * offer with -ENOKEY (err names its serial); -EINVAL without serials.
 */
int hd_psk_offer_build(struct hd_psk_offer *o, struct hsd_creds *c,
		       const uint32_t *serials, unsigned int n,
		       const char *type, char *err, size_t errlen);
/* The serial of the offered key with this identity, 0 if none. */
int32_t hd_psk_offer_serial(const struct hd_psk_offer *o,
			    const char *identity);
void hd_psk_offer_free(struct hd_psk_offer *o);

/*
 * Server: where to look for a client's identity and what was found.
 * Set type and keyring (the request's, 0 for none) before the
 * handshake; hd_psk_lookup() fills serial, and err with reason when
 * a key was found but could not be used.
 */
struct hd_psk_lookup {
	const char *type;
	int32_t keyring;
	int32_t serial;		/* the key handed to the handshake */
	int err;		/* 0, or the request's result (-ENOKEY) */
	char reason[256];
};

/*
 * An hsd_psk_lookup_fn over struct hd_psk_lookup: search the request's
 * keyring, then the keyrings of the configuration (.nvme, .nfs, .nfsd
 * and [authenticate] keyrings) for a key of the lookup's type whose
 * description is the identity. -ENOKEY when no keyring has one.
 */
int hd_psk_lookup(void *data, const char *identity, uint8_t *key,
		  size_t *key_len, enum hsd_psk_hash *hash);

#endif /* HANDSHAKED_PSK_H */
