// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Credentials: a reference-counted GnuTLS certificate credential that
 * holds trust anchors, CRLs and our own certificate chain and key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* GnuTLS codes met while loading files and keys, as errno. */
static int creds_errno(int rc)
{
	switch (rc) {
	case GNUTLS_E_MEMORY_ERROR:
		return -ENOMEM;
	case GNUTLS_E_FILE_ERROR:
		return -ENOENT;
	default:
		return -EINVAL;
	}
}

/*
 * GnuTLS reports every unreadable file as the same "Error while reading
 * file"; try it first so the error text names the real reason.
 */
static int creds_check_file(struct hsd_creds *c, const char *what,
			    const char *path)
{
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		err = -errno;
	else if (fstat(fd, &st) < 0)
		err = -errno;
	else if (S_ISDIR(st.st_mode))
		err = -EISDIR;
	if (fd >= 0)
		close(fd);

	if (err)
		hsd__creds_error(c, "cannot read %s '%s': %s", what, path,
				 strerror(-err));
	return err;
}

int hsd_creds_new(struct hsd_creds **out)
{
	struct hsd_creds *c;
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;

	rc = gnutls_certificate_allocate_credentials(&c->cert);
	if (rc < 0) {
		free(c);
		return creds_errno(rc);
	}

	c->refs = 1;
	*out = c;
	return 0;
}

struct hsd_creds *hsd_creds_ref(struct hsd_creds *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void hsd_creds_unref(struct hsd_creds *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;

	/* GnuTLS wipes private keys as it frees them. */
	gnutls_certificate_free_credentials(c->cert);
	hsd__creds_psk_free(c);
	free(c);
}

int hsd_creds_trust_system(struct hsd_creds *c)
{
	int rc;

	rc = gnutls_certificate_set_x509_system_trust(c->cert);
	if (rc < 0) {
		hsd__creds_error(c, "cannot load the system trust store: %s",
				 gnutls_strerror(rc));
		return creds_errno(rc);
	}
	return 0;
}

int hsd_creds_trust_file(struct hsd_creds *c, const char *path)
{
	int rc;

	rc = creds_check_file(c, "CA file", path);
	if (rc < 0)
		return rc;

	rc = gnutls_certificate_set_x509_trust_file(c->cert, path,
						    GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		hsd__creds_error(c, "cannot load CA file '%s': %s", path,
				 gnutls_strerror(rc));
		return creds_errno(rc);
	}

	if (rc == 0) {
		hsd__creds_error(c, "no certificate in CA file '%s'", path);
		return -EINVAL;
	}
	return 0;
}

int hsd_creds_crl_file(struct hsd_creds *c, const char *path)
{
	int rc;

	rc = creds_check_file(c, "CRL file", path);
	if (rc < 0)
		return rc;

	rc = gnutls_certificate_set_x509_crl_file(c->cert, path,
						  GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		hsd__creds_error(c, "cannot load CRL file '%s': %s", path,
				 gnutls_strerror(rc));
		return creds_errno(rc);
	}
	return 0;
}

int hsd_creds_x509_files(struct hsd_creds *c, const char *cert_path,
			 const char *key_path)
{
	int rc;

	rc = creds_check_file(c, "certificate", cert_path);
	if (rc < 0)
		return rc;
	rc = creds_check_file(c, "private key", key_path);
	if (rc < 0)
		return rc;

	rc = gnutls_certificate_set_x509_key_file2(c->cert, cert_path,
						   key_path,
						   GNUTLS_X509_FMT_PEM,
						   NULL, 0);
	if (rc < 0) {
		hsd__creds_error(c, "cannot load certificate '%s' with key '%s': %s",
				 cert_path, key_path, gnutls_strerror(rc));
		return creds_errno(rc);
	}

	c->has_x509 = true;
	return 0;
}

int hsd_creds_x509_der(struct hsd_creds *c,
		       const void *cert, size_t cert_len,
		       const void *key, size_t key_len)
{
	gnutls_datum_t cert_d = { (void *)cert, (unsigned int)cert_len };
	gnutls_datum_t key_d = { (void *)key, (unsigned int)key_len };
	int rc;

	if (!cert || !key || !cert_len || !key_len ||
	    cert_len > UINT32_MAX || key_len > UINT32_MAX)
		return -EINVAL;

	rc = gnutls_certificate_set_x509_key_mem2(c->cert, &cert_d, &key_d,
						  GNUTLS_X509_FMT_DER,
						  NULL, 0);
	if (rc < 0) {
		hsd__creds_error(c, "cannot load DER certificate and key: %s",
				 gnutls_strerror(rc));
		return creds_errno(rc);
	}

	c->has_x509 = true;
	return 0;
}

bool hsd_creds_has_x509(const struct hsd_creds *c)
{
	return c->has_x509;
}

const char *hsd_creds_error(const struct hsd_creds *c)
{
	return c->error;
}
