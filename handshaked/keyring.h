/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel keyrings: link the keyrings that hold handshake credentials
 * into our session keyring, read keys by serial, and record a peer's
 * verified certificate as a key.
 */
#ifndef HANDSHAKED_KEYRING_H
#define HANDSHAKED_KEYRING_H

#include <stddef.h>
#include <stdint.h>

/* Link .nvme, .nfs, .nfsd and the "a;b;c" list (names or serials). */
void hd_keyring_link_config(const char *list);

/*
 * Give this process a session keyring of its own (a worker), so that
 * the keyrings it links and unlinks for its requests never touch
 * another process's. Link the configuration's again after this.
 */
int hd_keyring_new_session(void);

/* Link a request's keyring for as long as some request needs it. */
int hd_keyring_hold(int32_t keyring);
void hd_keyring_release(int32_t keyring);

/*
 * Read a key's payload into a fresh buffer. The caller must release
 * it with hd_keyring_free(), which wipes it first.
 */
int hd_keyring_read(int32_t serial, void **data, size_t *len);
void hd_keyring_free(void *data, size_t len);

/*
 * A key's type and description (for a "psk" key: its identity). The
 * caller frees *desc. Returns -ENOKEY, -EACCES, ... when the key is
 * gone or hidden from us, -ENAMETOOLONG when the type does not fit.
 */
int hd_keyring_describe(int32_t serial, char *type, size_t typelen,
			char **desc);

/*
 * Split keyctl_describe(3) text, "type;uid;gid;perm;description",
 * the way hd_keyring_describe() does; the description may hold ';'.
 */
int hd_keyring_parse_description(const char *text, char *type,
				 size_t typelen, char **desc);

/*
 * Search keyring and the keyrings linked below it for a key of type
 * whose description equals desc, as keyctl_search(3) does. Returns
 * the serial (> 0), -ENOKEY when none matches, or another negative
 * errno (-EKEYREVOKED, -EKEYEXPIRED, -EACCES, ...).
 */
int32_t hd_keyring_search(int32_t keyring, const char *type,
			  const char *desc);

/*
 * hd_keyring_search() in each keyring hd_keyring_link_config() linked,
 * in its order; the first match wins. Keyrings other requests linked
 * into our session keyring are not searched: one consumer's keys must
 * not answer for another.
 */
int32_t hd_keyring_search_config(const char *type, const char *desc);

/*
 * Add a DER certificate as an "asymmetric" key to the user keyring.
 * Returns its serial (> 0) or a negative errno.
 */
int32_t hd_keyring_add_cert(const void *der, size_t len, const char *desc);

#endif /* HANDSHAKED_KEYRING_H */
