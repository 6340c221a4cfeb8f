// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves that the ticket key file is taken only as a private regular
 * file of exactly 64 bytes, with the file named in every refusal, and
 * that the supervisor's resumption state hands the key to server
 * requests, tickets to client requests, keeps what comes back, counts
 * it, and forgets every ticket when a new configuration is applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "resume.h"

static char dir[] = "/tmp/hd-test-ticket-key-XXXXXX";

static const char *write_key(const char *name, size_t len, mode_t mode,
			     uint8_t fill)
{
	static char path[256];
	uint8_t buf[128];
	int fd;

	memset(buf, fill, sizeof(buf));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len ||
	    fchmod(fd, mode) < 0 || close(fd) < 0) {
		perror(path);
		exit(EXIT_FAILURE);
	}
	return path;
}

static void expect_refused(const char *path, int want, const char *what)
{
	struct hd_ticket_key k = { 0 };
	char err[512];

	CHECK(hd_ticket_key_load(&k, path, err, sizeof(err)) == want);
	CHECK(!k.bytes);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, what);
}

static void test_key_file_checks(void)
{
	struct hd_ticket_key k = { 0 };
	uint8_t want[HSD_TICKET_KEY_SIZE];
	char path[300], err[512];
	const char *good;

	good = write_key("good.key", 64, 0600, 0xab);
	CHECK(hd_ticket_key_load(&k, good, err, sizeof(err)) == 0);
	memset(want, 0xab, sizeof(want));
	CHECK(k.bytes && !memcmp(k.bytes, want, sizeof(want)));
	hd_ticket_key_free(&k);
	CHECK(!k.bytes);

	expect_refused(write_key("short.key", 63, 0600, 1), -EINVAL,
		       "63 bytes, want exactly 64");
	expect_refused(write_key("long.key", 65, 0400, 1), -EINVAL,
		       "65 bytes");
	expect_refused(write_key("group.key", 64, 0640, 1), -EACCES,
		       "mode 640");
	expect_refused(write_key("world.key", 64, 0604, 1), -EACCES,
		       "group or others");
	expect_refused(dir, -EINVAL, "not a regular file");

	snprintf(path, sizeof(path), "%s/absent.key", dir);
	expect_refused(path, -ENOENT, "No such file");

	snprintf(path, sizeof(path), "%s/link.key", dir);
	CHECK(symlink(good, path) == 0);
	expect_refused(path, -ELOOP, "Failed to open ticket key file");

	/* refused at once, not waiting for a writer */
	snprintf(path, sizeof(path), "%s/fifo.key", dir);
	CHECK(mkfifo(path, 0600) == 0);
	expect_refused(path, -EINVAL, "not a regular file");

	/* another user could write it: only root's or our own */
	if (geteuid() == 0) {
		CHECK(chown(good, 65534, 65534) == 0);
		expect_refused(good, -EACCES, "owned by uid 65534");
	}
}

static struct hd_resume_conf conf_default(void)
{
	return (struct hd_resume_conf){
		.client = true, .server = true, .ticket_wait_ms = 100,
		.ticket_lifetime_s = 7200, .cache_size = 4,
	};
}

static void apply(struct hd_resume *rs, const struct hd_resume_conf *c,
		  uint8_t fill)
{
	struct hd_ticket_key k = { 0 };
	char name[32], err[512];

	snprintf(name, sizeof(name), "k%02x.key", fill);
	CHECK(hd_ticket_key_load(&k, write_key(name, 64, 0600, fill), err,
				 sizeof(err)) == 0);
	hd_resume_apply(rs, c, &k);
	CHECK(!k.bytes);
}

