// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A ticket past its lifetime does not resume: with a one-second
 * lifetime and two seconds of waiting, the client's offer leads to a
 * full handshake that succeeds, reported as not resumed. The same
 * ticket used at once does resume.
 */
#include <time.h>

#include "tu.h"

static void offer(const uint8_t *key, const struct tu_resume *from,
		  struct tu_resume *r)
{
	r->key = key;
	r->lifetime = 1;
	r->ticket = from->new_ticket;
	r->ticket_len = from->new_len;
	tu_resume_run(r);
	tu_assert(r->rc_c == 0 && r->rc_s == 0, "client %d, server %d",
		  r->rc_c, r->rc_s);
}

int main(void)
{
	struct tu_resume first = { 0 }, soon = { 0 }, late = { 0 };
	struct timespec wait = { .tv_sec = 2, .tv_nsec = 100000000 };
	uint8_t key[HSD_TICKET_KEY_SIZE];

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");

	first.key = key;
	first.lifetime = 1;
	first.tickets = true;
	tu_resume_run(&first);
	tu_assert(first.rc_read == 0 && first.new_ticket, "no ticket");
	tu_assert(first.new_lifetime == 1, "lifetime %u", first.new_lifetime);

	offer(key, &first, &soon);
	tu_assert(soon.info_c.resumed && soon.info_s.resumed,
		  "a fresh ticket did not resume");
	printf("ok resumed within the lifetime\n");

	nanosleep(&wait, NULL);
	offer(key, &first, &late);
	tu_assert(!late.info_c.resumed && !late.info_s.resumed,
		  "an expired ticket resumed");
	printf("ok full handshake once the ticket expired\n");

	tu_resume_clear(&late);
	tu_resume_clear(&soon);
	tu_resume_clear(&first);
	return 0;
}
