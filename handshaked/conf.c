// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Read the configuration file in tlshd's format with libinih. We feed
 * inih line by line through our own reader so that every refusal can
 * name the file, the line and the offending section or key.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "conf.h"
#include "log.h"

enum conf_type {
	CONF_INT,	/* tlshd's numbers: a bad one reads as 0 */
	CONF_STR,
	CONF_BOOL,	/* ours: a bad value is refused */
	CONF_UINT,	/* ours: refused outside min..max */
};

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	size_t offset;
};

#define CLIENT(f) offsetof(struct hd_config, client.f)
#define SERVER(f) offsetof(struct hd_config, server.f)
#define RESUME(f) offsetof(struct hd_config, resume.f)

/* Everything tlshd.conf(5) documents, plus tlshd's hidden delay_done. */
static const struct conf_key conf_keys[] = {
	{ "debug", "loglevel", CONF_INT, offsetof(struct hd_config, loglevel) },
	{ "debug", "tls", CONF_INT, offsetof(struct hd_config, tls_debug) },
	{ "debug", "nl", CONF_INT, offsetof(struct hd_config, nl_debug) },
	{ "debug", "delay_done", CONF_INT,
	  offsetof(struct hd_config, delay_done) },
	{ "authenticate", "keyrings", CONF_STR,
	  offsetof(struct hd_config, keyrings) },
	{ "authenticate.client", "x509.truststore", CONF_STR,
	  CLIENT(truststore) },
	{ "authenticate.client", "x509.crl", CONF_STR, CLIENT(crl) },
	{ "authenticate.client", "x509.certificate", CONF_STR,
	  CLIENT(certificate) },
	{ "authenticate.client", "x509.private_key", CONF_STR,
	  CLIENT(private_key) },
	{ "authenticate.client", "x509.pq.certificate", CONF_STR,
	  CLIENT(pq_certificate) },
	{ "authenticate.client", "x509.pq.private_key", CONF_STR,
	  CLIENT(pq_private_key) },
	{ "authenticate.server", "x509.truststore", CONF_STR,
	  SERVER(truststore) },
	{ "authenticate.server", "x509.crl", CONF_STR, SERVER(crl) },
	{ "authenticate.server", "x509.certificate", CONF_STR,
	  SERVER(certificate) },
	{ "authenticate.server", "x509.private_key", CONF_STR,
	  SERVER(private_key) },
	{ "authenticate.server", "x509.pq.certificate", CONF_STR,
	  SERVER(pq_certificate) },
	{ "authenticate.server", "x509.pq.private_key", CONF_STR,
	  SERVER(pq_private_key) },
	{ "resumption", "client", CONF_BOOL, RESUME(client) },
	{ "resumption", "server", CONF_BOOL, RESUME(server) },
	{ "resumption", "ticket_wait", CONF_UINT, RESUME(ticket_wait_ms) },
	{ "resumption", "ticket_lifetime", CONF_UINT,
	  RESUME(ticket_lifetime_s) },
	{ "resumption", "ticket_key", CONF_STR, RESUME(ticket_key) },
	{ "resumption", "psk", CONF_BOOL, RESUME(psk) },
	{ "resumption", "psk_ke", CONF_BOOL, RESUME(psk_ke) },
	{ "resumption", "cache_size", CONF_UINT, RESUME(cache_size) },
};

/* What each CONF_UINT key takes. */
static const struct conf_range {
	size_t offset;
	unsigned int min, max;
} conf_ranges[] = {
	{ RESUME(ticket_wait_ms), 0, HD_RESUME_TICKET_WAIT_MAX },
	{ RESUME(ticket_lifetime_s), 1, HD_RESUME_LIFETIME_MAX },
	{ RESUME(cache_size), 0, HD_RESUME_CACHE_MAX },
};

#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

struct conf_parse {
	struct hd_config *cfg;
	const char *path;
	FILE *file;
	int line;		/* number of the line inih is working on */
	int seen[N_KEYS];	/* line that last set each key, 0 if none */
	int err;		/* first failure, negative errno */
	char *msg;
	size_t msglen;
};

static bool conf_section_known(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if (strlen(conf_keys[i].section) == len &&
		    !strncmp(conf_keys[i].section, name, len))
			return true;
	}
	return false;
}

static const struct conf_key *conf_key_find(const char *section,
					     const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if (!strcmp(conf_keys[i].section, section) &&
		    !strcmp(conf_keys[i].name, name))
			return &conf_keys[i];
	}
	return NULL;
}

