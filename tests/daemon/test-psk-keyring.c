// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves how the daemon finds PSKs in kernel keyrings: a client's keys
 * by serial, with identity, bytes and hash intact, every unusable key
 * refused with its serial named; a server's lookup in the request's
 * and the configured keyrings only. Runs in a fresh session keyring
 * with "user" keys, as the host kernel has no "psk" key type; skips
 * (77) where keyrings are unavailable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keyutils.h>

#include "check.h"
#include "keyring.h"
#include "psk.h"

#define TYPE "user"
#define ID_A "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:a nqn.test:subsys"
#define ID_B "NVMe1R02 nqn.2014-08.org.nvmexpress:uuid:b nqn.test:subsys"

static const uint8_t key_a[32] = { 0xa1, 0xa2, 0xa3, [31] = 0xaf };
static const uint8_t key_b[48] = { 0xb1, 0xb2, 0xb3, [47] = 0xbf };
static const uint8_t key_c[32] = { 0xc1, 0xc2, 0xc3, [31] = 0xcf };

static int32_t add(const char *type, const char *desc, const void *data,
		   size_t len, int32_t ring)
{
	int32_t serial = add_key(type, desc, data, len, ring);

	if (serial < 0) {
		perror(desc);
		exit(EXIT_FAILURE);
	}
	return serial;
}

static int32_t new_ring(const char *name)
{
	return add("keyring", name, NULL, 0, KEY_SPEC_SESSION_KEYRING);
}

static void test_identity_hash(void)
{
	CHECK(hd_psk_hash(ID_A) == HSD_PSK_SHA256);
	CHECK(hd_psk_hash(ID_B) == HSD_PSK_SHA384);
	/* RFC 8446 section 4.2.11: SHA-256 when nothing says otherwise */
	CHECK(hd_psk_hash("client1@example.org") == HSD_PSK_SHA256);
	CHECK(hd_psk_hash("NVMe0R03 host subsys") == -EINVAL);
	CHECK(hd_psk_hash("NVMe") == -EINVAL);
}

static void test_read_gives_identity_key_and_hash(int32_t ring)
{
	int32_t serial = add(TYPE, ID_B, key_b, sizeof(key_b), ring);
	struct hd_psk_key k;
	char err[256] = "";

	CHECK(hd_psk_read(serial, TYPE, &k, err, sizeof(err)) == 0);
	CHECK(k.serial == serial);
	CHECK(k.identity && !strcmp(k.identity, ID_B));
	CHECK(k.key_len == sizeof(key_b));
	CHECK(!memcmp(k.key, key_b, sizeof(key_b)));
	CHECK(k.hash == HSD_PSK_SHA384);

	hd_psk_key_wipe(&k);
	CHECK(k.identity == NULL && k.key_len == 0);
	CHECK(k.key[0] == 0 && k.key[47] == 0);
}

/* A description with ';' must survive keyctl_describe's format. */
static void test_describe_keeps_semicolons(int32_t ring)
{
	int32_t serial = add(TYPE, "a;b;c", key_a, sizeof(key_a), ring);
	char type[16], *desc = NULL;

	CHECK(hd_keyring_describe(serial, type, sizeof(type), &desc) == 0);
	CHECK(!strcmp(type, TYPE));
	CHECK(desc && !strcmp(desc, "a;b;c"));
	free(desc);

	CHECK(hd_keyring_describe(serial, type, 2, &desc) == -ENAMETOOLONG);
}

static void expect_refused(int32_t serial, const char *type,
			   const char *why)
{
	char err[256] = "", name[32];
	struct hd_psk_key k;

	snprintf(name, sizeof(name), "PSK key '%d'", serial);
	CHECK(hd_psk_read(serial, type, &k, err, sizeof(err)) == -ENOKEY);
	CHECK_CONTAINS(err, name);
	CHECK_CONTAINS(err, why);
	CHECK(k.identity == NULL && k.key_len == 0);
}

