// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves that the daemon reads tlshd-format configuration files and
 * refuses bad ones with the file, line and offending name in the
 * message. Files are written to a temporary directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conf.h"

static char dir[] = "/tmp/hd-test-config-XXXXXX";

static const char *write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(EXIT_FAILURE);
	}
	return path;
}

/* Every documented key, with the spacing and comments tlshd allows. */
static void test_full_file_is_read(void)
{
	const char *path = write_conf("full.conf",
		"# written for the daemon tests\n"
		"[debug]\n"
		"loglevel=2\n"
		"tls = 5\n"
		"nl=1\n"
		"delay_done=0\n"
		"\n"
		"[authenticate]\n"
		"keyrings=.mine;1234\n"
		"\n"
		"[authenticate.client]\n"
		"x509.truststore= /etc/ssl/client-ca.pem\n"
		"x509.crl=/etc/ssl/client.crl\n"
		"x509.certificate=/etc/ssl/client.pem\n"
		"x509.private_key=/etc/ssl/client.key\n"
		"\n"
		"[authenticate.server]\n"
		"# x509.truststore= <pathname>\n"
		"x509.certificate=/etc/ssl/server.pem\n"
		"x509.private_key=/etc/ssl/server.key\n"
		"x509.pq.certificate=/etc/ssl/server-mldsa.pem\n"
		"x509.pq.private_key=/etc/ssl/server-mldsa.key\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.loglevel == 2);
	CHECK(cfg.tls_debug == 5);
	CHECK(cfg.nl_debug == 1);
	CHECK(cfg.keyrings && !strcmp(cfg.keyrings, ".mine;1234"));
	CHECK(cfg.client.truststore &&
	      !strcmp(cfg.client.truststore, "/etc/ssl/client-ca.pem"));
	CHECK(cfg.client.crl && !strcmp(cfg.client.crl, "/etc/ssl/client.crl"));
	CHECK(cfg.client.private_key &&
	      !strcmp(cfg.client.private_key, "/etc/ssl/client.key"));
	CHECK(!cfg.server.truststore);
	CHECK(cfg.server.certificate &&
	      !strcmp(cfg.server.certificate, "/etc/ssl/server.pem"));
	CHECK(cfg.server.pq_private_key &&
	      !strcmp(cfg.server.pq_private_key, "/etc/ssl/server-mldsa.key"));
	hd_config_free(&cfg);
}

static void test_missing_files(void)
{
	struct hd_config cfg;
	char err[512], path[300];

	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	CHECK(hd_config_load(&cfg, path, false, err, sizeof(err)) == 0);
	CHECK(cfg.loglevel == 0 && !cfg.keyrings && !cfg.server.certificate);

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == -ENOENT);
	CHECK_CONTAINS(err, path);
}

static void test_empty_file_gives_defaults(void)
{
	const char *path = write_conf("empty.conf", "");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.loglevel == 0 && !cfg.client.truststore);
	hd_config_free(&cfg);
}

/* tlshd reads a bad number as 0 rather than refusing to start. */
static void test_bad_number_reads_as_zero(void)
{
	const char *path = write_conf("number.conf",
				      "[debug]\nloglevel=lots\ntls=3\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.loglevel == 0);
	CHECK(cfg.tls_debug == 3);
	hd_config_free(&cfg);
}

/* Load text that must be refused; the message must hold every part. */
static void expect_refused(const char *name, const char *text, int line,
			   const char *what)
{
	const char *path = write_conf(name, text);
	char err[512], where[300];
	struct hd_config cfg;

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) < 0);
	snprintf(where, sizeof(where), "%s:%d:", path, line);
	CHECK_CONTAINS(err, where);
	CHECK_CONTAINS(err, what);
	CHECK(!cfg.keyrings && !cfg.server.certificate);
}

static void test_bad_files_are_refused(void)
{
	expect_refused("key.conf",
		       "[debug]\nloglevel=1\nverbose=1\n", 3, "'verbose'");
	expect_refused("wrongsection.conf",
		       "[authenticate]\nkeyrings=.nfs\n"
		       "x509.truststore=/ca.pem\n", 3, "'x509.truststore'");
	expect_refused("section.conf",
		       "[debug]\nloglevel=1\n\n[authenticate.clent]\n",
		       4, "'authenticate.clent'");
	expect_refused("after.conf",
		       "[authenticate.server]\n"
		       "x509.certificate=/s.pem\n"
		       "[extra]\nname=value\n", 3, "'extra'");
	expect_refused("nosection.conf",
		       "# no section yet\nloglevel=1\n", 2, "'loglevel'");
	expect_refused("syntax.conf",
		       "[debug]\nloglevel=1\nthis line has no equals sign\n",
		       3, "syntax error");
	expect_refused("unclosed.conf",
		       "[debug\nloglevel=1\n", 1, "without ']'");
	expect_refused("binary.conf",
		       "[debug]\nloglevel=1\x01\x7f\n", 2,
		       "control characters");
	expect_refused("certonly.conf",
		       "[authenticate.server]\nx509.certificate=/s.pem\n",
		       2, "needs 'x509.private_key'");
	expect_refused("keyonly.conf",
		       "[authenticate.client]\nx509.truststore=/ca.pem\n"
		       "x509.private_key=/k.pem\n",
		       3, "needs 'x509.certificate'");
}