static void __attribute__((format(printf, 3, 4)))
conf_fail(struct conf_parse *p, int err, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (p->err)
		return;
	p->err = err;

	snprintf(p->msg, p->msglen, "%s:%d: ", p->path, p->line);
	used = strlen(p->msg);

	va_start(ap, fmt);
	vsnprintf(p->msg + used, p->msglen - used, fmt, ap);
	va_end(ap);
}

/*
 * inih ignores section headers until a key follows; check them here,
 * where every line passes, so an empty misspelt section is refused too.
 */
static void conf_check_section(struct conf_parse *p, const char *line)
{
	const char *start, *end;

	start = line + strspn(line, " \t");
	if (*start != '[')
		return;

	start++;
	end = strchr(start, ']');
	if (!end) {
		conf_fail(p, -EINVAL, "section header without ']'");
		return;
	}

	if (!conf_section_known(start, end - start)) {
		conf_fail(p, -EINVAL, "unknown section '%.*s'",
			  (int)(end - start), start);
	}
}

/* Control characters other than tab and line ends mean a binary file. */
static bool conf_line_is_text(const char *buf)
{
	for (; *buf; buf++) {
		unsigned char c = *buf;

		if (iscntrl(c) && c != '\t' && c != '\r' && c != '\n')
			return false;
	}
	return true;
}

/*
 * inih takes an indented line for the continuation of the previous
 * value; tlshd's parser ignores indentation, so strip it here.
 */
static void conf_strip_indent(char *buf)
{
	size_t n = strspn(buf, " \t");

	if (n)
		memmove(buf, buf + n, strlen(buf + n) + 1);
}

static char *conf_reader(char *buf, int size, void *stream)
{
	struct conf_parse *p = stream;
	size_t len;

	if (p->err || !fgets(buf, size, p->file))
		return NULL;

	p->line++;
	len = strlen(buf);
	if (len == (size_t)size - 1 && buf[len - 1] != '\n' && !feof(p->file)) {
		/*
		 * TODO: accept longer lines (tlshd has no limit); inih's
		 * INI_MAX_LINE is fixed when the library is built.
		 */
		conf_fail(p, -E2BIG, "line longer than %d characters",
			  size - 2);
		return NULL;
	}

	/* fgets() stops at a newline or the end; anything shorter hid a NUL */
	if (!conf_line_is_text(buf) ||
	    (len && buf[len - 1] != '\n' && !feof(p->file))) {
		conf_fail(p, -EINVAL, "line holds control characters or a NUL byte; is this a text file?");
		return NULL;
	}

	conf_strip_indent(buf);
	conf_check_section(p, buf);
	return p->err ? NULL : buf;
}

static int conf_parse_int(const char *value, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	end += strspn(end, " \t");
	if (errno || end == value || *end || v < 0 || v > 1000)
		return -EINVAL;

	*out = (int)v;
	return 0;
}

static int conf_parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(value, yes[i]) || !strcasecmp(value, no[i])) {
			*out = !strcasecmp(value, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static int conf_parse_uint(const char *value, unsigned int min,
			   unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)*value))
		return -EINVAL;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;

	*out = (unsigned int)v;
	return 0;
}

/* Keys of our own sections refuse what they cannot take. */
static int conf_set_checked(struct conf_parse *p, const struct conf_key *k,
			    const char *value, void *field)
{
	const struct conf_range *r;

	if (k->type == CONF_BOOL) {
		if (conf_parse_bool(value, field) == 0)
			return 0;
		conf_fail(p, -EINVAL, "bad value '%s' for key '%s' in section '%s': want yes or no",
			  value, k->name, k->section);
		return -EINVAL;
	}

	for (r = conf_ranges; r->offset != k->offset; r++)
		;
	if (conf_parse_uint(value, r->min, r->max, field) == 0)
		return 0;
	conf_fail(p, -EINVAL, "bad value '%s' for key '%s' in section '%s': want a number from %u to %u",
		  value, k->name, k->section, r->min, r->max);
	return -EINVAL;
}

static int conf_set(struct conf_parse *p, const struct conf_key *k,
		    const char *value)
{
	void *field = (char *)p->cfg + k->offset;
	char **str = field;
	char *copy;

	if (k->type == CONF_INT) {
		/* tlshd reads a bad number as 0; say so but carry on */
		if (conf_parse_int(value, field) < 0) {
			log_warn("%s:%d: value '%s' of '%s' is not a number, using 0",
				 p->path, p->line, value, k->name);
			*(int *)field = 0;
		}
		return 0;
	}
	if (k->type == CONF_BOOL || k->type == CONF_UINT)
		return conf_set_checked(p, k, value, field);

	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*str);
	*str = copy;
	return 0;
}

