// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A client that read a ticket from a server resumes with it on a
 * second connection: both sides report the session resumed, it still
 * ran (EC)DHE, the lifetime is the server's, each side still has the
 * peer's certificate (mutual authentication) and reports it verified,
 * and the resumed connection brings a fresh ticket.
 */
#include <string.h>

#include "tu.h"

#define LIFETIME 3600

static void check_full(const struct tu_resume *r)
{
	tu_assert(r->rc_c == 0 && r->rc_s == 0, "full: client %d, server %d",
		  r->rc_c, r->rc_s);
	tu_assert(r->rc_read == 0, "full: reading the ticket: %d",
		  r->rc_read);
	tu_assert(r->new_ticket && r->new_len > 0, "full: no ticket data");
	tu_assert(r->new_lifetime == LIFETIME, "full: lifetime %u",
		  r->new_lifetime);
	tu_assert(!r->info_c.resumed && !r->info_s.resumed,
		  "full handshake reported resumed");
	tu_assert(r->cert_c_len > 0 && r->cert_s_len > 0,
		  "full: peer certificates missing");
}

static void check_resumed(const struct tu_resume *full,
			  const struct tu_resume *r)
{
	tu_assert(r->rc_c == 0 && r->rc_s == 0,
		  "resumed: client %d, server %d", r->rc_c, r->rc_s);
	tu_assert(r->info_c.resumed && r->info_s.resumed,
		  "not resumed: client %d, server %d", r->info_c.resumed,
		  r->info_s.resumed);
	tu_assert(*r->group, "resumed without (EC)DHE");

	tu_assert(r->cert_c_len == full->cert_c_len &&
		  !memcmp(r->cert_c, full->cert_c, r->cert_c_len),
		  "client lost the server certificate on resumption");
	tu_assert(r->cert_s_len == full->cert_s_len &&
		  !memcmp(r->cert_s, full->cert_s, r->cert_s_len),
		  "server lost the client certificate on resumption");
	tu_assert(r->info_c.peer_verified && r->info_s.peer_verified,
		  "resumed: peer_verified client %d, server %d",
		  r->info_c.peer_verified, r->info_s.peer_verified);

	tu_assert(r->rc_read == 0 && r->new_ticket,
		  "resumed: no fresh ticket (%d)", r->rc_read);
	tu_assert(r->new_lifetime > 0 && r->new_lifetime <= LIFETIME,
		  "resumed: lifetime %u", r->new_lifetime);
}

int main(void)
{
	struct tu_resume full = { 0 }, again = { 0 };
	uint8_t key[HSD_TICKET_KEY_SIZE];

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");

	full.key = key;
	full.lifetime = LIFETIME;
	full.tickets = true;
	full.client_auth = HSD_CLIENT_AUTH_REQUIRE;
	tu_resume_run(&full);
	check_full(&full);
	printf("ok full handshake: ticket of %zu bytes, lifetime %u s\n",
	       full.new_len, full.new_lifetime);

	again = full;
	again.ticket = full.new_ticket;
	again.ticket_len = full.new_len;
	tu_resume_run(&again);
	check_resumed(&full, &again);
	printf("ok resumed over %s, peer certificates kept and verified\n",
	       again.group);

	tu_resume_clear(&again);
	tu_resume_clear(&full);
	return 0;
}