static void test_server_requests_get_the_key(void)
{
	struct hd_resume_conf c = conf_default();
	struct hd_accept a = { .msg_type = HSD_NL_MSG_SERVERHELLO,
			       .auth_mode = HSD_NL_AUTH_X509, .sockfd = -1 };
	struct hd_resume rs = { 0 };
	struct hd_resume_offer o;
	struct hd_resume_req req;
	uint8_t want[HSD_TICKET_KEY_SIZE];
	const void *t;
	size_t len;

	apply(&rs, &c, 0x11);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	memset(want, 0x11, sizeof(want));
	CHECK(o.flags == HD_RESUME_KEY && o.lifetime_s == 7200);
	CHECK(!memcmp(o.key, want, sizeof(want)) && !t && !req.key);
	hd_resume_done(&rs, &req, 0, &(struct hd_resume_result){ 0 }, NULL);

	/* a reload brings the new key to every later request */
	apply(&rs, &c, 0x22);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	memset(want, 0x22, sizeof(want));
	CHECK(!memcmp(o.key, want, sizeof(want)));
	hd_resume_done(&rs, &req, 0, NULL, NULL);

	/* PSK only with psk = yes; psk_ke only when asked */
	a.auth_mode = HSD_NL_AUTH_PSK;
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(o.flags == 0);
	c.psk = c.psk_ke = true;
	apply(&rs, &c, 0x33);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(o.flags == (HD_RESUME_KEY | HD_RESUME_PSK_KE));

	c.server = false;
	apply(&rs, &c, 0x44);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(o.flags == 0);
	hd_resume_free(&rs);
}

static void client_result(struct hd_resume *rs, struct hd_resume_req *req,
			  uint32_t flags, const char *ticket)
{
	struct hd_resume_result res = { .flags = flags, .lifetime_s = 60 };

	if (ticket)
		res.ticket_len = strlen(ticket) + 1;
	hd_resume_done(rs, req, 0, &res, ticket);
}

static void test_client_requests_get_tickets(void)
{
	struct hd_resume_conf c = conf_default();
	struct hd_accept a = { .msg_type = HSD_NL_MSG_CLIENTHELLO,
			       .auth_mode = HSD_NL_AUTH_UNAUTH,
			       .peername = "server.example" };
	struct hd_resume rs = { 0 };
	struct hd_resume_offer o;
	struct hd_resume_req req;
	const void *t;
	char line[256];
	size_t len;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	a.sockfd = sv[0];
	apply(&rs, &c, 0x55);

	/* none yet: ask for one and wait */
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(o.flags == HD_RESUME_TICKETS && o.wait_ms == 100 && !t);
	CHECK(req.key && !req.offered);
	client_result(&rs, &req, HD_RESULT_TICKET, "ticket-1");
	CHECK(!req.key);

	/* then it goes with the next requests */
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(t && len == 9 && !strcmp(t, "ticket-1") && o.ticket_len == 9);
	CHECK(o.flags == HD_RESUME_TICKETS && req.offered);
	client_result(&rs, &req, HD_RESULT_RESUMED | HD_RESULT_TICKET,
		      "ticket-2");
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(t && !strcmp(t, "ticket-2"));

	/* a handshake that failed with it does not offer it again */
	hd_resume_done(&rs, &req, EIO, NULL, NULL);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(!t && o.flags == HD_RESUME_TICKETS);

	/* no ticket in time: the next ones neither ask nor wait */
	client_result(&rs, &req, HD_RESULT_NO_TICKET, NULL);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(!t && o.flags == 0 && !req.key);
	hd_resume_done(&rs, &req, 0, &(struct hd_resume_result){ 0 }, NULL);

	hd_resume_counters(&rs, line, sizeof(line));
	CHECK(!strcmp(line, "counters: handshakes=5 resumed=1 full=3 failed=1 tickets_offered=2 tickets_received=2 cached=1"));

	/* a reload forgets every server */
	apply(&rs, &c, 0x66);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(!t && o.flags == HD_RESUME_TICKETS);

	/* ... and what a request in flight across it brings back */
	apply(&rs, &c, 0x67);
	client_result(&rs, &req, HD_RESULT_TICKET, "ticket-3");
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(!t && o.flags == HD_RESUME_TICKETS);
	client_result(&rs, &req, HD_RESULT_TICKET, "ticket-4");
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(t && !strcmp(t, "ticket-4"));
	hd_resume_done(&rs, &req, 0, &(struct hd_resume_result){ 0 }, NULL);

	c.client = false;
	apply(&rs, &c, 0x77);
	hd_resume_handoff(&rs, &a, &o, &t, &len, &req);
	CHECK(!t && o.flags == 0 && !req.key);

	hd_resume_free(&rs);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}

	test_key_file_checks();
	test_server_requests_get_the_key();
	test_client_requests_get_tickets();

	return check_exit_clean(dir);
}
