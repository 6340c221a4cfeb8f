// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Traffic secrets: recorded from GnuTLS during the handshake into a
 * locked page, and the part of the TLS 1.3 key schedule that runs
 * after it (RFC 8446 sections 7.1 to 7.3): the next secret of a key
 * update and the record key and IV of a secret, in kTLS form.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "internal.h"

/* RFC 8446 section 7.1: every label is prefixed with "tls13 ". */
#define LABEL_PREFIX "tls13 "
#define LABEL_MAX 255
/* The IV of every TLS 1.3 AEAD is 12 bytes (section 5.3). */
#define IV_LEN 12

struct hsd__secrets *hsd__secrets_new(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = page > 0 ? (size_t)page : 4096;
	struct hsd__secrets *sec;
	int err;

	sec = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sec == MAP_FAILED)
		return NULL;

	/* Never to swap, never into a core dump, never into a child. */
	if (mlock(sec, size) < 0) {
		err = errno;
		munmap(sec, size);
		errno = err;
		return NULL;
	}
	madvise(sec, size, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	madvise(sec, size, MADV_WIPEONFORK);
#endif
	return sec;
}

void hsd__secrets_free(struct hsd__secrets *sec)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = page > 0 ? (size_t)page : 4096;

	if (!sec)
		return;

	gnutls_memset(sec, 0, sizeof(*sec));
	munlock(sec, size);
	munmap(sec, size);
}

/*
 * GnuTLS reports the secrets of each epoch as it installs them, key
 * updates included; only the application epoch outlives the handshake.
 */
static int secret_func(gnutls_session_t tls,
		       gnutls_record_encryption_level_t level,
		       const void *secret_read, const void *secret_write,
		       size_t size)
{
	struct hsd_session *s = gnutls_session_get_ptr(tls);
	struct hsd__secrets *sec = s->secrets;

	if (level != GNUTLS_ENCRYPTION_LEVEL_APPLICATION || !sec)
		return 0;
	if (size > HSD_SECRET_MAX)
		return -1;

	sec->len = size;
	if (secret_read) {
		memcpy(sec->rx, secret_read, size);
		sec->have_rx = true;
	}
	if (secret_write) {
		memcpy(sec->tx, secret_write, size);
		sec->have_tx = true;
	}
	return 0;
}

void hsd__secrets_attach(struct hsd_session *s)
{
	gnutls_handshake_set_secret_function(s->tls, secret_func);
}

gnutls_mac_algorithm_t hsd__session_mac(struct hsd_session *s)
{
	switch (gnutls_prf_hash_get(s->tls)) {
	case GNUTLS_DIG_SHA256:
		return GNUTLS_MAC_SHA256;
	case GNUTLS_DIG_SHA384:
		return GNUTLS_MAC_SHA384;
	default:
		return GNUTLS_MAC_UNKNOWN;
	}
}

/*
 * RFC 8446 section 7.1: HKDF-Expand-Label(Secret, Label, "", Length)
 * expands with the HkdfLabel struct as info: the output length (2
 * bytes), the prefixed label and an empty context (1 length byte each).
 */
int hsd__hkdf_expand_label(gnutls_mac_algorithm_t mac,
			   const uint8_t *secret, size_t secret_len,
			   const char *label, uint8_t *out, size_t out_len)
{
	size_t label_len = strlen(LABEL_PREFIX) + strlen(label);
	uint8_t info[2 + 1 + LABEL_MAX + 1];
	gnutls_datum_t key, inf;
	size_t n = 0;

	if (label_len > LABEL_MAX || out_len > 0xffff)
		return -EINVAL;

	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)label_len;
	memcpy(info + n, LABEL_PREFIX, strlen(LABEL_PREFIX));
	n += strlen(LABEL_PREFIX);
	memcpy(info + n, label, strlen(label));
	n += strlen(label);
	info[n++] = 0;

	key.data = (void *)secret;
	key.size = (unsigned int)secret_len;
	inf.data = info;
	inf.size = (unsigned int)n;
	if (gnutls_hkdf_expand(mac, &key, &inf, out, out_len) < 0)
		return -EIO;
	return 0;
}

/* RFC 8446 section 7.2: the secret of the next generation, in place. */
int hsd__secret_next(gnutls_mac_algorithm_t mac, uint8_t *secret, size_t len)
{
	uint8_t next[HSD_SECRET_MAX];
	int rc;

	if (len > sizeof(next))
		return -EINVAL;

	rc = hsd__hkdf_expand_label(mac, secret, len, "traffic upd", next,
				    len);
	if (rc == 0)
		memcpy(secret, next, len);
	gnutls_memset(next, 0, sizeof(next));
	return rc;
}

/* RFC 8446 section 7.3: a secret's record key and IV, rec_seq 0. */
int hsd__secret_ktls(gnutls_cipher_algorithm_t alg, gnutls_mac_algorithm_t mac,
		     const uint8_t *secret, size_t len,
		     union hsd__ktls_info *info, size_t *info_len)
{
	static const unsigned char seq0[8];
	uint8_t key[32], iv[IV_LEN];
	gnutls_datum_t k = { key, 0 }, v = { iv, IV_LEN };
	size_t key_len, iv_len;
	int rc;

	rc = hsd__ktls_sizes(alg, &key_len, &iv_len);
	if (rc < 0)
		return rc;
	if (key_len > sizeof(key) || iv_len != IV_LEN)
		return -EINVAL;

	rc = hsd__hkdf_expand_label(mac, secret, len, "key", key, key_len);
	if (rc < 0)
		goto wipe;
	rc = hsd__hkdf_expand_label(mac, secret, len, "iv", iv, IV_LEN);
	if (rc < 0)
		goto wipe;

	k.size = (unsigned int)key_len;
	rc = hsd__ktls_build(alg, &k, &v, seq0, info, info_len);

wipe:
	gnutls_memset(key, 0, sizeof(key));
	gnutls_memset(iv, 0, sizeof(iv));
	return rc;
}
