// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hsd_psk_identity_hash() reads the hash of NVMe/TCP PSK identities of
 * versions 0 and 1, retained and generated, and refuses garbage,
 * truncated and over-long strings without reading past them.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tu.h"

#define HOST "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
#define SUBSYS "nqn.2024-01.org.example:subsys1"
/* Base64 of 32 and of 48 bytes. */
#define D256 "5q7dSr4Hq7qEvTXZgh4fyzmQiCqPPbRMlYPcCjJyeE4="
#define D384 "Vt5xR6z2Ov5M0kFJ0nEzZ3+HwEJPc8dxYj2Tt3n6O7Q5E3Qu0gM7V0c1Cq5Yk9aD"

static const struct {
	const char *id;
	int hash;
} cases[] = {
	{ "NVMe0R01 " HOST " " SUBSYS, HSD_PSK_SHA256 },
	{ "NVMe0R02 " HOST " " SUBSYS, HSD_PSK_SHA384 },
	{ "NVMe0G01 " HOST " " SUBSYS, HSD_PSK_SHA256 },
	{ "NVMe1R01 " HOST " " SUBSYS, HSD_PSK_SHA256 },
	{ "NVMe1R01 " HOST " " SUBSYS " " D256, HSD_PSK_SHA256 },
	{ "NVMe1R02 " HOST " " SUBSYS " " D384, HSD_PSK_SHA384 },
	{ "NVMe1G02 " HOST " " SUBSYS " " D384, HSD_PSK_SHA384 },
	{ "NVMe1R01 h s", HSD_PSK_SHA256 },

	{ "", -EINVAL },
	{ "NVMe", -EINVAL },
	{ "nvme0R01 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe2R01 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0X01 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0r01 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R00 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R03 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R11 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R1 " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R01" HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R01 " HOST, -EINVAL },
	{ "NVMe0R01 " HOST " ", -EINVAL },
	{ "NVMe0R01  " HOST " " SUBSYS, -EINVAL },
	{ "NVMe0R01 " HOST "  " SUBSYS, -EINVAL },
	{ "NVMe0R01 " HOST " " SUBSYS " ", -EINVAL },
	{ "NVMe0R01 " HOST "\t" SUBSYS, -EINVAL },
	{ "NVMe0R01 " HOST " " SUBSYS "\n", -EINVAL },
	{ "NVMe0R01 " HOST " sub\x80sys", -EINVAL },
	/* Version 0 has no digest. */
	{ "NVMe0R01 " HOST " " SUBSYS " " D256, -EINVAL },
	/* The digest's length follows the hash. */
	{ "NVMe1R01 " HOST " " SUBSYS " " D384, -EINVAL },
	{ "NVMe1R02 " HOST " " SUBSYS " " D256, -EINVAL },
	{ "NVMe1R01 " HOST " " SUBSYS " " D256 "A", -EINVAL },
	{ "NVMe1R01 " HOST " " SUBSYS " " D256 " x", -EINVAL },
	{ "NVMe1R01 " HOST " " SUBSYS " 5q7dSr4Hq7qEvTXZgh4fyzmQiCqPPbRMlYPcCjJy-E4=",
	  -EINVAL },
	{ "NVMe1R01 " HOST " " SUBSYS " 5q7dSr4Hq7qEvTXZgh4fyzmQiCqPPbRMlYPcCjJye===",
	  -EINVAL },
	{ "NVMe1R01 " HOST " " SUBSYS " 5q7dSr4Hq7qEvTXZgh4fyzmQiCqPPbRMlYP=CjJyeE4=",
	  -EINVAL },
};

static void table(void)
{
	size_t i;
	int rc;

	tu_assert(hsd_psk_identity_hash(NULL) == -EINVAL, "NULL accepted");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = hsd_psk_identity_hash(cases[i].id);
		tu_assert(rc == cases[i].hash, "'%s': %d, expected %d",
			  cases[i].id, rc, cases[i].hash);
	}
	printf("ok %zu fixed identities\n", i);
}

