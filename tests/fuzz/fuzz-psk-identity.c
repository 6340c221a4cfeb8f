// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: PSK identities. The first byte picks what gets
 * the rest as a string: the hash an identity names (the daemon's
 * hd_psk_hash() and the library's hsd_psk_identity_hash()), the
 * split of keyctl_describe() text that yields an identity, or the
 * lookup of a negotiated identity among offered ones.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <handshaked/handshaked.h>

#include "keyring.h"
#include "psk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hash(const char *s)
{
	int ret = hd_psk_hash(s);

	if (ret != -EINVAL && ret != HSD_PSK_SHA256 && ret != HSD_PSK_SHA384)
		abort();
	ret = hsd_psk_identity_hash(s);
	if (ret != -EINVAL && ret != HSD_PSK_SHA256 && ret != HSD_PSK_SHA384)
		abort();
}

static void describe(const char *s)
{
	char type[32], *desc = NULL;

	if (hd_keyring_parse_description(s, type, sizeof(type), &desc) == 0) {
		if (strlen(type) >= sizeof(type) || !strstr(s, desc))
			abort();
		free(desc);
	}
}

static void offer(const char *s)
{
	struct hd_psk_offer o = { 0 };
	char *copy = strdup(s), *save = NULL, *id;

	if (!copy)
		return;
	/* identities separated by '\n', the last one is looked up */
	for (id = strtok_r(copy, "\n", &save); id && o.n < HSD_NL_MAX_PEERIDS;
	     id = strtok_r(NULL, "\n", &save)) {
		o.identities[o.n] = strdup(id);
		o.serials[o.n] = (int32_t)o.n + 1;
		if (!o.identities[o.n])
			break;
		o.n++;
	}
	if (o.n && hd_psk_offer_serial(&o, o.identities[o.n - 1]) <= 0)
		abort();
	hd_psk_offer_serial(&o, s);
	hd_psk_offer_free(&o);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	switch (data[0] % 3) {
	case 0:
		hash(s);
		break;
	case 1:
		describe(s);
		break;
	case 2:
		offer(s);
		break;
	}
	free(s);
	return 0;
}
