// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves the client ticket cache: requests that differ in server
 * name, address, authentication, identity or keyring get different
 * keys; the newest ticket per key is handed out until it expires (at
 * the server's lifetime, at most 7 days); a server that sent none is
 * not waited for during the quiet period; the oldest entry goes when
 * the cache is full; clearing wipes every ticket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "ticketcache.h"

#define HOUR_MS (3600ull * 1000)

static struct sockaddr_in addr4(const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	sin.sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sin;
}

static size_t key_of(char *buf, const struct hd_accept *a, const char *ip,
		     int port)
{
	struct sockaddr_in sin = addr4(ip, port);

	return hd_tcache_key(buf, HD_TCACHE_KEY_MAX, a,
			     (struct sockaddr *)&sin, sizeof(sin));
}

static bool same_key(const struct hd_accept *a, const char *ip1, int p1,
		     const struct hd_accept *b, const char *ip2, int p2)
{
	char k1[HD_TCACHE_KEY_MAX], k2[HD_TCACHE_KEY_MAX];
	size_t n1 = key_of(k1, a, ip1, p1), n2 = key_of(k2, b, ip2, p2);

	CHECK(n1 && n2);
	return n1 == n2 && !memcmp(k1, k2, n1);
}

static void test_keys_tell_requests_apart(void)
{
	struct hd_accept a = {
		.auth_mode = HSD_NL_AUTH_X509, .peername = "nfs.example",
	};
	struct hd_accept b = a;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char k[HD_TCACHE_KEY_MAX];

	CHECK(same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.2", 2049));
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 20049));

	snprintf(b.peername, sizeof(b.peername), "other.example");
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));

	b = a;
	b.auth_mode = HSD_NL_AUTH_UNAUTH;
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));

	b = a;
	b.cert = 11;
	b.privkey = 12;
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));
	a.cert = 11;
	a.privkey = 13;
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));

	a = b;
	b.keyring = 99;
	CHECK(!same_key(&a, "192.0.2.1", 2049, &b, "192.0.2.1", 2049));

	/* a name that looks like the next field does not collide */
	a = (struct hd_accept){ .auth_mode = HSD_NL_AUTH_UNAUTH };
	b = a;
	snprintf(a.peername, sizeof(a.peername), "x\n192.0.2.1 2049");
	CHECK(!same_key(&a, "192.0.2.9", 1, &b, "192.0.2.1", 2049));

	a = (struct hd_accept){ .auth_mode = HSD_NL_AUTH_PSK, .n_peerids = 1,
				.peerids = { 7 } };
	b = a;
	b.peerids[0] = 8;
	CHECK(!same_key(&a, "192.0.2.1", 4420, &b, "192.0.2.1", 4420));

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	sin6.sin6_port = htons(2049);
	CHECK(hd_tcache_key(k, sizeof(k), &a, (struct sockaddr *)&sin6,
			    sizeof(sin6)) > 0);
	CHECK_CONTAINS(k, "2001:db8::1 2049");

	/* a key that does not fit is refused, not cut */
	CHECK(hd_tcache_key(k, 8, &a, (struct sockaddr *)&sin6,
			    sizeof(sin6)) == 0);
}

static void put(struct hd_tcache *c, const char *key, const char *ticket,
		uint32_t lifetime_s, uint64_t now)
{
	CHECK(hd_tcache_put(c, key, strlen(key), ticket, strlen(ticket) + 1,
			    lifetime_s, now) == 0);
}

static const char *get(struct hd_tcache *c, const char *key, uint64_t now,
		       bool *wait)
{
	struct hd_tcache_hit hit;

	hd_tcache_lookup(c, key, strlen(key), now, &hit);
	if (wait)
		*wait = hit.wait;
	return hit.ticket;
}

static void test_newest_ticket_until_it_expires(void)
{
	struct hd_tcache c;
	const char *t;
	bool wait;

	hd_tcache_init(&c, 4);
	CHECK(!get(&c, "a", 0, &wait) && wait);

	put(&c, "a", "one", 60, 1000);
	put(&c, "a", "two", 60, 2000);
	t = get(&c, "a", 2000, &wait);
	CHECK(t && !strcmp(t, "two") && wait);
	/* handed out again: reuse is fine until replaced or expired */
	t = get(&c, "a", 3000, NULL);
	CHECK(t && !strcmp(t, "two"));
	CHECK(hd_tcache_count(&c, 3000) == 1);

	CHECK(get(&c, "a", 2000 + 59999, NULL));
	CHECK(!get(&c, "a", 2000 + 60000, NULL));
	CHECK(hd_tcache_count(&c, 2000 + 60000) == 0);

	/* lifetime 0: the server says not to use it */
	put(&c, "b", "three", 60, 0);
	put(&c, "b", "four", 0, 1);
	CHECK(!get(&c, "b", 2, NULL));
	CHECK(hd_tcache_count(&c, 2) == 0);
	hd_tcache_free(&c);
}

