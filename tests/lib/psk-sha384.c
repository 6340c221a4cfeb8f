// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A SHA-384 PSK negotiates AES-256-GCM (TLS_AES_256_GCM_SHA384) and
 * nothing else; a key whose hash the two sides disagree on fails.
 * With a GnuTLS older than 3.8.11, which binds every PSK to SHA-256,
 * the library refuses SHA-384 keys on both sides and the test skips.
 */
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tu.h"

#define ID "NVMe1R02 nqn.2014-08.org.nvmexpress:uuid:host nqn.2024-01.test:subsys"

static uint8_t key[48];

static int lookup_384(void *data, const char *identity, uint8_t *out,
		      size_t *out_len, enum hsd_psk_hash *hash)
{
	if (strcmp(identity, ID))
		return -ENOKEY;
	memcpy(out, key, sizeof(key));
	*out_len = sizeof(key);
	*hash = HSD_PSK_SHA384;
	return 0;
}

struct result {
	int rc_c, rc_s;
	char cipher[2][32];
	char ident[2][128];
};

static void record(struct hsd_session *s, struct result *r, int side)
{
	const char *id = hsd_session_psk_identity(s);
	struct hsd_info info;

	if (hsd_session_info(s, &info) == 0)
		snprintf(r->cipher[side], sizeof(r->cipher[0]), "%s",
			 info.cipher);
	snprintf(r->ident[side], sizeof(r->ident[0]), "%s", id ? id : "");
}

/* Handshake a client holding client_hash against the SHA-384 lookup. */
static void run(enum hsd_psk_hash client_hash, unsigned int mask,
		struct result *r)
{
	struct hsd_creds *cc, *sc;
	struct hsd_session *c, *s;
	int fds[2];

	memset(r, 0, sizeof(*r));
	tu_assert(hsd_creds_new(&cc) == 0 && hsd_creds_new(&sc) == 0,
		  "creds");
	tu_assert(hsd_creds_psk_add(cc, ID, key, sizeof(key),
				    client_hash) == 0,
		  "psk add: %s", hsd_creds_error(cc));
	tu_assert(hsd_creds_psk_lookup(sc, lookup_384, NULL) == 0, "lookup");

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	tu_assert(hsd_session_set_ciphers(c, mask) == 0, "mask");

	tu_run_pair(c, fds[0], s, fds[1], &r->rc_c, &r->rc_s);
	if (r->rc_c || r->rc_s)
		printf("  client %d '%s', server %d '%s'\n", r->rc_c,
		       hsd_session_error(c), r->rc_s, hsd_session_error(s));
	record(c, r, 0);
	record(s, r, 1);

	tu_pair_free(c, s, cc, sc, fds);
}

#ifdef HAVE_GNUTLS_PSK_CREDENTIALS2
static void sha384(void)
{
	struct result r;
	int i;

	run(HSD_PSK_SHA384, HSD_CIPHERS_ALL, &r);
	tu_assert(r.rc_c == 0 && r.rc_s == 0, "client %d, server %d",
		  r.rc_c, r.rc_s);
	for (i = 0; i < 2; i++) {
		tu_assert(!strcmp(r.cipher[i], "AES-256-GCM"),
			  "side %d cipher '%s'", i, r.cipher[i]);
		tu_assert(!strcmp(r.ident[i], ID), "side %d identity '%s'",
			  i, r.ident[i]);
	}
	printf("ok SHA-384 PSK: AES-256-GCM\n");

	run(HSD_PSK_SHA384, HSD_CIPHERS_ALL & ~HSD_AES_256_GCM, &r);
	tu_assert(r.rc_c == -EINVAL, "no AES-256-GCM: client %d", r.rc_c);
	printf("ok SHA-384 PSK without AES-256-GCM is refused\n");

	/* The client binds the key to SHA-256, the server to SHA-384. */
	run(HSD_PSK_SHA256, HSD_CIPHERS_ALL, &r);
	tu_assert(r.rc_c < 0 && r.rc_s == -EKEYREJECTED,
		  "hash mismatch: client %d, server %d", r.rc_c, r.rc_s);
	printf("ok a key bound to two hashes fails\n");
}
#else
static void sha384(void)
{
	struct hsd_creds *c;
	struct result r;

	tu_assert(hsd_creds_new(&c) == 0, "creds");
	tu_assert(hsd_creds_psk_add(c, ID, key, sizeof(key),
				    HSD_PSK_SHA384) == -EOPNOTSUPP,
		  "client took a SHA-384 key");
	hsd_creds_unref(c);

	run(HSD_PSK_SHA256, HSD_CIPHERS_ALL, &r);
	tu_assert(r.rc_s == -EOPNOTSUPP, "server %d", r.rc_s);
	tu_assert(r.rc_c < 0, "client %d", r.rc_c);
	tu_skip("SHA-384 keys refused on both sides: GnuTLS older than 3.8.11 binds every PSK to SHA-256");
}
#endif

int main(void)
{
	tu_assert(gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) == 0, "rnd");
	sha384();
	return 0;
}
