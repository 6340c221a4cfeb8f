// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ceiling of kmod-tests/bench: GnuTLS alone doing the handshakes the
 * agents do, both ends in one process over TCP loopback, with the test
 * certificates and handshaked's TLS 1.3 priorities, no kTLS, no upcall.
 * Usage: tls-ceiling COUNT WORKERS CA CERT KEY
 * Prints one line of key=value figures (pairs = client+server handshakes).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define PRIORITY "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3" \
	":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1" \
	":+GROUP-X448:+GROUP-SECP521R1:+GROUP-FFDHE2048" \
	":+GROUP-FFDHE3072:+GROUP-FFDHE4096:-CIPHER-ALL" \
	":+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AES-128-CCM"

struct ctx {
	gnutls_certificate_credentials_t client;
	gnutls_certificate_credentials_t server;
	gnutls_priority_t prio;
	int lfd;
	struct sockaddr_in addr;
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "tls-ceiling: %s: %s\n", what,
		rc < 0 ? gnutls_strerror(rc) : strerror(errno));
	exit(1);
}

static void ctx_init(struct ctx *c, char **argv)
{
	socklen_t len = sizeof(c->addr);
	int rc;

	rc = gnutls_certificate_allocate_credentials(&c->client);
	if (rc >= 0)
		rc = gnutls_certificate_set_x509_trust_file(c->client, argv[3],
						    GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		die("client credentials", rc);
	rc = gnutls_certificate_allocate_credentials(&c->server);
	if (rc >= 0)
		rc = gnutls_certificate_set_x509_key_file(c->server, argv[4],
						argv[5], GNUTLS_X509_FMT_PEM);
	if (rc >= 0)
		rc = gnutls_certificate_set_x509_trust_file(c->server, argv[3],
						    GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		die("server credentials", rc);
	rc = gnutls_priority_init(&c->prio, PRIORITY, NULL);
	if (rc < 0)
		die("priority", rc);

	c->lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&c->addr, 0, sizeof(c->addr));
	c->addr.sin_family = AF_INET;
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (c->lfd < 0 || bind(c->lfd, (void *)&c->addr, len) ||
	    listen(c->lfd, 16) ||
	    getsockname(c->lfd, (void *)&c->addr, &len))
		die("listen", 0);
}

static gnutls_session_t session(struct ctx *c, int fd, int server)
{
	gnutls_session_t s;
	int rc;

	rc = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
			 GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
	if (rc < 0)
		die("gnutls_init", rc);
	gnutls_priority_set(s, c->prio);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
			       server ? c->server : c->client);
	if (server)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
	else
		gnutls_session_set_verify_cert(s, "localhost", 0);
	gnutls_transport_set_int(s, fd);
	return s;
}

/* One client and one server handshake, driven in turn until both end. */
static void pair(struct ctx *c)
{
	int cfd, sfd, crc = GNUTLS_E_AGAIN, src = GNUTLS_E_AGAIN, one = 1;
	struct pollfd pfd[2];
	gnutls_session_t cs, ss;

	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (cfd < 0 || connect(cfd, (void *)&c->addr, sizeof(c->addr)))
		die("connect", 0);
	sfd = accept(c->lfd, NULL, NULL);
	if (sfd < 0)
		die("accept", 0);
	/*
	 * Both ends in one thread: neither may block on the other. No
	 * Nagle: a flight's second write must not wait for a delayed ACK
	 * (the kernel consumers set TCP_NODELAY too).
	 */
	if (fcntl(cfd, F_SETFL, O_NONBLOCK) || fcntl(sfd, F_SETFL, O_NONBLOCK) ||
	    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("socket options", 0);
	cs = session(c, cfd, 0);
	ss = session(c, sfd, 1);

	while (crc < 0 || src < 0) {
		if (crc < 0)
			crc = gnutls_handshake(cs);
		if (src < 0)
			src = gnutls_handshake(ss);
		if ((crc < 0 && gnutls_error_is_fatal(crc)) ||
		    (src < 0 && gnutls_error_is_fatal(src)))
			die("handshake", crc < 0 ? crc : src);
		if (crc < 0 && src < 0) {
			/* Neither can move: wait for input, do not spin. */
			pfd[0] = (struct pollfd){ .fd = cfd, .events = POLLIN };
			pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
			if (poll(pfd, 2, 10000) <= 0)
				die("poll", 0);
		}
	}
	gnutls_deinit(cs);
	gnutls_deinit(ss);
	close(cfd);
	close(sfd);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* A worker writes its latencies to fd, one binary value each. */
static void worker(struct ctx *c, int n, int fd)
{
	long long t;
	int i;

	for (i = 0; i < n; i++) {
		t = now_us();
		pair(c);
		t = now_us() - t;
		if (write(fd, &t, sizeof(t)) != sizeof(t))
			die("write", 0);
	}
	exit(0);
}

int main(int argc, char **argv)
{
	int count, workers, i, p[2], got = 0, st;
	long long t0, elapsed, *lat;
	struct rusage ru;
	struct ctx c;

	if (argc != 6) {
		fprintf(stderr, "usage: tls-ceiling COUNT WORKERS CA CERT KEY\n");
		return 2;
	}
	count = atoi(argv[1]);
	workers = atoi(argv[2]);
	if (count < 1 || workers < 1 || workers > count)
		return 2;
	lat = calloc(count, sizeof(*lat));
	if (!lat || pipe(p))
		die("setup", 0);
	ctx_init(&c, argv);

	t0 = now_us();
	for (i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", 0);
		if (pid == 0) {
			close(p[0]);
			worker(&c, count / workers + (i < count % workers), p[1]);
		}
	}
	close(p[1]);
	while (got < count && read(p[0], &lat[got], sizeof(*lat)) ==
	       sizeof(*lat))
		got++;
	for (i = 0; i < workers; i++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			die("worker", 0);
	elapsed = now_us() - t0;
	if (got != count)
		die("short count", 0);

	getrusage(RUSAGE_CHILDREN, &ru);
	qsort(lat, count, sizeof(*lat), cmp_ll);
	printf("ceiling workers=%d pairs=%d elapsed_us=%lld cpu_us=%lld sys_us=%lld p50_us=%lld p99_us=%lld\n",
	       workers, count, elapsed,
	       ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec,
	       ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec,
	       lat[count / 2], lat[(count * 99 + 99) / 100 - 1]);
	return 0;
}