static int conf_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct conf_parse *p = user;
	const struct conf_key *k;
	int ret;

	if (p->err)
		return 0;

	if (!*section) {
		conf_fail(p, -EINVAL, "key '%s' outside any section", name);
		return 0;
	}

	k = conf_key_find(section, name);
	if (!k) {
		conf_fail(p, -EINVAL, "unknown key '%s' in section '%s'",
			  name, section);
		return 0;
	}

	/* tlshd keeps the last value; do the same but say so */
	if (p->seen[k - conf_keys])
		log_warn("%s:%d: '%s' in section '%s' repeats line %d, using this value",
			 p->path, p->line, name, section,
			 p->seen[k - conf_keys]);
	p->seen[k - conf_keys] = p->line;

	ret = conf_set(p, k, value);
	if (ret < 0) {
		/* a refused value has said why already */
		conf_fail(p, ret, "no memory for key '%s'", name);
		return 0;
	}
	return 1;
}

static void conf_auth_free(struct hd_auth_conf *a)
{
	free(a->truststore);
	free(a->crl);
	free(a->certificate);
	free(a->private_key);
	free(a->pq_certificate);
	free(a->pq_private_key);
}

void hd_config_free(struct hd_config *cfg)
{
	conf_auth_free(&cfg->client);
	conf_auth_free(&cfg->server);
	free(cfg->keyrings);
	free(cfg->resume.ticket_key);
	memset(cfg, 0, sizeof(*cfg));
}

static void conf_defaults(struct hd_config *cfg)
{
	cfg->resume = (struct hd_resume_conf){
		.client = true,
		.server = true,
		.ticket_wait_ms = HD_RESUME_TICKET_WAIT_MS,
		.ticket_lifetime_s = HD_RESUME_LIFETIME_S,
		.cache_size = HD_RESUME_CACHE_SIZE,
	};
}

static int conf_open(struct conf_parse *p, bool must_exist)
{
	struct stat st;
	int err;

	p->file = fopen(p->path, "re");
	if (!p->file) {
		err = -errno;
		if (err == -ENOENT && !must_exist)
			return 1;
		goto fail;
	}

	if (fstat(fileno(p->file), &st) < 0) {
		err = -errno;
		goto close_file;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto close_file;
	}
	return 0;

close_file:
	fclose(p->file);
	p->file = NULL;
fail:
	snprintf(p->msg, p->msglen, "Failed to open config file '%s': %s",
		 p->path, strerror(-err));
	return err;
}

/* A certificate is useless without its key and the other way round. */
static void conf_check_pair(struct conf_parse *p, const char *section,
			    const char *cert, const char *key)
{
	const struct conf_key *given, *missing;

	given = conf_key_find(section, cert);
	missing = conf_key_find(section, key);
	if (!p->seen[given - conf_keys] == !p->seen[missing - conf_keys])
		return;

	if (!p->seen[given - conf_keys]) {
		given = missing;
		missing = conf_key_find(section, cert);
	}
	p->line = p->seen[given - conf_keys];
	conf_fail(p, -EINVAL, "'%s' in section '%s' needs '%s' too",
		  given->name, section, missing->name);
}

static void conf_check(struct conf_parse *p)
{
	static const char *const sections[] = {
		"authenticate.client", "authenticate.server",
	};
	size_t i;

	for (i = 0; i < 2; i++) {
		conf_check_pair(p, sections[i], "x509.certificate",
				"x509.private_key");
		conf_check_pair(p, sections[i], "x509.pq.certificate",
				"x509.pq.private_key");
	}
}

int hd_config_load(struct hd_config *cfg, const char *path, bool must_exist,
		   char *err, size_t errlen)
{
	struct conf_parse p = {
		.cfg = cfg, .path = path, .msg = err, .msglen = errlen,
	};
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	conf_defaults(cfg);
	err[0] = '\0';

	ret = conf_open(&p, must_exist);
	if (ret < 0)
		memset(cfg, 0, sizeof(*cfg));
	if (ret)
		return ret < 0 ? ret : 0;

	ret = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	if (!p.err && ferror(p.file))
		conf_fail(&p, -EIO, "read error");
	fclose(p.file);

	if (!p.err && ret) {
		/* inih's own complaint: no '=' or an unclosed '[' */
		p.err = -EINVAL;
		snprintf(err, errlen, "%s:%d: syntax error", path,
			 ret > 0 ? ret : p.line);
	}
	if (!p.err)
		conf_check(&p);
	if (p.err) {
		hd_config_free(cfg);
		return p.err;
	}
	return 0;
}
