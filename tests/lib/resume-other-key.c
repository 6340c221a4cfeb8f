// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A ticket sealed under one master key means nothing to a server with
 * another: the client offers it, the server runs a full handshake that
 * succeeds, neither side reports the session resumed, and the new
 * server's own ticket then resumes with it.
 */
#include "tu.h"

int main(void)
{
	struct tu_resume a = { 0 }, b = { 0 }, again = { 0 };
	uint8_t key_a[HSD_TICKET_KEY_SIZE], key_b[HSD_TICKET_KEY_SIZE];

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key_a) == 0 &&
		  hsd_ticket_key_generate(key_b) == 0, "keys");

	a.key = key_a;
	a.tickets = true;
	tu_resume_run(&a);
	tu_assert(a.rc_read == 0 && a.new_ticket, "no ticket from key A");

	b.key = key_b;
	b.ticket = a.new_ticket;
	b.ticket_len = a.new_len;
	tu_resume_run(&b);
	tu_assert(b.rc_c == 0 && b.rc_s == 0, "key B: client %d, server %d",
		  b.rc_c, b.rc_s);
	tu_assert(!b.info_c.resumed && !b.info_s.resumed,
		  "key B resumed a ticket of key A");
	tu_assert(b.info_c.peer_verified, "full handshake not verified");
	printf("ok key B ran a full handshake\n");

	tu_assert(b.rc_read == 0 && b.new_ticket, "no ticket from key B");
	again.key = key_b;
	again.ticket = b.new_ticket;
	again.ticket_len = b.new_len;
	tu_resume_run(&again);
	tu_assert(again.rc_c == 0 && again.rc_s == 0 && again.info_c.resumed &&
		  again.info_s.resumed, "key B's own ticket did not resume");
	printf("ok key B resumed its own ticket\n");

	tu_resume_clear(&again);
	tu_resume_clear(&b);
	tu_resume_clear(&a);
	return 0;
}