/* Every prefix of a valid identity that stops in its fixed part fails. */
static void truncated(void)
{
	static const char full[] = "NVMe1R02 " HOST " " SUBSYS " " D384;
	size_t subsys = strlen("NVMe1R02 " HOST " ");
	size_t digest = subsys + strlen(SUBSYS) + 1;
	char buf[sizeof(full)];
	size_t n;
	int rc, want;

	for (n = 0; n < sizeof(full); n++) {
		memcpy(buf, full, n);
		buf[n] = 0;
		rc = hsd_psk_identity_hash(buf);

		/* A shorter subsystem NQN is still an NQN. */
		want = (n > subsys && n < digest) || n == sizeof(full) - 1 ?
		       HSD_PSK_SHA384 : -EINVAL;
		tu_assert(rc == want, "prefix of %zu bytes: %d, expected %d",
			  n, rc, want);
	}
	printf("ok all %zu prefixes\n", n);
}

static char *nqn(size_t len)
{
	static char buf[300];

	memset(buf, 'n', len);
	buf[len] = 0;
	return buf;
}

/* NQNs of up to 223 bytes pass; longer ones do not. */
static void overlong(void)
{
	char id[1024];

	snprintf(id, sizeof(id), "NVMe0R01 %s " SUBSYS, nqn(223));
	tu_assert(hsd_psk_identity_hash(id) == HSD_PSK_SHA256,
		  "223-byte host NQN refused");
	snprintf(id, sizeof(id), "NVMe0R01 %s " SUBSYS, nqn(224));
	tu_assert(hsd_psk_identity_hash(id) == -EINVAL,
		  "224-byte host NQN accepted");
	snprintf(id, sizeof(id), "NVMe0R01 " HOST " %s", nqn(224));
	tu_assert(hsd_psk_identity_hash(id) == -EINVAL,
		  "224-byte subsystem NQN accepted");
	printf("ok NQN length limit\n");
}

/*
 * The parser reads nothing past the terminating NUL: each string ends
 * right before a page that may not be touched.
 */
static void no_overread(void)
{
	static const char *const ends[] = {
		"N", "NVMe", "NVMe1", "NVMe1R", "NVMe1R0", "NVMe1R02",
		"NVMe1R02 ", "NVMe1R02 h", "NVMe1R02 h s", "NVMe1R02 h s ",
		"NVMe1R02 h s " D384,
	};
	long page = sysconf(_SC_PAGESIZE);
	char *map, *p;
	size_t i, n;

	map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tu_assert(map != MAP_FAILED, "mmap");
	tu_assert(mprotect(map + page, (size_t)page, PROT_NONE) == 0,
		  "mprotect");

	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		n = strlen(ends[i]) + 1;
		p = map + page - n;
		memcpy(p, ends[i], n);
		hsd_psk_identity_hash(p);
	}
	munmap(map, (size_t)page * 2);
	printf("ok no read past the end\n");
}

/* Random bytes after the prefix never crash and rarely pass. */
static void random_tails(void)
{
	char id[64];
	int i, rc, passed = 0;

	memcpy(id, "NVMe", 4);
	for (i = 0; i < 20000; i++) {
		tu_assert(gnutls_rnd(GNUTLS_RND_NONCE, id + 4,
				     sizeof(id) - 5) == 0, "rnd");
		id[4 + (size_t)(i % (int)(sizeof(id) - 5))] = 0;
		rc = hsd_psk_identity_hash(id);
		tu_assert(rc == -EINVAL || rc == HSD_PSK_SHA256 ||
			  rc == HSD_PSK_SHA384, "result %d", rc);
		passed += rc > 0;
	}
	tu_assert(passed < 10, "%d random strings passed", passed);
	printf("ok random tails\n");
}

int main(void)
{
	table();
	truncated();
	overlong();
	no_overread();
	random_tails();
	return 0;
}
