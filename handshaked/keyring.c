// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Keyring access with libkeyutils. Credentials named by a request live
 * in keyrings the kernel or the administrator set up; we can read them
 * only once those keyrings are linked into our session keyring.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <keyutils.h>

#include "keyring.h"
#include "log.h"

/* Keyrings tlshd always links; consumers put credentials there. */
static const char *const default_keyrings[] = { ".nvme", ".nfs", ".nfsd" };

struct held_keyring {
	int32_t serial;
	unsigned int refs;
};

/* Requests in flight are few; a full table just skips the unlink. */
static struct held_keyring held[64];

/* The keyrings linked from the configuration, for server lookups. */
static int32_t linked[32];
static size_t n_linked;

static int32_t keyring_lookup(const char *name)
{
	char *end;
	long v;

	if (isdigit((unsigned char)name[0])) {
		v = strtol(name, &end, 0);
		if (!*end && v > 0 && v <= INT32_MAX)
			return (int32_t)v;
	}
	return find_key_by_type_and_desc("keyring", name, 0);
}

static void keyring_link_one(const char *name)
{
	int32_t serial;

	serial = keyring_lookup(name);
	if (serial < 0) {
		log_debug("Failed to find keyring '%s': %m", name);
		return;
	}

	if (keyctl_link(serial, KEY_SPEC_SESSION_KEYRING) < 0) {
		log_debug("Failed to link keyring '%s': %m", name);
		return;
	}

	log_debug("Linked keyring '%s' (%d)", name, serial);
	if (n_linked < sizeof(linked) / sizeof(linked[0]))
		linked[n_linked++] = serial;
}

void hd_keyring_link_config(const char *list)
{
	char *copy, *name, *save = NULL;
	size_t i;

	n_linked = 0;
	for (i = 0; i < sizeof(default_keyrings) / sizeof(char *); i++)
		keyring_link_one(default_keyrings[i]);

	if (!list)
		return;
	copy = strdup(list);
	if (!copy)
		return;

	for (name = strtok_r(copy, ";", &save); name;
	     name = strtok_r(NULL, ";", &save)) {
		name += strspn(name, " \t");
		if (*name)
			keyring_link_one(name);
	}
	free(copy);
}

static struct held_keyring *held_find(int32_t serial)
{
	size_t i;

	for (i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		if (held[i].serial == serial)
			return &held[i];
	return NULL;
}

static bool keyring_linked_by_config(int32_t keyring)
{
	size_t i;

	for (i = 0; i < n_linked; i++)
		if (linked[i] == keyring)
			return true;
	return false;
}

int hd_keyring_hold(int32_t keyring)
{
	struct held_keyring *h;

	/* .nvme is often a request's keyring: it stays linked for all. */
	if (keyring_linked_by_config(keyring))
		return 0;

	h = held_find(keyring);
	if (h) {
		h->refs++;
		return 0;
	}

	if (keyctl_link(keyring, KEY_SPEC_SESSION_KEYRING) < 0)
		return -errno;

	h = held_find(0);
	if (h) {
		h->serial = keyring;
		h->refs = 1;
	}
	return 0;
}

void hd_keyring_release(int32_t keyring)
{
	struct held_keyring *h;

	h = held_find(keyring);
	if (!h || --h->refs)
		return;

	keyctl_unlink(keyring, KEY_SPEC_SESSION_KEYRING);
	h->serial = 0;
}

int hd_keyring_new_session(void)
{
	if (keyctl_join_session_keyring(NULL) < 0)
		return -errno;
	return 0;
}

void hd_keyring_free(void *data, size_t len)
{
	if (!data)
		return;
	explicit_bzero(data, len);
	free(data);
}

int hd_keyring_read(int32_t serial, void **data, size_t *len)
{
	size_t size = 0;
	void *buf = NULL;
	long n;

	/* The payload may grow between the calls: read until it fits. */
	for (;;) {
		n = keyctl_read(serial, buf, size);
		if (n < 0) {
			n = -errno;
			hd_keyring_free(buf, size);
			return (int)n;
		}
		if ((size_t)n <= size && buf)
			break;

		hd_keyring_free(buf, size);
		size = (size_t)n;
		buf = malloc(size ? size : 1);
		if (!buf)
			return -ENOMEM;
	}

	*data = buf;
	*len = (size_t)n;
	return 0;
}

int hd_keyring_parse_description(const char *text, char *type,
				 size_t typelen, char **desc)
{
	const char *p = text;
	size_t n;
	int i;

	/* The description itself may hold ';': count from the left. */
	for (i = 0; i < 4 && p; i++) {
		p = strchr(p, ';');
		if (p)
			p++;
	}
	n = strcspn(text, ";");
	if (!p)
		return -EINVAL;
	if (n >= typelen)
		return -ENAMETOOLONG;

	memcpy(type, text, n);
	type[n] = '\0';
	*desc = strdup(p);
	return *desc ? 0 : -ENOMEM;
}

int hd_keyring_describe(int32_t serial, char *type, size_t typelen,
			char **desc)
{
	char *text;
	int ret;

	if (keyctl_describe_alloc(serial, &text) < 0)
		return -errno;

	ret = hd_keyring_parse_description(text, type, typelen, desc);
	free(text);
	return ret;
}

int32_t hd_keyring_search(int32_t keyring, const char *type,
			  const char *desc)
{
	long serial;

	serial = keyctl_search(keyring, type, desc, 0);
	return serial < 0 ? -errno : (int32_t)serial;
}

int32_t hd_keyring_search_config(const char *type, const char *desc)
{
	int32_t serial = -ENOKEY;
	size_t i;

	for (i = 0; i < n_linked && serial == -ENOKEY; i++)
		serial = hd_keyring_search(linked[i], type, desc);
	return serial;
}

int32_t hd_keyring_add_cert(const void *der, size_t len, const char *desc)
{
	int32_t serial;

	serial = add_key("asymmetric", desc, der, len, KEY_SPEC_USER_KEYRING);
	return serial < 0 ? -errno : serial;
}
