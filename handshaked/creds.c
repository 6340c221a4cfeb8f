// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Turn configuration and keyring contents into libhandshaked
 * credentials. Loading the system trust store is slow, so the sets
 * from the configuration are built once and shared by reference.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "creds.h"
#include "keyring.h"

static int creds_fail(struct hsd_creds *c, int ret, const char *what,
		      const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen, "Failed to load %s '%s': %s", what, path,
		 c ? hsd_creds_error(c) : strerror(-ret));
	return ret;
}

static int creds_trust(struct hsd_creds *c, const struct hd_auth_conf *a,
		       char *err, size_t errlen)
{
	int ret;

	if (a->truststore)
		ret = hsd_creds_trust_file(c, a->truststore);
	else
		ret = hsd_creds_trust_system(c);
	if (ret < 0)
		return creds_fail(c, ret, "trust store",
				  a->truststore ? a->truststore : "system",
				  err, errlen);

	if (!a->crl)
		return 0;
	ret = hsd_creds_crl_file(c, a->crl);
	if (ret < 0)
		return creds_fail(c, ret, "CRL file", a->crl, err, errlen);
	return 0;
}

static int creds_side(struct hsd_creds **out, const struct hd_auth_conf *a,
		      char *err, size_t errlen)
{
	struct hsd_creds *c;
	int ret;

	ret = hsd_creds_new(&c);
	if (ret < 0)
		return creds_fail(NULL, ret, "credentials", "-", err, errlen);

	ret = creds_trust(c, a, err, errlen);
	if (ret < 0)
		goto unref;

	if (a->certificate && a->private_key) {
		ret = hsd_creds_x509_files(c, a->certificate, a->private_key);
		if (ret < 0) {
			creds_fail(c, ret, "certificate", a->certificate,
				   err, errlen);
			goto unref;
		}
	}

	*out = c;
	return 0;

unref:
	hsd_creds_unref(c);
	return ret;
}

int hd_creds_build(struct hd_creds_set *set, const struct hd_config *cfg,
		   char *err, size_t errlen)
{
	struct hd_creds_set s = { 0 };
	int ret;

	/* An anonymous client shows no certificate but still verifies. */
	ret = creds_side(&s.anon, &(struct hd_auth_conf){
			 .truststore = cfg->client.truststore,
			 .crl = cfg->client.crl }, err, errlen);
	if (ret < 0)
		goto release;
	ret = creds_side(&s.client, &cfg->client, err, errlen);
	if (ret < 0)
		goto release;
	ret = creds_side(&s.server, &cfg->server, err, errlen);
	if (ret < 0)
		goto release;

	*set = s;
	return 0;

release:
	hd_creds_release(&s);
	return ret;
}

void hd_creds_release(struct hd_creds_set *set)
{
	if (set->anon)
		hsd_creds_unref(set->anon);
	if (set->client)
		hsd_creds_unref(set->client);
	if (set->server)
		hsd_creds_unref(set->server);
	memset(set, 0, sizeof(*set));
}

static int creds_read_key(int32_t serial, const char *what, void **data,
			  size_t *len, char *err, size_t errlen)
{
	int ret;

	ret = hd_keyring_read(serial, data, len);
	if (ret < 0) {
		snprintf(err, errlen, "Failed to read %s key %d: %s", what,
			 serial, strerror(-ret));
		/* the consumer named a key we cannot have */
		return ret == -ENOMEM ? ret : -ENOKEY;
	}
	return 0;
}

int hd_creds_from_keys(struct hsd_creds **out, const struct hd_auth_conf *a,
		       int32_t cert, int32_t privkey, char *err, size_t errlen)
{
	void *cert_der = NULL, *key_der = NULL;
	size_t cert_len = 0, key_len = 0;
	struct hsd_creds *c;
	int ret;

	ret = creds_side(&c, &(struct hd_auth_conf){
			 .truststore = a->truststore, .crl = a->crl },
			 err, errlen);
	if (ret < 0)
		return ret;

	ret = creds_read_key(cert, "certificate", &cert_der, &cert_len,
			     err, errlen);
	if (ret < 0)
		goto free_keys;
	ret = creds_read_key(privkey, "private", &key_der, &key_len,
			     err, errlen);
	if (ret < 0)
		goto free_keys;

	ret = hsd_creds_x509_der(c, cert_der, cert_len, key_der, key_len);
	if (ret < 0)
		snprintf(err, errlen, "Failed to load certificate key %d: %s",
			 cert, hsd_creds_error(c));

free_keys:
	hd_keyring_free(cert_der, cert_len);
	hd_keyring_free(key_der, key_len);
	if (ret < 0)
		hsd_creds_unref(c);
	else
		*out = c;
	return ret;
}
