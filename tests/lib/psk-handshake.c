// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A library client and a library server complete TLS 1.3 PSK
 * handshakes with SHA-256 keys: the cipher follows the key's hash, the
 * group is (EC)DHE unless both sides allow psk_ke, both report the
 * identity in use. A wrong key or an unknown identity fails both
 * sides with -EKEYREJECTED; bad keys are refused when added.
 */
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tu.h"

#define ID_A "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:host-a nqn.2024-01.test:subsys"
#define ID_B "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:host-b nqn.2024-01.test:subsys"

struct table_key {
	const char *identity;
	uint8_t key[32];
	int lookup_rc;		/* what the lookup returns for it */
};

static struct table_key table[2];
static unsigned int lookups;

static int table_lookup(void *data, const char *identity, uint8_t *key,
			size_t *key_len, enum hsd_psk_hash *hash)
{
	struct table_key *t = data;
	int i;

	lookups++;
	for (i = 0; i < 2; i++) {
		if (!t[i].identity || strcmp(t[i].identity, identity))
			continue;
		if (t[i].lookup_rc)
			return t[i].lookup_rc;
		memcpy(key, t[i].key, sizeof(t[i].key));
		*key_len = sizeof(t[i].key);
		*hash = HSD_PSK_SHA256;
		return 0;
	}
	return -ENOKEY;
}

static void table_setup(void)
{
	memset(table, 0, sizeof(table));
	table[0].identity = ID_A;
	table[1].identity = ID_B;
	tu_assert(gnutls_rnd(GNUTLS_RND_KEY, table[0].key, 32) == 0 &&
		  gnutls_rnd(GNUTLS_RND_KEY, table[1].key, 32) == 0, "rnd");
}

struct run {
	unsigned int mask;
	bool psk_ke_client, psk_ke_server;
	const uint8_t *client_key;	/* default: table[0].key */
	const char *client_id;		/* default: ID_A */
	const char *second_id;		/* offered second, if set */

	int rc_c, rc_s;
	char cipher[2][32];
	char group[2][32];
	char ident[2][128];
	int client_alert;
};

static void record(struct hsd_session *s, struct run *r, int side)
{
	const char *id = hsd_session_psk_identity(s);
	struct hsd_info info;

	if (hsd_session_info(s, &info) == 0) {
		snprintf(r->cipher[side], sizeof(r->cipher[0]), "%s",
			 info.cipher);
		snprintf(r->group[side], sizeof(r->group[0]), "%s",
			 info.group);
	}
	snprintf(r->ident[side], sizeof(r->ident[0]), "%s", id ? id : "");
}

static void run(struct run *r)
{
	const uint8_t *key = r->client_key ? r->client_key : table[0].key;
	struct hsd_creds *cc, *sc;
	struct hsd_session *c, *s;
	int fds[2];

	tu_assert(hsd_creds_new(&cc) == 0 && hsd_creds_new(&sc) == 0,
		  "creds");
	tu_assert(hsd_creds_psk_add(cc, r->client_id ? r->client_id : ID_A,
				    key, 32, HSD_PSK_SHA256) == 0,
		  "psk add: %s", hsd_creds_error(cc));
	if (r->second_id)
		tu_assert(hsd_creds_psk_add(cc, r->second_id, table[1].key,
					    32, HSD_PSK_SHA256) == 0,
			  "second psk add");
	tu_assert(hsd_creds_psk_lookup(sc, table_lookup, table) == 0,
		  "lookup");

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	hsd_session_set_psk_ke(c, r->psk_ke_client);
	hsd_session_set_psk_ke(s, r->psk_ke_server);
	if (r->mask)
		tu_assert(hsd_session_set_ciphers(c, r->mask) == 0 &&
			  hsd_session_set_ciphers(s, r->mask) == 0, "mask");
	tu_assert(!hsd_session_psk_identity(c) && !hsd_session_psk_identity(s),
		  "identity reported before the handshake");

	tu_run_pair(c, fds[0], s, fds[1], &r->rc_c, &r->rc_s);
	if (r->rc_c || r->rc_s)
		printf("  client %d '%s', server %d '%s'\n", r->rc_c,
		       hsd_session_error(c), r->rc_s, hsd_session_error(s));
	record(c, r, 0);
	record(s, r, 1);
	r->client_alert = hsd_session_alert(c);

	tu_pair_free(c, s, cc, sc, fds);
}

