// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Ticket data damaged on the way (cut short at any length, or with a
 * byte changed) is not offered, or not accepted: every handshake runs
 * in full and succeeds. GnuTLS leaves a session half set up by data it
 * fails to parse, so this also proves the library never hands it such
 * a session.
 */
#include <string.h>

#include "tu.h"

static void full_with(const uint8_t *key, const uint8_t *data, size_t len,
		      const char *what)
{
	struct tu_resume r = { 0 };

	r.key = key;
	r.ticket = data;
	r.ticket_len = len;
	tu_resume_run(&r);
	tu_assert(r.rc_c == 0 && r.rc_s == 0, "%s: client %d, server %d",
		  what, r.rc_c, r.rc_s);
	tu_assert(!r.info_c.resumed && !r.info_s.resumed, "%s resumed", what);
	tu_resume_clear(&r);
}

int main(void)
{
	uint8_t key[HSD_TICKET_KEY_SIZE], *copy;
	struct tu_resume first = { 0 };
	char what[64];
	size_t len, step;

	tu_certs_setup();
	tu_assert(hsd_ticket_key_generate(key) == 0, "key");
	first.key = key;
	first.tickets = true;
	tu_resume_run(&first);
	tu_assert(first.rc_read == 0 && first.new_ticket, "no ticket");

	/* Every length would take minutes under sanitizers: a spread. */
	step = first.new_len / 97 + 1;
	for (len = 1; len < first.new_len; len += step) {
		snprintf(what, sizeof(what), "cut to %zu bytes", len);
		full_with(key, first.new_ticket, len, what);
	}
	printf("ok cut tickets ran full handshakes\n");

	copy = malloc(first.new_len);
	tu_assert(copy, "malloc");
	memcpy(copy, first.new_ticket, first.new_len);
	copy[0] ^= 0xff;
	full_with(key, copy, first.new_len, "first byte changed");
	printf("ok a changed ticket ran a full handshake\n");

	hsd_ticket_free(copy, first.new_len);
	tu_resume_clear(&first);
	return 0;
}
