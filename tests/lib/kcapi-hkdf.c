// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The key schedule after the handshake checked against the kernel's
 * crypto API: HKDF-Expand (RFC 5869 section 2.3) built here on the
 * kernel's HMAC through libkcapi, with HkdfLabel (RFC 8446 section
 * 7.1) laid out here independently, must give the library's next
 * secret ("traffic upd"), key and IV for SHA-256 and SHA-384.
 * Needs AF_ALG (CONFIG_CRYPTO_USER_API_HASH); skips without.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kcapi.h>

#include "tu.h"

typedef ssize_t (*hmac_fn)(const uint8_t *key, uint32_t keylen,
			   const uint8_t *in, size_t inlen,
			   uint8_t *out, size_t outlen);

/* T(i) = HMAC(PRK, T(i-1) | info | i), concatenated to out_len bytes. */
static void kernel_hkdf_expand(hmac_fn hmac, size_t hash_len,
			       const uint8_t *prk, size_t prk_len,
			       const uint8_t *info, size_t info_len,
			       uint8_t *out, size_t out_len)
{
	uint8_t in[64 + 300 + 1], t[64];
	size_t done = 0, t_len = 0, n;
	uint8_t i = 1;
	ssize_t rc;

	while (done < out_len) {
		memcpy(in, t, t_len);
		memcpy(in + t_len, info, info_len);
		in[t_len + info_len] = i++;

		rc = hmac(prk, (uint32_t)prk_len, in, t_len + info_len + 1,
			  t, hash_len);
		if (rc == -EAFNOSUPPORT || rc == -ENOENT || rc == -EPROTONOSUPPORT)
			tu_skip("no AF_ALG hash interface in this kernel");
		tu_assert(rc == (ssize_t)hash_len, "kcapi hmac: %zd", rc);

		t_len = hash_len;
		n = out_len - done < hash_len ? out_len - done : hash_len;
		memcpy(out + done, t, n);
		done += n;
	}
}

/* RFC 8446 section 7.1, written out byte by byte for an empty context. */
static size_t hkdf_label(const char *label, size_t out_len, uint8_t *info)
{
	static const char prefix[] = "tls13 ";
	size_t n = 0, l = strlen(prefix) + strlen(label);

	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)l;
	memcpy(info + n, prefix, strlen(prefix));
	n += strlen(prefix);
	memcpy(info + n, label, strlen(label));
	n += strlen(label);
	info[n++] = 0;
	return n;
}

static void check(const char *name, gnutls_mac_algorithm_t mac,
		  hmac_fn hmac, size_t hash_len, const char *label,
		  size_t out_len)
{
	uint8_t secret[64], ours[64], kernel[64], info[300];
	size_t info_len, i;

	for (i = 0; i < hash_len; i++)
		secret[i] = (uint8_t)(i * 7 + hash_len);

	tu_assert(hsd__hkdf_expand_label(mac, secret, hash_len, label, ours,
					 out_len) == 0, "library expand");
	info_len = hkdf_label(label, out_len, info);
	kernel_hkdf_expand(hmac, hash_len, secret, hash_len, info, info_len,
			   kernel, out_len);
	tu_assert(!memcmp(ours, kernel, out_len),
		  "%s '%s' (%zu bytes) differs from the kernel's", name, label,
		  out_len);

	/* The next secret is the same expansion, done in place. */
	if (!strcmp(label, "traffic upd")) {
		tu_assert(hsd__secret_next(mac, secret, hash_len) == 0,
			  "secret_next");
		tu_assert(!memcmp(secret, kernel, hash_len),
			  "%s next secret differs from the kernel's", name);
	}
	printf("ok %s '%s' %zu bytes\n", name, label, out_len);
}

int main(void)
{
	int fd;

	fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		tu_skip("no AF_ALG sockets in this kernel (CONFIG_CRYPTO_USER_API)");
	close(fd);

	check("SHA-256", GNUTLS_MAC_SHA256, kcapi_md_hmac_sha256, 32,
	      "traffic upd", 32);
	check("SHA-256", GNUTLS_MAC_SHA256, kcapi_md_hmac_sha256, 32,
	      "key", 16);
	check("SHA-256", GNUTLS_MAC_SHA256, kcapi_md_hmac_sha256, 32,
	      "key", 32);
	check("SHA-256", GNUTLS_MAC_SHA256, kcapi_md_hmac_sha256, 32,
	      "iv", 12);
	check("SHA-384", GNUTLS_MAC_SHA384, kcapi_md_hmac_sha384, 48,
	      "traffic upd", 48);
	check("SHA-384", GNUTLS_MAC_SHA384, kcapi_md_hmac_sha384, 48,
	      "key", 32);
	check("SHA-384", GNUTLS_MAC_SHA384, kcapi_md_hmac_sha384, 48,
	      "iv", 12);
	/* Longer than one hash: several HMAC blocks chained. */
	check("SHA-256", GNUTLS_MAC_SHA256, kcapi_md_hmac_sha256, 32,
	      "key", 64);
	return 0;
}