static bool is_ecdhe(const char *group)
{
	static const char *const ec[] = {
		"X25519", "X448", "SECP256R1", "SECP384R1", "SECP521R1",
	};
	size_t i;

	for (i = 0; i < sizeof(ec) / sizeof(ec[0]); i++)
		if (!strcmp(group, ec[i]))
			return true;
	return false;
}

static bool is_sha256_suite(const char *cipher)
{
	return !strcmp(cipher, "AES-128-GCM") ||
	       !strcmp(cipher, "AES-128-CCM") ||
	       !strcmp(cipher, "CHACHA20-POLY1305");
}

static void check_ok(const struct run *r, const char *what,
		     const char *cipher, const char *identity)
{
	int i;

	tu_assert(r->rc_c == 0 && r->rc_s == 0, "%s: client %d, server %d",
		  what, r->rc_c, r->rc_s);
	for (i = 0; i < 2; i++) {
		tu_assert(cipher ? !strcmp(r->cipher[i], cipher) :
			  is_sha256_suite(r->cipher[i]),
			  "%s: side %d cipher '%s'", what, i, r->cipher[i]);
		tu_assert(!strcmp(r->ident[i], identity),
			  "%s: side %d identity '%s'", what, i, r->ident[i]);
	}
	tu_assert(!strcmp(r->cipher[0], r->cipher[1]) &&
		  !strcmp(r->group[0], r->group[1]), "%s: sides disagree",
		  what);
}

static void sha256_default(void)
{
	struct run r = { 0 };

	run(&r);
	check_ok(&r, "default", NULL, ID_A);
	tu_assert(is_ecdhe(r.group[0]), "default: group '%s' is not ECDHE",
		  r.group[0]);
	printf("ok SHA-256 PSK: %s, %s\n", r.cipher[0], r.group[0]);
}

static void sha256_ciphers(void)
{
	static const unsigned int masks[] = {
		HSD_AES_128_GCM, HSD_AES_128_CCM, HSD_CHACHA20_POLY1305,
	};
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.mask = masks[i];
		run(&r);
		check_ok(&r, tu_cipher_name(masks[i]),
			 tu_cipher_name(masks[i]), ID_A);
	}

	/* AES-256-GCM is a SHA-384 suite: no SHA-256 PSK handshake. */
	memset(&r, 0, sizeof(r));
	r.mask = HSD_AES_256_GCM;
	run(&r);
	tu_assert(r.rc_c == -EINVAL, "AES-256-GCM only: client %d", r.rc_c);
	printf("ok SHA-256 PSK follows the cipher mask, refuses AES-256-GCM\n");
}

static void psk_ke(void)
{
	struct run r = { 0 };

	r.psk_ke_client = r.psk_ke_server = true;
	run(&r);
	check_ok(&r, "psk_ke", NULL, ID_A);
	tu_assert(!strcmp(r.group[0], ""), "psk_ke: group '%s'", r.group[0]);

	/* One side alone keeps (EC)DHE. */
	memset(&r, 0, sizeof(r));
	r.psk_ke_client = true;
	run(&r);
	check_ok(&r, "psk_ke client only", NULL, ID_A);
	tu_assert(is_ecdhe(r.group[0]), "psk_ke client only: group '%s'",
		  r.group[0]);

	memset(&r, 0, sizeof(r));
	r.psk_ke_server = true;
	run(&r);
	check_ok(&r, "psk_ke server only", NULL, ID_A);
	tu_assert(is_ecdhe(r.group[0]), "psk_ke server only: group '%s'",
		  r.group[0]);
	printf("ok psk_ke only when both sides allow it\n");
}

static void wrong_key(void)
{
	struct run r = { 0 };
	uint8_t other[32];

	memcpy(other, table[0].key, sizeof(other));
	other[31] ^= 1;
	r.client_key = other;
	run(&r);
	tu_assert(r.rc_s == -EKEYREJECTED, "wrong key: server %d", r.rc_s);
	tu_assert(r.rc_c == -EKEYREJECTED, "wrong key: client %d", r.rc_c);
	tu_assert(r.client_alert == GNUTLS_A_DECRYPT_ERROR,
		  "wrong key: client got alert %d", r.client_alert);
	tu_assert(!*r.ident[0] && !*r.ident[1], "identity after failure");
	printf("ok wrong key: both sides -EKEYREJECTED\n");
}