/*
 * Adding a key of the same type and description to the same keyring
 * updates the old key: each case gets a keyring of its own.
 */
static void test_unusable_keys_are_refused_by_serial(void)
{
	uint8_t big[HSD_PSK_KEY_MAX + 1] = { 1 };
	int32_t gone, hidden;

	expect_refused(add(TYPE, ID_A, key_a, sizeof(key_a),
			   new_ring("hd-test-type")), "psk",
		       "a 'user' key, not 'psk'");
	expect_refused(add(TYPE, "NVMe0R07 h s", key_a, sizeof(key_a),
			   new_ring("hd-test-hash")),
		       TYPE, "names no known hash");
	expect_refused(add(TYPE, ID_A, big, sizeof(big),
			   new_ring("hd-test-big")), TYPE, "65 key bytes");

	gone = add(TYPE, "gone", key_a, sizeof(key_a),
		   new_ring("hd-test-gone"));
	CHECK(keyctl_invalidate(gone) == 0);
	expect_refused(gone, TYPE, "Failed to find");

	/* Viewable but neither readable nor searchable, even for root. */
	hidden = add(TYPE, ID_A, key_a, sizeof(key_a),
		     new_ring("hd-test-hidden"));
	CHECK(keyctl_setperm(hidden, KEY_POS_VIEW | KEY_USR_VIEW) == 0);
	expect_refused(hidden, TYPE, "Failed to read PSK key");
}

static void test_offer_keeps_order_and_maps_identity(void)
{
	int32_t ring = new_ring("hd-test-offer");
	uint32_t serials[2];
	struct hd_psk_offer o;
	struct hsd_creds *c;
	char err[256] = "";

	serials[0] = add(TYPE, ID_A, key_a, sizeof(key_a), ring);
	serials[1] = add(TYPE, "plain identity", key_c, sizeof(key_c), ring);
	CHECK(hsd_creds_new(&c) == 0);

	CHECK(hd_psk_offer_build(&o, c, serials, 2, TYPE, err,
				 sizeof(err)) == 0);
	CHECK(o.n == 2);
	CHECK(hsd_creds_psk_count(c) == 2);
	CHECK(hsd_creds_has_psk(c));
	CHECK(hd_psk_offer_serial(&o, ID_A) == (int32_t)serials[0]);
	CHECK(hd_psk_offer_serial(&o, "plain identity") ==
	      (int32_t)serials[1]);
	CHECK(hd_psk_offer_serial(&o, "other") == 0);
	CHECK(hd_psk_offer_serial(&o, NULL) == 0);

	hd_psk_offer_free(&o);
	hsd_creds_unref(c);
}

static void test_offer_fails_whole_on_one_bad_key(void)
{
	int32_t ring = new_ring("hd-test-offer-bad");
	uint32_t serials[3];
	struct hd_psk_offer o;
	struct hsd_creds *c;
	char err[256] = "", name[32];

	serials[0] = add(TYPE, ID_A, key_a, sizeof(key_a), ring);
	serials[1] = add(TYPE, "x", key_c, sizeof(key_c), ring);
	serials[2] = serials[1];
	CHECK(keyctl_invalidate(serials[1]) == 0);
	CHECK(hsd_creds_new(&c) == 0);

	CHECK(hd_psk_offer_build(&o, c, serials, 3, TYPE, err,
				 sizeof(err)) == -ENOKEY);
	snprintf(name, sizeof(name), "'%d'", serials[1]);
	CHECK_CONTAINS(err, name);
	CHECK(o.n == 0);

	CHECK(hd_psk_offer_build(&o, c, serials, 0, TYPE, err,
				 sizeof(err)) == -EINVAL);
	hsd_creds_unref(c);
}

