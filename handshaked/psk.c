// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PSKs from kernel keyrings. A PSK key's description is its identity
 * and its payload the key bytes (how nvme-cli and the kernel's NVMe
 * code store them). Every copy of key bytes is wiped after use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "log.h"
#include "psk.h"

int hd_psk_hash(const char *identity)
{
	if (strncmp(identity, "NVMe", 4))
		return HSD_PSK_SHA256;
	return hsd_psk_identity_hash(identity);
}

void hd_psk_key_wipe(struct hd_psk_key *k)
{
	explicit_bzero(k->key, sizeof(k->key));
	k->key_len = 0;
	free(k->identity);
	k->identity = NULL;
}

/* Type and identity of the key; the hash the identity names. */
static int psk_describe(int32_t serial, const char *type,
			struct hd_psk_key *k, char *err, size_t errlen)
{
	char ktype[32];
	int ret;

	ret = hd_keyring_describe(serial, ktype, sizeof(ktype), &k->identity);
	if (ret < 0) {
		snprintf(err, errlen, "Failed to find PSK key '%d': %s",
			 serial, strerror(-ret));
		return ret == -ENOMEM ? ret : -ENOKEY;
	}

	if (strcmp(ktype, type)) {
		snprintf(err, errlen, "Failed to use PSK key '%d': a '%s' key, not '%s'",
			 serial, ktype, type);
		return -ENOKEY;
	}

	ret = hd_psk_hash(k->identity);
	if (ret < 0) {
		snprintf(err, errlen, "Failed to use PSK key '%d': identity '%s' names no known hash",
			 serial, k->identity);
		return -ENOKEY;
	}
	k->hash = ret;
	return 0;
}

static int psk_payload(int32_t serial, struct hd_psk_key *k, char *err,
		       size_t errlen)
{
	void *data = NULL;
	size_t len = 0;
	int ret;

	ret = hd_keyring_read(serial, &data, &len);
	if (ret < 0) {
		snprintf(err, errlen, "Failed to read PSK key '%d': %s",
			 serial, strerror(-ret));
		return ret == -ENOMEM ? ret : -ENOKEY;
	}

	if (len == 0 || len > sizeof(k->key)) {
		snprintf(err, errlen, "Failed to use PSK key '%d': %zu key bytes",
			 serial, len);
		ret = -ENOKEY;
	} else {
		memcpy(k->key, data, len);
		k->key_len = len;
	}
	hd_keyring_free(data, len);
	return ret;
}

int hd_psk_read(int32_t serial, const char *type, struct hd_psk_key *k,
		char *err, size_t errlen)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->serial = serial;

	ret = psk_describe(serial, type, k, err, errlen);
	if (ret == 0)
		ret = psk_payload(serial, k, err, errlen);
	if (ret < 0)
		hd_psk_key_wipe(k);
	return ret;
}

/* ---- client: the keys the request names ---- */

void hd_psk_offer_free(struct hd_psk_offer *o)
{
	unsigned int i;

	for (i = 0; i < o->n; i++)
		free(o->identities[i]);
	memset(o, 0, sizeof(*o));
}

static int offer_add(struct hd_psk_offer *o, struct hsd_creds *c,
		     int32_t serial, const char *type, char *err,
		     size_t errlen)
{
	struct hd_psk_key k;
	int ret;

	ret = hd_psk_read(serial, type, &k, err, errlen);
	if (ret < 0)
		return ret;

	ret = hsd_creds_psk_add(c, k.identity, k.key, k.key_len, k.hash);
	if (ret < 0) {
		snprintf(err, errlen, "Failed to use PSK key '%d': %s",
			 serial, hsd_creds_error(c));
		goto wipe;
	}

	o->serials[o->n] = serial;
	o->identities[o->n] = k.identity;
	o->n++;
	k.identity = NULL;
wipe:
	hd_psk_key_wipe(&k);
	return ret;
}

int hd_psk_offer_build(struct hd_psk_offer *o, struct hsd_creds *c,
		       const uint32_t *serials, unsigned int n,
		       const char *type, char *err, size_t errlen)
{
	unsigned int i;
	int ret;

	memset(o, 0, sizeof(*o));
	if (n == 0) {
		snprintf(err, errlen, "no PSK key in the request");
		return -EINVAL;
	}
	if (n > HSD_NL_MAX_PEERIDS)
		n = HSD_NL_MAX_PEERIDS;

	/*
	 * GnuTLS sends only the first identity added; the rest are
	 * checked anyway so that a broken key never goes unnoticed.
	 */
	for (i = 0; i < n; i++) {
		ret = offer_add(o, c, (int32_t)serials[i], type, err, errlen);
		if (ret < 0) {
			hd_psk_offer_free(o);
			return ret;
		}
	}
	return 0;
}

int32_t hd_psk_offer_serial(const struct hd_psk_offer *o,
			    const char *identity)
{
	unsigned int i;

	if (!identity)
		return 0;
	for (i = 0; i < o->n; i++)
		if (!strcmp(o->identities[i], identity))
			return o->serials[i];
	return 0;
}

/* ---- server: the key of the identity a client offers ---- */

/*
 * The request's keyring first: it is the one the consumer chose (an
 * nvmet port's keyring, .nvme by default). Then the keyrings of the
 * configuration. tlshd searches its whole session keyring instead,
 * which also holds the keyrings of other requests in flight, such as
 * an NVMe host's own keyring on a machine that is host and target.
 */
static int32_t lookup_search(const struct hd_psk_lookup *l,
			     const char *identity)
{
	int32_t serial = -ENOKEY;

	if (l->keyring > 0)
		serial = hd_keyring_search(l->keyring, l->type, identity);
	if (serial == -ENOKEY || serial == -EACCES)
		serial = hd_keyring_search_config(l->type, identity);
	return serial;
}

static int lookup_fail(struct hd_psk_lookup *l, int err)
{
	l->err = err;
	/* any failure but -ENOKEY: GnuTLS sends internal_error */
	return -EIO;
}

int hd_psk_lookup(void *data, const char *identity, uint8_t *key,
		  size_t *key_len, enum hsd_psk_hash *hash)
{
	struct hd_psk_lookup *l = data;
	struct hd_psk_key k;
	int32_t serial;
	int ret;

	serial = lookup_search(l, identity);
	if (serial == -ENOKEY)
		return -ENOKEY;		/* the library: unknown identity */
	if (serial < 0) {
		snprintf(l->reason, sizeof(l->reason),
			 "Failed to find PSK for identity '%s': %s",
			 identity, strerror(-serial));
		return lookup_fail(l, -ENOKEY);
	}

	ret = hd_psk_read(serial, l->type, &k, l->reason, sizeof(l->reason));
	if (ret < 0)
		return lookup_fail(l, ret);

	memcpy(key, k.key, k.key_len);
	*key_len = k.key_len;
	*hash = k.hash;
	l->serial = serial;
	hd_psk_key_wipe(&k);
	log_debug("Found PSK key %d for identity '%s'", serial, identity);
	return 0;
}