static void unknown_identity(void)
{
	struct run r = { 0 };

	r.client_id = "NVMe0R01 nqn.unknown.host nqn.2024-01.test:subsys";
	lookups = 0;
	run(&r);
	tu_assert(lookups > 0, "the lookup was never asked");
	tu_assert(r.rc_s == -EKEYREJECTED, "unknown: server %d", r.rc_s);
	tu_assert(r.rc_c == -EKEYREJECTED, "unknown: client %d", r.rc_c);
	tu_assert(r.client_alert == GNUTLS_A_UNKNOWN_PSK_IDENTITY,
		  "unknown: client got alert %d", r.client_alert);
	printf("ok unknown identity: both sides -EKEYREJECTED\n");
}

static void lookup_error(void)
{
	struct run r = { 0 };

	table[0].lookup_rc = -EIO;
	run(&r);
	table[0].lookup_rc = 0;
	tu_assert(r.rc_s == -EIO, "lookup error: server %d", r.rc_s);
	tu_assert(r.rc_c < 0, "lookup error: client %d", r.rc_c);
	printf("ok a failing lookup fails the server with its error\n");
}

/* GnuTLS sends only the first identity: the server never sees B. */
static void first_identity_only(void)
{
	struct run r = { 0 };

	r.second_id = ID_B;
	run(&r);
	check_ok(&r, "two identities", NULL, ID_A);

	memset(&r, 0, sizeof(r));
	r.client_id = "NVMe0R01 nqn.unknown.host nqn.2024-01.test:subsys";
	r.second_id = ID_B;
	run(&r);
	tu_assert(r.rc_s == -EKEYREJECTED,
		  "second identity was offered: server %d", r.rc_s);
	printf("ok the first identity is the one offered\n");
}

static void bad_adds(void)
{
	uint8_t key[HSD_PSK_KEY_MAX + 1] = { 1 };
	char long_id[HSD_PSK_IDENTITY_MAX + 2];
	struct hsd_creds *c;

	tu_assert(hsd_creds_new(&c) == 0, "creds");
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;

	tu_assert(!hsd_creds_has_psk(c), "empty creds have a PSK");
	tu_assert(hsd_creds_psk_add(c, "", key, 32, HSD_PSK_SHA256) == -EINVAL,
		  "empty identity taken");
	tu_assert(hsd_creds_psk_add(c, NULL, key, 32, HSD_PSK_SHA256) ==
		  -EINVAL, "NULL identity taken");
	tu_assert(hsd_creds_psk_add(c, long_id, key, 32, HSD_PSK_SHA256) ==
		  -EINVAL, "over-long identity taken");
	tu_assert(hsd_creds_psk_add(c, ID_A, key, 0, HSD_PSK_SHA256) ==
		  -EINVAL, "empty key taken");
	tu_assert(hsd_creds_psk_add(c, ID_A, key, sizeof(key),
				    HSD_PSK_SHA256) == -EINVAL,
		  "over-long key taken");
	tu_assert(hsd_creds_psk_add(c, ID_A, key, 32, 3) == -EINVAL,
		  "unknown hash taken");
	tu_assert(hsd_creds_psk_count(c) == 0, "a bad PSK was kept");

	long_id[HSD_PSK_IDENTITY_MAX] = 0;
	tu_assert(hsd_creds_psk_add(c, long_id, key, 32, HSD_PSK_SHA256) == 0,
		  "longest identity refused");
	tu_assert(hsd_creds_psk_count(c) == 1 && hsd_creds_has_psk(c),
		  "PSK not counted");
	tu_assert(hsd_creds_psk_lookup(c, NULL, NULL) == -EINVAL,
		  "NULL lookup taken");
	hsd_creds_unref(c);
	printf("ok bad identities, keys and hashes are refused\n");
}

int main(void)
{
	table_setup();
	bad_adds();
	sha256_default();
	sha256_ciphers();
	psk_ke();
	wrong_key();
	unknown_identity();
	lookup_error();
	first_identity_only();
	return 0;
}
