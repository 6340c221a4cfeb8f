// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Resumption runs (EC)DHE (psk_dhe_ke) unless both ends allow plain
 * psk_ke (RFC 8446 section 4.2.9): with both, the resumed session has
 * no group; with one side alone, it still has one.
 */
#include "tu.h"

static void resume(const uint8_t *key, bool client, bool server,
		   struct tu_resume *r)
{
	struct tu_resume first = { 0 };

	first.key = key;
	first.tickets = true;
	first.psk_ke_client = client;
	first.psk_ke_server = server;
	tu_resume_run(&first);
	tu_assert(first.rc_read == 0 && first.new_ticket,
		  "no ticket (client %d, server %d)", client, server);

	r->key = key;
	r->ticket = first.new_ticket;
	r->ticket_len = first.new_len;
	r->psk_ke_client = client;
	r->psk_ke_server = server;
	tu_resume_run(r);
	tu_assert(r->rc_c == 0 && r->rc_s == 0 && r->info_c.resumed &&
		  r->info_s.resumed, "not resumed (client %d, server %d)",
		  client, server);
	tu_resume_clear(&first);
}

int main(void)
{
	static const struct {
		bool client, server, psk_ke;
	} cases[] = {
		{ false, false, false },
		{ true, false, false },
		{ false, true, false },
		{ true, true, true },
	};
	uint8_t key[HSD_TICKET_KEY_SIZE];
	struct tu_resume r;
	size_t i;

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = (struct tu_resume){ 0 };
		resume(key, cases[i].client, cases[i].server, &r);
		tu_assert(cases[i].psk_ke ? !*r.group : *r.group != 0,
			  "psk_ke client %d, server %d: group '%s'",
			  cases[i].client, cases[i].server, r.group);
		printf("ok psk_ke client %d, server %d: group '%s'\n",
		       cases[i].client, cases[i].server, r.group);
		tu_resume_clear(&r);
	}
	return 0;
}
