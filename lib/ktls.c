// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel TLS: which record ciphers the running kernel takes, and
 * moving a finished session's keys into the socket for both
 * directions. Every crypto_info built here is wiped after use.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* Older libc headers lack these; the values are the kernel's ABI. */
#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

#define KTLS_CIPHER(gnutls_alg, bit, ktype, st) {			\
	.alg = gnutls_alg, .mask_bit = bit, .type = ktype,		\
	.size = sizeof(st),						\
	.key_off = offsetof(st, key), .key_len = FIELD_SIZE(st, key),	\
	.salt_off = offsetof(st, salt), .salt_len = FIELD_SIZE(st, salt), \
	.iv_off = offsetof(st, iv), .iv_len = FIELD_SIZE(st, iv),	\
	.seq_off = offsetof(st, rec_seq),				\
}

static const struct ktls_cipher {
	gnutls_cipher_algorithm_t alg;
	unsigned int mask_bit;
	uint16_t type;
	size_t size;
	size_t key_off, key_len;
	size_t salt_off, salt_len;
	size_t iv_off, iv_len;
	size_t seq_off;
} ktls_ciphers[] = {
	KTLS_CIPHER(GNUTLS_CIPHER_AES_128_GCM, HSD_AES_128_GCM,
		    TLS_CIPHER_AES_GCM_128,
		    struct tls12_crypto_info_aes_gcm_128),
	KTLS_CIPHER(GNUTLS_CIPHER_AES_256_GCM, HSD_AES_256_GCM,
		    TLS_CIPHER_AES_GCM_256,
		    struct tls12_crypto_info_aes_gcm_256),
	KTLS_CIPHER(GNUTLS_CIPHER_AES_128_CCM, HSD_AES_128_CCM,
		    TLS_CIPHER_AES_CCM_128,
		    struct tls12_crypto_info_aes_ccm_128),
	KTLS_CIPHER(GNUTLS_CIPHER_CHACHA20_POLY1305, HSD_CHACHA20_POLY1305,
		    TLS_CIPHER_CHACHA20_POLY1305,
		    struct tls12_crypto_info_chacha20_poly1305),
};

#define N_KTLS_CIPHERS (sizeof(ktls_ciphers) / sizeof(ktls_ciphers[0]))

static const struct ktls_cipher *ktls_cipher_find(gnutls_cipher_algorithm_t a)
{
	size_t i;

	for (i = 0; i < N_KTLS_CIPHERS; i++)
		if (ktls_ciphers[i].alg == a)
			return &ktls_ciphers[i];
	return NULL;
}

static int loopback_listen(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;

	sin->sin_family = AF_INET;
	sin->sin_port = 0;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)sin, &len) < 0) {
		close(lfd);
		return -errno;
	}
	return lfd;
}

/* An established loopback TCP connection: fds[0] connects, fds[1] accepts. */
static int loopback_pair(int fds[2])
{
	struct sockaddr_in sin;
	int lfd, cfd, afd, rc;

	lfd = loopback_listen(&sin);
	if (lfd < 0)
		return lfd;

	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0) {
		rc = -errno;
		goto close_listener;
	}

	if (connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		rc = -errno;
		goto close_client;
	}

	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0) {
		rc = -errno;
		goto close_client;
	}

	close(lfd);
	fds[0] = cfd;
	fds[1] = afd;
	return 0;

close_client:
	close(cfd);
close_listener:
	close(lfd);
	return rc;
}