static void test_lifetime_is_capped_at_7_days(void)
{
	struct hd_tcache c;

	hd_tcache_init(&c, 4);
	put(&c, "a", "t", UINT32_MAX, 0);
	CHECK(get(&c, "a", 7 * 24 * HOUR_MS - 1, NULL));
	CHECK(!get(&c, "a", 7 * 24 * HOUR_MS, NULL));
	hd_tcache_free(&c);
}

static void test_quiet_server_is_not_waited_for(void)
{
	struct hd_tcache c;
	const char *t;
	bool wait;

	hd_tcache_init(&c, 4);
	CHECK(hd_tcache_put_quiet(&c, "q", 1, 1000) == 0);
	CHECK(!get(&c, "q", 1000, &wait) && !wait);
	CHECK(hd_tcache_count(&c, 1000) == 1);
	CHECK(!get(&c, "q", 1000 + HD_TCACHE_QUIET_MS - 1, &wait) && !wait);
	/* then probe again */
	CHECK(!get(&c, "q", 1000 + HD_TCACHE_QUIET_MS, &wait) && wait);
	CHECK(hd_tcache_count(&c, 1000 + HD_TCACHE_QUIET_MS) == 0);

	/* no new ticket after a resumption: the old one stays usable */
	put(&c, "r", "old", 3600, 0);
	CHECK(hd_tcache_put_quiet(&c, "r", 1, 10) == 0);
	t = get(&c, "r", 20, &wait);
	CHECK(t && !strcmp(t, "old") && !wait);

	/* a ticket ends the quiet period */
	put(&c, "r", "new", 3600, 30);
	t = get(&c, "r", 40, &wait);
	CHECK(t && !strcmp(t, "new") && wait);
	hd_tcache_free(&c);
}

static void test_oldest_entry_is_evicted(void)
{
	struct hd_tcache c;

	hd_tcache_init(&c, 3);
	put(&c, "a", "ta", 60, 0);
	put(&c, "b", "tb", 60, 1);
	put(&c, "c", "tc", 60, 2);
	put(&c, "a", "ta2", 60, 3);	/* a is now the newest */
	put(&c, "d", "td", 60, 4);	/* b goes */
	CHECK(hd_tcache_count(&c, 5) == 3);
	CHECK(get(&c, "a", 5, NULL) && !get(&c, "b", 5, NULL));
	CHECK(get(&c, "c", 5, NULL) && get(&c, "d", 5, NULL));
	CHECK(hd_tcache_put_quiet(&c, "e", 1, 6) == 0);	/* c goes */
	CHECK(!get(&c, "c", 7, NULL) && hd_tcache_count(&c, 7) == 3);
	hd_tcache_free(&c);

	/* size 0 keeps nothing and fails nothing */
	hd_tcache_init(&c, 0);
	put(&c, "a", "ta", 60, 0);
	CHECK(!get(&c, "a", 1, NULL) && hd_tcache_count(&c, 1) == 0);
	hd_tcache_free(&c);
}

/* Many entries: the table still finds every one. */
static void test_many_entries(void)
{
	struct hd_tcache c;
	char key[32], t[32];
	const char *got;
	unsigned int i, found = 0;

	hd_tcache_init(&c, 1000);
	for (i = 0; i < 1500; i++) {
		snprintf(key, sizeof(key), "server-%u", i);
		snprintf(t, sizeof(t), "ticket-%u", i);
		put(&c, key, t, 60, i);
	}
	CHECK(hd_tcache_count(&c, 1500) == 1000);
	for (i = 0; i < 1500; i++) {
		snprintf(key, sizeof(key), "server-%u", i);
		snprintf(t, sizeof(t), "ticket-%u", i);
		got = get(&c, key, 1500, NULL);
		if (i < 500)
			CHECK(!got);
		else if (got && !strcmp(got, t))
			found++;
	}
	CHECK(found == 1000);
	hd_tcache_free(&c);
}

static void test_clear_forgets_everything(void)
{
	struct hd_tcache c;

	hd_tcache_init(&c, 4);
	put(&c, "a", "ta", 60, 0);
	CHECK(hd_tcache_put_quiet(&c, "b", 1, 0) == 0);
	hd_tcache_clear(&c);
	CHECK(hd_tcache_count(&c, 1) == 0);
	CHECK(!get(&c, "a", 1, NULL));
	CHECK(c.max == 4);
	put(&c, "a", "ta", 60, 2);
	CHECK(get(&c, "a", 3, NULL));
	hd_tcache_free(&c);
}

int main(void)
{
	test_keys_tell_requests_apart();
	test_newest_ticket_until_it_expires();
	test_lifetime_is_capped_at_7_days();
	test_quiet_server_is_not_waited_for();
	test_oldest_entry_is_evicted();
	test_many_entries();
	test_clear_forgets_everything();
	return check_exit();
}
