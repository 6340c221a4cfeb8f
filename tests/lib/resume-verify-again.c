// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A resumed session exchanges no certificate, so the one kept in the
 * ticket is verified again: a client offering a ticket under another
 * peer name fails with -EACCES, and a server that requires a client
 * certificate fails (-EACCES) a ticket from a session without one.
 */
#include "tu.h"

static void first(const uint8_t *key, struct tu_resume *r)
{
	r->key = key;
	r->tickets = true;
	tu_resume_run(r);
	tu_assert(r->rc_read == 0 && r->new_ticket, "no ticket");
}

int main(void)
{
	struct tu_resume t = { 0 }, name = { 0 }, auth = { 0 };
	uint8_t key[HSD_TICKET_KEY_SIZE];

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");
	first(key, &t);

	name.key = key;
	name.ticket = t.new_ticket;
	name.ticket_len = t.new_len;
	name.peer_name = "other.example";
	tu_resume_run(&name);
	tu_assert(name.rc_c == -EACCES, "other name: client %d", name.rc_c);
	printf("ok a ticket under another name fails verification\n");

	auth.key = key;
	auth.ticket = t.new_ticket;
	auth.ticket_len = t.new_len;
	auth.client_auth = HSD_CLIENT_AUTH_REQUIRE;
	tu_resume_run(&auth);
	tu_assert(auth.rc_s == -EACCES, "required client cert: server %d",
		  auth.rc_s);
	printf("ok a required client certificate missing from the ticket fails\n");

	tu_resume_clear(&auth);
	tu_resume_clear(&name);
	tu_resume_clear(&t);
	return 0;
}