static int lookup(struct hd_psk_lookup *l, const char *identity,
		  uint8_t *key, size_t *len, enum hsd_psk_hash *hash)
{
	memset(key, 0, HSD_PSK_KEY_MAX);
	*len = 0;
	*hash = 0;
	l->serial = 0;
	l->err = 0;
	l->reason[0] = '\0';
	return hd_psk_lookup(l, identity, key, len, hash);
}

/*
 * Configured keyrings answer; the request's keyring answers first; a
 * keyring some other request linked into our session does not.
 */
static void test_server_lookup_searches_request_and_config(void)
{
	struct hd_psk_lookup l = { .type = TYPE };
	int32_t conf_ring, req_ring, other_ring, in_conf, in_req;
	enum hsd_psk_hash hash;
	uint8_t key[HSD_PSK_KEY_MAX];
	char list[64];
	size_t len;

	conf_ring = new_ring("hd-test-config");
	req_ring = new_ring("hd-test-request");
	other_ring = add("keyring", "hd-test-other", NULL, 0,
			 KEY_SPEC_THREAD_KEYRING);
	in_conf = add(TYPE, ID_A, key_a, sizeof(key_a), conf_ring);
	in_req = add(TYPE, ID_A, key_c, sizeof(key_c), req_ring);
	add(TYPE, "other request's", key_c, sizeof(key_c), other_ring);

	snprintf(list, sizeof(list), "%d", conf_ring);
	hd_keyring_link_config(list);

	CHECK(lookup(&l, ID_A, key, &len, &hash) == 0);
	CHECK(l.serial == in_conf && l.err == 0);
	CHECK(len == sizeof(key_a) && !memcmp(key, key_a, len));
	CHECK(hash == HSD_PSK_SHA256);

	l.keyring = req_ring;
	CHECK(lookup(&l, ID_A, key, &len, &hash) == 0);
	CHECK(l.serial == in_req);
	CHECK(len == sizeof(key_c) && !memcmp(key, key_c, len));

	CHECK(hd_keyring_hold(other_ring) == 0);
	CHECK(lookup(&l, "other request's", key, &len, &hash) == -ENOKEY);
	CHECK(l.err == 0 && l.serial == 0 && len == 0);
	hd_keyring_release(other_ring);

	CHECK(lookup(&l, ID_B, key, &len, &hash) == -ENOKEY);
	CHECK(l.err == 0);
}

/* A key that exists but cannot be used is ENOKEY, not "unknown". */
static void test_server_lookup_unusable_key_is_enokey(void)
{
	struct hd_psk_lookup l = { .type = TYPE };
	uint8_t big[HSD_PSK_KEY_MAX + 8] = { 2 }, key[HSD_PSK_KEY_MAX];
	enum hsd_psk_hash hash;
	char name[32];
	int32_t ring, serial;
	size_t len;

	ring = new_ring("hd-test-unusable");
	serial = add(TYPE, ID_B, big, sizeof(big), ring);
	l.keyring = ring;

	CHECK(lookup(&l, ID_B, key, &len, &hash) < 0);
	CHECK(l.err == -ENOKEY);
	snprintf(name, sizeof(name), "PSK key '%d'", serial);
	CHECK_CONTAINS(l.reason, name);
	CHECK(l.serial == 0 && len == 0);
}

int main(void)
{
	int32_t ring;

	if (keyctl_join_session_keyring(NULL) < 0) {
		fprintf(stderr, "skip: no kernel keyrings here: %m\n");
		return EXIT_SKIP;
	}
	ring = new_ring("hd-test-keys");

	test_identity_hash();
	test_read_gives_identity_key_and_hash(ring);
	test_describe_keeps_semicolons(ring);
	test_unusable_keys_are_refused_by_serial();
	test_offer_keeps_order_and_maps_identity();
	test_offer_fails_whole_on_one_bad_key();
	test_server_lookup_searches_request_and_config();
	test_server_lookup_unusable_key_is_enokey();
	return check_exit();
}