/* A NUL byte cannot pass through a C string: write it by hand. */
static void test_nul_byte_is_refused(void)
{
	static const char text[] = "[debug]\nloglevel=1\0junk\ntls=1\n";
	char path[256], err[512];
	struct hd_config cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	f = fopen(path, "w");
	CHECK(f && fwrite(text, 1, sizeof(text) - 1, f) == sizeof(text) - 1);
	if (f)
		fclose(f);

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == -EINVAL);
	CHECK_CONTAINS(err, ":2:");
	CHECK_CONTAINS(err, "NUL");
}

static void test_directory_is_refused(void)
{
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, dir, true, err, sizeof(err)) == -EISDIR);
	CHECK_CONTAINS(err, dir);
	CHECK_CONTAINS(err, "Is a directory");
}

/* tlshd ignores indentation; inih would glue the line to the one above. */
static void test_indented_keys_are_keys(void)
{
	const char *path = write_conf("indent.conf",
				      "[authenticate.server]\n"
				      "x509.certificate=/s.pem\n"
				      "  x509.private_key=/k.pem\n"
				      "\tx509.truststore = /ca.pem\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.server.certificate &&
	      !strcmp(cfg.server.certificate, "/s.pem"));
	CHECK(cfg.server.private_key &&
	      !strcmp(cfg.server.private_key, "/k.pem"));
	CHECK(cfg.server.truststore &&
	      !strcmp(cfg.server.truststore, "/ca.pem"));
	hd_config_free(&cfg);
}

/* As tlshd: a repeated key takes its last value (with a warning). */
static void test_repeated_key_keeps_last(void)
{
	const char *path = write_conf("dup.conf",
				      "[authenticate.client]\n"
				      "x509.truststore=/first.pem\n"
				      "[authenticate.client]\n"
				      "x509.truststore=/second.pem\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.client.truststore &&
	      !strcmp(cfg.client.truststore, "/second.pem"));
	hd_config_free(&cfg);
}

/* tlshd's files have no [resumption]: every key has its default. */
static void test_resumption_defaults(void)
{
	const char *path = write_conf("resume-default.conf",
				      "[debug]\nloglevel=1\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(cfg.resume.client && cfg.resume.server);
	CHECK(cfg.resume.ticket_wait_ms == 100);
	CHECK(cfg.resume.ticket_lifetime_s == 7200);
	CHECK(!cfg.resume.ticket_key);
	CHECK(!cfg.resume.psk && !cfg.resume.psk_ke);
	CHECK(cfg.resume.cache_size == 256);
	hd_config_free(&cfg);
}

static void test_resumption_keys_are_read(void)
{
	const char *path = write_conf("resume.conf",
				      "[resumption]\n"
				      "client = no\n"
				      "server=No\n"
				      "ticket_wait=0\n"
				      "ticket_lifetime = 604800\n"
				      "ticket_key=/etc/handshaked/ticket.key\n"
				      "psk=yes\n"
				      "psk_ke=true\n"
				      "cache_size=0\n");
	struct hd_config cfg;
	char err[512];

	CHECK(hd_config_load(&cfg, path, true, err, sizeof(err)) == 0);
	CHECK(!cfg.resume.client && !cfg.resume.server);
	CHECK(cfg.resume.ticket_wait_ms == 0);
	CHECK(cfg.resume.ticket_lifetime_s == 604800);
	CHECK(cfg.resume.ticket_key &&
	      !strcmp(cfg.resume.ticket_key, "/etc/handshaked/ticket.key"));
	CHECK(cfg.resume.psk && cfg.resume.psk_ke);
	CHECK(cfg.resume.cache_size == 0);
	hd_config_free(&cfg);
}

/* Unlike tlshd's numbers, a bad value here stops the load. */
static void test_resumption_bad_values_are_refused(void)
{
	static const struct {
		const char *line;
		const char *what;
	} bad[] = {
		{ "client=maybe", "bad value 'maybe' for key 'client' in section 'resumption'" },
		{ "server=", "bad value '' for key 'server'" },
		{ "ticket_wait=10001", "bad value '10001' for key 'ticket_wait' in section 'resumption': want a number from 0 to 10000" },
		{ "ticket_wait=-1", "bad value '-1' for key 'ticket_wait'" },
		{ "ticket_wait=100ms", "bad value '100ms'" },
		{ "ticket_lifetime=0", "bad value '0' for key 'ticket_lifetime' in section 'resumption': want a number from 1 to 604800" },
		{ "ticket_lifetime=604801", "'ticket_lifetime'" },
		{ "ticket_lifetime=99999999999999999999", "'ticket_lifetime'" },
		{ "psk=2", "bad value '2' for key 'psk'" },
		{ "psk_ke=yess", "bad value 'yess' for key 'psk_ke'" },
		{ "cache_size=65537", "bad value '65537' for key 'cache_size'" },
		{ "cache_size= 12x", "bad value '12x'" },
		{ "cachesize=12", "unknown key 'cachesize' in section 'resumption'" },
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[resumption]\nclient=yes\n%s\n",
			 bad[i].line);
		expect_refused("resume-bad.conf", text, 3, bad[i].what);
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}

	test_full_file_is_read();
	test_missing_files();
	test_empty_file_gives_defaults();
	test_bad_number_reads_as_zero();
	test_bad_files_are_refused();
	test_nul_byte_is_refused();
	test_directory_is_refused();
	test_indented_keys_are_keys();
	test_repeated_key_keeps_last();
	test_resumption_defaults();
	test_resumption_keys_are_read();
	test_resumption_bad_values_are_refused();

	return check_exit_clean(dir);
}
