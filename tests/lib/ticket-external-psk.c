// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A server authenticating with an external PSK issues a ticket when
 * given a ticket key; the client resumes with it (still over (EC)DHE),
 * both sides report the session resumed and name the PSK identity of
 * the original handshake; the server's lookup is not asked again.
 */
#include <string.h>

#include <gnutls/crypto.h>

#include "tu.h"

#define ID "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:host nqn.2024-01.test:subsys"

static uint8_t psk[32];
static unsigned int lookups;

static int lookup(void *data, const char *identity, uint8_t *key,
		  size_t *key_len, enum hsd_psk_hash *hash)
{
	lookups++;
	if (strcmp(identity, ID))
		return -ENOKEY;
	memcpy(key, psk, sizeof(psk));
	*key_len = sizeof(psk);
	*hash = HSD_PSK_SHA256;
	return 0;
}

int main(void)
{
	struct tu_resume first = { 0 }, again = { 0 };
	uint8_t key[HSD_TICKET_KEY_SIZE];
	struct hsd_creds *cc, *sc;

	tu_assert(gnutls_rnd(GNUTLS_RND_KEY, psk, sizeof(psk)) == 0, "rnd");
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");
	tu_assert(hsd_creds_new(&cc) == 0 && hsd_creds_new(&sc) == 0, "creds");
	tu_assert(hsd_creds_psk_add(cc, ID, psk, sizeof(psk),
				    HSD_PSK_SHA256) == 0, "psk add");
	tu_assert(hsd_creds_psk_lookup(sc, lookup, NULL) == 0, "lookup");

	first.cc = cc;
	first.sc = sc;
	first.key = key;
	first.tickets = true;
	tu_resume_run(&first);
	tu_assert(first.rc_c == 0 && first.rc_s == 0 && first.rc_read == 0 &&
		  first.new_ticket, "PSK: client %d, server %d, read %d",
		  first.rc_c, first.rc_s, first.rc_read);
	tu_assert(lookups == 1, "%u lookups", lookups);
	printf("ok PSK session with a ticket key issued a ticket\n");

	again = first;
	again.ticket = first.new_ticket;
	again.ticket_len = first.new_len;
	tu_resume_run(&again);
	tu_assert(again.rc_c == 0 && again.rc_s == 0, "client %d, server %d",
		  again.rc_c, again.rc_s);
	tu_assert(again.info_c.resumed && again.info_s.resumed,
		  "PSK ticket did not resume");
	tu_assert(*again.group, "resumed without (EC)DHE");
	tu_assert(!strcmp(again.psk_id_c, ID) && !strcmp(again.psk_id_s, ID),
		  "identities '%s', '%s'", again.psk_id_c, again.psk_id_s);
	tu_assert(lookups == 1, "the resumption looked the key up");
	printf("ok resumed over %s, identity kept\n", again.group);

	tu_resume_clear(&again);
	tu_resume_clear(&first);
	hsd_creds_unref(cc);
	hsd_creds_unref(sc);
	return 0;
}