/* Whether the kernel takes this cipher for TX; 0, -EOPNOTSUPP or errno. */
static int probe_one(const struct ktls_cipher *kc)
{
	union hsd__ktls_info info;
	int fds[2] = { -1, -1 };
	int rc;

	rc = loopback_pair(fds);
	if (rc < 0)
		return rc;

	if (setsockopt(fds[0], SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		rc = errno == ENOENT || errno == ENOPROTOOPT ? -ENOPROTOOPT :
							      -errno;
		goto close_pair;
	}

	/* An all-zero key is enough to learn whether the type is known. */
	memset(&info, 0, sizeof(info));
	info.info.version = TLS_1_3_VERSION;
	info.info.cipher_type = kc->type;
	if (setsockopt(fds[0], SOL_TLS, TLS_TX, &info, kc->size) < 0)
		rc = -EOPNOTSUPP;

close_pair:
	close(fds[0]);
	close(fds[1]);
	return rc;
}

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static bool probe_done;
static int probe_rc;
static unsigned int probe_mask;

static int probe_all(unsigned int *mask)
{
	size_t i;
	int rc;

	*mask = 0;
	for (i = 0; i < N_KTLS_CIPHERS; i++) {
		rc = probe_one(&ktls_ciphers[i]);
		if (rc == 0)
			*mask |= ktls_ciphers[i].mask_bit;
		else if (rc != -EOPNOTSUPP)
			return rc;
	}
	return 0;
}

int hsd_ktls_probe(unsigned int *ciphers)
{
	int rc;

	pthread_mutex_lock(&probe_lock);
	if (!probe_done) {
		/* Keep only answers about the kernel, not passing failures. */
		rc = probe_all(&probe_mask);
		if (rc == 0 || rc == -ENOPROTOOPT) {
			probe_rc = rc;
			probe_done = true;
		}
	} else {
		rc = probe_rc;
	}

	if (rc == 0)
		*ciphers = probe_mask;
	pthread_mutex_unlock(&probe_lock);
	return rc;
}

static void fill_fields(const struct ktls_cipher *kc, uint8_t *out,
			const gnutls_datum_t *key, const gnutls_datum_t *iv,
			const unsigned char seq[8])
{
	memcpy(out + kc->key_off, key->data, kc->key_len);

	/* The implicit IV splits into the 4-byte salt and the rest. */
	memcpy(out + kc->salt_off, iv->data, kc->salt_len);
	memcpy(out + kc->iv_off, iv->data + kc->salt_len, kc->iv_len);

	/* GnuTLS gives the sequence number big-endian, as the kernel wants. */
	memcpy(out + kc->seq_off, seq, 8);
}

int hsd__ktls_sizes(gnutls_cipher_algorithm_t alg, size_t *key_len,
		    size_t *iv_len)
{
	const struct ktls_cipher *kc = ktls_cipher_find(alg);

	if (!kc)
		return -EOPNOTSUPP;

	*key_len = kc->key_len;
	*iv_len = kc->salt_len + kc->iv_len;
	return 0;
}

int hsd__ktls_build(gnutls_cipher_algorithm_t alg, const gnutls_datum_t *key,
		    const gnutls_datum_t *iv, const unsigned char seq[8],
		    union hsd__ktls_info *info, size_t *len)
{
	const struct ktls_cipher *kc = ktls_cipher_find(alg);

	if (!kc)
		return -EOPNOTSUPP;
	if (key->size != kc->key_len || iv->size != kc->salt_len + kc->iv_len)
		return -EINVAL;

	memset(info, 0, sizeof(*info));
	info->info.version = TLS_1_3_VERSION;
	info->info.cipher_type = kc->type;
	fill_fields(kc, (uint8_t *)info, key, iv, seq);
	*len = kc->size;
	return 0;
}

int hsd__ktls_fill(struct hsd_session *s, bool read,
		   union hsd__ktls_info *info, size_t *len)
{
	gnutls_datum_t mac, iv, key;
	gnutls_cipher_algorithm_t alg = gnutls_cipher_get(s->tls);
	unsigned char seq[8];
	int rc;

	if (!s->done) {
		hsd__session_error(s, "handshake not finished");
		return -EINVAL;
	}

	if (!ktls_cipher_find(alg)) {
		hsd__session_error(s, "cipher '%s' has no kernel TLS form",
				   gnutls_cipher_get_name(alg));
		return -EOPNOTSUPP;
	}

	rc = gnutls_record_get_state(s->tls, read, &mac, &iv, &key, seq);
	if (rc < 0) {
		hsd__session_error(s, "cannot read record state: %s",
				   gnutls_strerror(rc));
		return -EIO;
	}

	rc = hsd__ktls_build(alg, &key, &iv, seq, info, len);
	if (rc < 0) {
		hsd__session_error(s, "unexpected key or IV size");
		rc = -EIO;
	}

	gnutls_memset(seq, 0, sizeof(seq));
	return rc;
}

static int ktls_set(struct hsd_session *s, bool read)
{
	union hsd__ktls_info info;
	size_t len;
	int rc;

	rc = hsd__ktls_fill(s, read, &info, &len);
	if (rc < 0)
		goto wipe_info;

	if (setsockopt(s->fd, SOL_TLS, read ? TLS_RX : TLS_TX, &info,
		       (socklen_t)len) < 0) {
		hsd__session_error(s, "kernel refused the %s key: %s",
				   read ? "receive" : "transmit",
				   strerror(errno));
		rc = -EIO;
	}

wipe_info:
	gnutls_memset(&info, 0, sizeof(info));
	return rc;
}

int hsd_session_ktls_install(struct hsd_session *s)
{
	int rc;

	if (!s->done) {
		hsd__session_error(s, "handshake not finished");
		return -EINVAL;
	}

	/*
	 * The kernel starts at a record boundary with nothing held back
	 * in user space; data GnuTLS already took would be lost.
	 */
	if (gnutls_record_check_pending(s->tls) > 0 || s->rec.header_len ||
	    s->data_lost) {
		hsd__session_error(s, "application data already read in user space");
		return -EPROTO;
	}

	if (setsockopt(s->fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		hsd__session_error(s, "cannot attach the kernel TLS layer: %s",
				   strerror(errno));
		return -EIO;
	}

	rc = ktls_set(s, false);
	if (rc < 0)
		return rc;

	/* From here on the kernel encrypts what GnuTLS would send. */
	s->in_kernel = true;
	return ktls_set(s, true);
}
