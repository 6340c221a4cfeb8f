// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ktls-echo: libhandshaked with io_uring and kernel TLS.
 *
 * What it shows: a server that accepts with io_uring, runs each TLS 1.3
 * handshake through libhandshaked (driven by io_uring poll requests),
 * moves the keys into the kernel and then echoes with IORING_OP_RECVMSG
 * (a control buffer, so KeyUpdates, tickets and alerts are seen) and
 * IORING_OP_SEND, handing every non-data record to hsd_conn_input().
 * "FILE" from a client makes the server send --file with splice
 * (file -> pipe -> socket). Every connection has at most one request in
 * flight; one that updates its keys does so between two of them while
 * the others carry on. The server can update its own keys every N
 * echoes (--update-every, alternately asking the peer to update too),
 * on SIGUSR1, or every N records sent (--rekey-records).
 * The client mode connects, handshakes, installs kTLS and copies stdin
 * to the server and the server's data to stdout; a line "/k" updates
 * its key, "/K" asks the server to update too. It works against any
 * TLS 1.3 server that kTLS has a cipher for.
 *
 * Bulk transfers, for measuring the record layer: "SINK n" makes the
 * server read n bytes and answer "OK", "SOURCE n" makes it send n bytes.
 * `client --bulk send|recv|file --bytes N` does one of those (or reads
 * N bytes of --file) with AES-128-GCM and prints the time it took.
 * `server --userspace-tls` keeps the record layer in GnuTLS
 * (gnutls_record_send/recv driven by io_uring polls, the file read with
 * read(2)) so the same program can be compared with and without kTLS.
 *
 * Needs Linux 6.14 or later for key updates (TLS 1.3 rekey in kTLS);
 * older kernels echo until the first KeyUpdate. Try it:
 *
 *   ktls-echo server --cert server.pem --key server-key.pem --port 4433
 *   openssl s_client -connect 127.0.0.1:4433 -tls1_3   (then type k, K)
 *   ktls-echo client --ca ca.pem --name localhost 127.0.0.1 4433
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include <linux/tls.h>
#include <liburing.h>

#include <handshaked/handshaked.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define QUEUE_DEPTH 256
#define SPLICE_CHUNK 65536
/* Room for several records per read with kTLS and for one bulk send. */
#define BUF_SIZE 65536
/* Userspace TLS: records handled per completion before yielding. */
#define USER_BATCH 64

enum state {
	HANDSHAKE,	/* a poll for the session's next step */
	RECEIVE,	/* a RECVMSG */
	WAIT_ECHO,	/* a poll for room for our KeyUpdate before data */
	ECHO,		/* a SEND of what came */
	WAIT_WRITE,	/* a poll for room to send a waiting KeyUpdate */
	FILE_IN,	/* a SPLICE from the file into the pipe */
	FILE_OUT,	/* a SPLICE from the pipe into the socket */
	FILE_WAIT,	/* a poll for room in the socket for the pipe */
	USER_READ,	/* userspace TLS: a poll or NOP before reading */
	USER_SEND,	/* userspace TLS: a poll or NOP before sending */
};

/* What a read of application data asks for next. */
enum next {
	NEXT_READ,
	NEXT_SEND,
	NEXT_FILE,
};

struct client {
	int fd;
	unsigned int id;
	enum state state;
	struct hsd_session *session;
	struct hsd_conn *conn;

	struct msghdr msg;
	struct iovec iov;
	char control[CMSG_SPACE(sizeof(unsigned char))];
	unsigned char buf[BUF_SIZE];
	size_t len, off;
	uint64_t sink_left, source_left;
	gnutls_session_t tls;	/* set with --userspace-tls */

	unsigned long echoes;
	bool update_wanted;	/* SIGUSR1 came while a send was under way */
	int file_fd;
	int pipe[2];
	size_t in_pipe;
};

struct server {
	struct io_uring ring;
	struct hsd_creds *creds;
	int lfd, sfd;
	struct signalfd_siginfo si;
	const char *file;
	unsigned long update_every;
	uint64_t rekey_records;
	unsigned int ku_burst;
	bool userspace;
	unsigned int next_id;
	struct client *clients[1024];
};

/* user_data of the listener's and the signalfd's requests. */
#define TAG_ACCEPT 1
#define TAG_SIGNAL 2

static struct io_uring_sqe *sqe_get(struct server *sv)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sv->ring);

	if (!sqe) {
		io_uring_submit(&sv->ring);
		sqe = io_uring_get_sqe(&sv->ring);
	}
	if (!sqe) {
		fprintf(stderr, "Failed to get a submission queue entry\n");
		exit(1);
	}
	return sqe;
}

static void arm_accept(struct server *sv)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	io_uring_prep_accept(sqe, sv->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
}

static void arm_signal(struct server *sv)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	io_uring_prep_read(sqe, sv->sfd, &sv->si, sizeof(sv->si), 0);
	io_uring_sqe_set_data64(sqe, TAG_SIGNAL);
}

static void arm_poll(struct server *sv, struct client *cl, short events,
		     enum state state)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	cl->state = state;
	io_uring_prep_poll_add(sqe, cl->fd, events);
	io_uring_sqe_set_data(sqe, cl);
}

/* Come back to the client on the next turn of the loop. */
static void arm_nop(struct server *sv, struct client *cl, enum state state)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	cl->state = state;
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, cl);
}

static void arm_recv(struct server *sv, struct client *cl)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	cl->iov.iov_base = cl->buf;
	cl->iov.iov_len = sizeof(cl->buf);
	memset(&cl->msg, 0, sizeof(cl->msg));
	cl->msg.msg_iov = &cl->iov;
	cl->msg.msg_iovlen = 1;
	cl->msg.msg_control = cl->control;
	cl->msg.msg_controllen = sizeof(cl->control);

	cl->state = RECEIVE;
	io_uring_prep_recvmsg(sqe, cl->fd, &cl->msg, 0);
	io_uring_sqe_set_data(sqe, cl);
}

static void arm_send(struct server *sv, struct client *cl)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	cl->state = ECHO;
	io_uring_prep_send(sqe, cl->fd, cl->buf + cl->off, cl->len - cl->off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, cl);
}

static void arm_splice(struct server *sv, struct client *cl, bool in)
{
	struct io_uring_sqe *sqe = sqe_get(sv);

	cl->state = in ? FILE_IN : FILE_OUT;
	if (in)
		io_uring_prep_splice(sqe, cl->file_fd, -1, cl->pipe[1], -1,
				     SPLICE_CHUNK, 0);
	else
		io_uring_prep_splice(sqe, cl->pipe[0], -1, cl->fd, -1,
				     (unsigned int)cl->in_pipe, 0);
	io_uring_sqe_set_data(sqe, cl);
}

static void client_end(struct server *sv, struct client *cl, const char *why)
{
	printf("client %u: %s\n", cl->id, why);
	fflush(stdout);
	if (cl->conn && !hsd_conn_peer_closed(cl->conn))
		hsd_conn_close(cl->conn);
	hsd_conn_free(cl->conn);
	hsd_session_free(cl->session);
	if (cl->file_fd >= 0)
		close(cl->file_fd);
	if (cl->pipe[0] >= 0) {
		close(cl->pipe[0]);
		close(cl->pipe[1]);
	}
	close(cl->fd);
	sv->clients[cl->id % 1024] = NULL;
	free(cl);
}

static void client_fail(struct server *sv, struct client *cl, int rc)
{
	char why[400];

	snprintf(why, sizeof(why), "closed: %s: %s", strerror(-rc),
		 cl->conn ? hsd_conn_error(cl->conn) :
			    hsd_session_error(cl->session));
	client_end(sv, cl, why);
}

/*
 * Send a KeyUpdate still waiting for room before anything else goes
 * on. True when none waits; otherwise the client is ended or polls for
 * room in state wait, and false.
 */
static bool flushed(struct server *sv, struct client *cl, enum state wait)
{
	int rc = hsd_conn_flush(cl->conn);

	if (rc < 0)
		client_fail(sv, cl, rc);
	else if (rc == HSD_CONN_AGAIN_WRITE)
		arm_poll(sv, cl, POLLOUT, wait);
	return rc == 0;
}

/* Between requests: a KeyUpdate waiting for room, else the next read. */
static void next_read(struct server *sv, struct client *cl)
{
	if (flushed(sv, cl, WAIT_WRITE))
		arm_recv(sv, cl);
}

/* Returns the error; the caller ends the client when it may. */
static int key_update(struct client *cl, bool ask)
{
	int rc = hsd_conn_key_update(cl->conn, ask);

	if (rc >= 0)
		printf("client %u: key update%s\n", cl->id,
		       ask ? ", peer asked to update" : "");
	return rc < 0 ? rc : 0;
}

/* Data goes out only once no KeyUpdate of ours waits. */
static void echo(struct server *sv, struct client *cl)
{
	if (flushed(sv, cl, WAIT_ECHO))
		arm_send(sv, cl);
}

static void client_new(struct server *sv, int fd)
{
	struct client *cl = calloc(1, sizeof(*cl));
	int rc;

	if (!cl) {
		close(fd);
		return;
	}
	cl->fd = fd;
	cl->id = sv->next_id++;
	cl->file_fd = cl->pipe[0] = cl->pipe[1] = -1;
	if (sv->clients[cl->id % 1024]) {
		free(cl);
		close(fd);
		return;
	}
	sv->clients[cl->id % 1024] = cl;

	rc = hsd_session_new(&cl->session, fd, HSD_SERVER, sv->creds);
	if (rc < 0) {
		cl->session = NULL;
		return client_end(sv, cl, "cannot make a session");
	}
	hsd_session_set_timeout(cl->session, 10000);
	arm_poll(sv, cl, POLLIN, HANDSHAKE);
}

static void user_start(struct server *sv, struct client *cl);

static void handshake_done(struct server *sv, struct client *cl)
{
	struct hsd_info info;
	int rc;

	if (sv->userspace)
		return user_start(sv, cl);

	rc = hsd_session_ktls_install_conn(cl->session, &cl->conn);
	if (rc < 0)
		return client_fail(sv, cl, rc);

	hsd_session_info(cl->session, &info);
	printf("client %u: %s %s %s, keys in the kernel\n", cl->id,
	       info.version, info.cipher, info.group);
	hsd_session_free(cl->session);
	cl->session = NULL;

	if (sv->rekey_records)
		hsd_conn_set_tx_rekey_limit(cl->conn, sv->rekey_records);
	if (sv->ku_burst)
		hsd_conn_set_key_update_limit(cl->conn, sv->ku_burst, 1000);
	arm_recv(sv, cl);
}

static void handshake_step(struct server *sv, struct client *cl)
{
	int rc;

	do
		rc = hsd_handshake(cl->session);
	while (rc == HSD_WARNING_ALERT);

	if (rc == HSD_AGAIN_READ || rc == HSD_AGAIN_WRITE)
		return arm_poll(sv, cl, rc == HSD_AGAIN_READ ? POLLIN : POLLOUT,
				HANDSHAKE);
	if (rc < 0)
		return client_fail(sv, cl, rc);
	handshake_done(sv, cl);
}

static void file_start(struct server *sv, struct client *cl)
{
	cl->file_fd = open(sv->file, O_RDONLY | O_CLOEXEC);
	if (cl->file_fd < 0 || pipe2(cl->pipe, O_CLOEXEC) < 0)
		return client_end(sv, cl, "cannot open the file to serve");
	printf("client %u: sending '%s'\n", cl->id, sv->file);
	arm_splice(sv, cl, true);
}

static void file_done(struct server *sv, struct client *cl)
{
	close(cl->file_fd);
	close(cl->pipe[0]);
	close(cl->pipe[1]);
	cl->file_fd = cl->pipe[0] = cl->pipe[1] = -1;
	next_read(sv, cl);
}

/* The answer to a finished SINK. */
static enum next sink_done(struct client *cl)
{
	memcpy(cl->buf, "OK\n", 3);
	cl->len = 3;
	cl->off = 0;
	return NEXT_SEND;
}

/* Bytes of a SINK in the first n of buf; the rest is dropped. */
static enum next sink_take(struct client *cl, size_t n)
{
	cl->sink_left -= n < cl->sink_left ? n : cl->sink_left;
	return cl->sink_left ? NEXT_READ : sink_done(cl);
}

/* The next SOURCE chunk into len; buf holds the pattern throughout. */
static void source_next(struct client *cl)
{
	cl->len = cl->source_left < sizeof(cl->buf) ?
		  (size_t)cl->source_left : sizeof(cl->buf);
	cl->source_left -= cl->len;
	cl->off = 0;
}

/*
 * A bulk command "SINK n" or "SOURCE n" ending in a newline; a SINK's
 * data may follow in the same read. Anything else is echoed.
 */
static enum next bulk_command(struct client *cl, size_t n)
{
	const unsigned char *nl = memchr(cl->buf, '\n', n);
	char line[32] = "";
	size_t cmd_len;

	if (!nl || (size_t)(nl - cl->buf) >= sizeof(line))
		goto echo;
	cmd_len = (size_t)(nl - cl->buf);
	memcpy(line, cl->buf, cmd_len);

	if (!strncmp(line, "SINK ", 5)) {
		cl->sink_left = strtoull(line + 5, NULL, 10);
		if (!cl->sink_left)
			return sink_done(cl);
		return sink_take(cl, n - cmd_len - 1);
	}
	if (!strncmp(line, "SOURCE ", 7)) {
		cl->source_left = strtoull(line + 7, NULL, 10);
		memset(cl->buf, 'x', sizeof(cl->buf));
		source_next(cl);
		return NEXT_SEND;
	}
echo:
	cl->len = n;
	cl->off = 0;
	return NEXT_SEND;
}

static enum next take_data(struct server *sv, struct client *cl, size_t n)
{
	if (cl->sink_left)
		return sink_take(cl, n);
	if (sv->file && n >= 4 && !memcmp(cl->buf, "FILE", 4))
		return NEXT_FILE;
	return bulk_command(cl, n);
}

static void on_record(struct server *sv, struct client *cl, int res)
{
	int type, rc;

	if (res == 0)
		return client_end(sv, cl, "end of stream");
	if (res < 0) {
		rc = hsd_conn_read_error(cl->conn, res);
		if (rc < 0)
			return client_fail(sv, cl, rc);
		return next_read(sv, cl);
	}

	type = hsd_record_type(&cl->msg);
	if (type == HSD_RECORD_DATA) {
		switch (take_data(sv, cl, (size_t)res)) {
		case NEXT_READ:
			return next_read(sv, cl);
		case NEXT_SEND:
			return echo(sv, cl);
		case NEXT_FILE:
			return file_start(sv, cl);
		}
	}

	rc = hsd_conn_input(cl->conn, (unsigned int)type, cl->buf,
			    (size_t)res);
	if (rc < 0)
		return client_fail(sv, cl, rc);
	if (rc == HSD_CONN_CLOSED)
		return client_end(sv, cl, "close_notify");
	if (rc == HSD_CONN_WARNING)
		printf("client %u: %s\n", cl->id, hsd_conn_error(cl->conn));
	next_read(sv, cl);
}

static void on_sent(struct server *sv, struct client *cl, int res)
{
	int rc;

	if (res < 0)
		return client_fail(sv, cl, res);

	/* Count records; the library updates the key at its limit. */
	rc = hsd_conn_sent(cl->conn, (size_t)res);
	if (rc < 0)
		return client_fail(sv, cl, rc);

	cl->off += (size_t)res;
	if (cl->off < cl->len)
		return arm_send(sv, cl);
	if (cl->source_left) {
		source_next(cl);
		return echo(sv, cl);
	}

	cl->echoes++;
	if (cl->update_wanted) {
		cl->update_wanted = false;
		rc = key_update(cl, false);
	} else if (sv->update_every && cl->echoes % sv->update_every == 0) {
		/* Alternate: ask the peer to update too every other time. */
		rc = key_update(cl, cl->echoes / sv->update_every % 2);
	}
	if (rc < 0)
		return client_fail(sv, cl, rc);
	next_read(sv, cl);
}

static void on_splice(struct server *sv, struct client *cl, int res)
{
	int rc;

	/*
	 * io_uring does not wait for room for a splice into a socket the
	 * session made non-blocking: poll, then splice again.
	 */
	if (res == -EAGAIN && cl->state == FILE_OUT)
		return arm_poll(sv, cl, POLLOUT, FILE_WAIT);
	if (res < 0)
		return client_fail(sv, cl, res);

	if (cl->state == FILE_IN) {
		if (res == 0)
			return file_done(sv, cl);
		cl->in_pipe = (size_t)res;
		return arm_splice(sv, cl, false);
	}

	rc = hsd_conn_sent(cl->conn, (size_t)res);
	if (rc < 0)
		return client_fail(sv, cl, rc);
	cl->in_pipe -= (size_t)res;
	arm_splice(sv, cl, cl->in_pipe == 0);
}

/* ---- record layer in userspace (--userspace-tls) ------------------------ */

/*
 * After the handshake GnuTLS reads the socket directly, as large as it
 * likes: the library's transport stops at each record's end only so
 * that kTLS can take over, which costs calls here.
 */
static ssize_t user_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	int fd = (int)(intptr_t)ptr;

	return recv(fd, buf, len, 0);
}

static ssize_t user_push(gnutls_transport_ptr_t ptr, const void *buf,
			 size_t len)
{
	int fd = (int)(intptr_t)ptr;

	return send(fd, buf, len, MSG_NOSIGNAL);
}

static int user_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct pollfd pfd = { .fd = (int)(intptr_t)ptr, .events = POLLIN };

	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static void user_fail(struct server *sv, struct client *cl, int err)
{
	char why[200];

	snprintf(why, sizeof(why), "closed: %s", gnutls_strerror(err));
	client_end(sv, cl, why);
}

/* The next chunk of the file or of a SOURCE: 1, 0 when done, -errno. */
static int user_refill(struct client *cl)
{
	ssize_t n;

	if (cl->file_fd < 0) {
		if (!cl->source_left)
			return 0;
		source_next(cl);
		return 1;
	}

	n = read(cl->file_fd, cl->buf, sizeof(cl->buf));
	if (n < 0)
		return -errno;
	if (n == 0) {
		close(cl->file_fd);
		cl->file_fd = -1;
		return 0;
	}
	cl->len = (size_t)n;
	cl->off = 0;
	return 1;
}

static void user_send(struct server *sv, struct client *cl)
{
	ssize_t n;
	int i, rc;

	for (i = 0; i < USER_BATCH; i++) {
		if (cl->off == cl->len) {
			rc = user_refill(cl);
			if (rc < 0)
				return client_fail(sv, cl, rc);
			if (rc == 0)
				return arm_nop(sv, cl, USER_READ);
		}

		/* After GNUTLS_E_AGAIN the same data goes again. */
		n = gnutls_record_send(cl->tls, cl->buf + cl->off,
				       cl->len - cl->off);
		if (n == GNUTLS_E_AGAIN)
			return arm_poll(sv, cl, POLLOUT, USER_SEND);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return user_fail(sv, cl, (int)n);
		cl->off += (size_t)n;
	}
	arm_nop(sv, cl, USER_SEND);
}

static void user_file_start(struct server *sv, struct client *cl)
{
	cl->file_fd = open(sv->file, O_RDONLY | O_CLOEXEC);
	if (cl->file_fd < 0)
		return client_end(sv, cl, "cannot open the file to serve");
	printf("client %u: sending '%s'\n", cl->id, sv->file);
	cl->len = cl->off = 0;
	user_send(sv, cl);
}

static void user_read(struct server *sv, struct client *cl)
{
	ssize_t n;
	int i;

	for (i = 0; i < USER_BATCH; i++) {
		n = gnutls_record_recv(cl->tls, cl->buf, sizeof(cl->buf));
		if (n == GNUTLS_E_AGAIN)
			return arm_poll(sv, cl, POLLIN, USER_READ);
		if (n == 0)
			return client_end(sv, cl, "end of stream");
		if (n < 0 && !gnutls_error_is_fatal((int)n))
			continue;
		if (n < 0)
			return user_fail(sv, cl, (int)n);

		switch (take_data(sv, cl, (size_t)n)) {
		case NEXT_READ:
			continue;
		case NEXT_SEND:
			return user_send(sv, cl);
		case NEXT_FILE:
			return user_file_start(sv, cl);
		}
	}
	/* GnuTLS may hold records already read: no poll would fire. */
	arm_nop(sv, cl, USER_READ);
}

static void user_start(struct server *sv, struct client *cl)
{
	struct hsd_info info;

	cl->tls = hsd_session_gnutls(cl->session);
	gnutls_transport_set_int(cl->tls, cl->fd);
	gnutls_transport_set_pull_function(cl->tls, user_pull);
	gnutls_transport_set_push_function(cl->tls, user_push);
	gnutls_transport_set_pull_timeout_function(cl->tls,
						   user_pull_timeout);

	hsd_session_info(cl->session, &info);
	printf("client %u: %s %s %s, record layer in userspace\n", cl->id,
	       info.version, info.cipher, info.group);
	user_read(sv, cl);
}

static void on_client(struct server *sv, struct client *cl, int res)
{
	switch (cl->state) {
	case HANDSHAKE:
		return handshake_step(sv, cl);
	case RECEIVE:
		return on_record(sv, cl, res);
	case WAIT_ECHO:
		return echo(sv, cl);
	case ECHO:
		return on_sent(sv, cl, res);
	case WAIT_WRITE:
		return next_read(sv, cl);
	case FILE_IN:
	case FILE_OUT:
		return on_splice(sv, cl, res);
	case FILE_WAIT:
		return arm_splice(sv, cl, false);
	case USER_READ:
		return user_read(sv, cl);
	case USER_SEND:
		return user_send(sv, cl);
	}
}

/* SIGUSR1: every connection updates its key between two requests. */
static void on_signal(struct server *sv)
{
	struct client *cl;
	size_t i;

	for (i = 0; i < 1024; i++) {
		cl = sv->clients[i];
		if (!cl || !cl->conn)
			continue;
		if (cl->state != RECEIVE) {
			cl->update_wanted = true;
			continue;
		}

		/* A read is in flight: end it, and the client with it. */
		if (key_update(cl, false) < 0)
			shutdown(cl->fd, SHUT_RDWR);
	}
	arm_signal(sv);
}

static int listen_on(const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	sin.sin_port = htons((uint16_t)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 64) < 0) {
		perror("Failed to listen");
		exit(1);
	}
	return fd;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static void serve(struct server *sv)
{
	struct io_uring_cqe *cqe;
	uint64_t tag;
	int res;

	arm_accept(sv);
	arm_signal(sv);
	for (;;) {
		io_uring_submit_and_wait(&sv->ring, 1);
		while (io_uring_peek_cqe(&sv->ring, &cqe) == 0) {
			tag = cqe->user_data;
			res = cqe->res;
			io_uring_cqe_seen(&sv->ring, cqe);

			if (tag == TAG_ACCEPT) {
				if (res >= 0)
					client_new(sv, res);
				arm_accept(sv);
			} else if (tag == TAG_SIGNAL) {
				on_signal(sv);
			} else {
				on_client(sv, (struct client *)tag, res);
			}
		}
	}
}

static int server_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "port", required_argument, NULL, 'p' },
		{ "file", required_argument, NULL, 'f' },
		{ "update-every", required_argument, NULL, 'u' },
		{ "rekey-records", required_argument, NULL, 'r' },
		{ "key-update-burst", required_argument, NULL, 'b' },
		{ "userspace-tls", no_argument, NULL, 'U' },
		{ 0 }
	};
	const char *cert = NULL, *key = NULL, *port = "4433";
	struct server sv = { .lfd = -1 };
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'p': port = optarg; break;
		case 'f': sv.file = optarg; break;
		case 'u': sv.update_every = strtoul(optarg, NULL, 0); break;
		case 'r': sv.rekey_records = strtoull(optarg, NULL, 0); break;
		case 'b': sv.ku_burst = (unsigned int)atoi(optarg); break;
		case 'U': sv.userspace = true; break;
		default: return 2;
		}
	}
	if (!cert || !key) {
		fprintf(stderr, "usage: ktls-echo server --cert FILE --key FILE [--port N] [--file FILE] [--update-every N] [--rekey-records N] [--key-update-burst N] [--userspace-tls]\n");
		return 2;
	}
	if (sv.userspace &&
	    (sv.update_every || sv.rekey_records || sv.ku_burst)) {
		/*
		 * TODO: key updates with --userspace-tls, GnuTLS has them
		 * but the bulk benchmark needs none.
		 */
		fprintf(stderr, "Key update options need kernel TLS\n");
		return 2;
	}

	if (hsd_creds_new(&sv.creds) < 0 ||
	    hsd_creds_x509_files(sv.creds, cert, key) < 0) {
		fprintf(stderr, "Failed to load '%s': %s\n", cert,
			sv.creds ? hsd_creds_error(sv.creds) : "no memory");
		return 1;
	}

	/* One line per event, also into a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sv.sfd = signal_fd();
	sv.lfd = listen_on(port);
	rc = io_uring_queue_init(QUEUE_DEPTH, &sv.ring, 0);
	if (rc < 0) {
		fprintf(stderr, "Failed to set up io_uring: %s\n", strerror(-rc));
		return 1;
	}

	printf("listening on port %s\n", port);
	fflush(stdout);
	serve(&sv);
	return 0;
}

/* ---- client ------------------------------------------------------------ */

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int fd = -1, rc;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "Failed to resolve '%s': %s\n", host,
			gai_strerror(rc));
		exit(1);
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		fprintf(stderr, "Failed to connect to '%s' port %s\n", host, port);
		exit(1);
	}
	return fd;
}

static int client_handshake(struct hsd_session *s, int fd)
{
	struct pollfd pfd = { .fd = fd };
	int rc;

	for (;;) {
		rc = hsd_handshake(s);
		if (rc == HSD_WARNING_ALERT)
			continue;
		if (rc != HSD_AGAIN_READ && rc != HSD_AGAIN_WRITE)
			return rc;
		pfd.events = rc == HSD_AGAIN_READ ? POLLIN : POLLOUT;
		poll(&pfd, 1, hsd_session_timeout_left(s));
	}
}

/* A raw handshake record, for trying a server's defences (--garbage). */
static void send_raw(int fd, unsigned char type, const void *data, size_t len)
{
	char control[CMSG_SPACE(sizeof(type))];
	struct iovec iov = { (void *)data, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cmsg), &type, sizeof(type));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		perror("Failed to send a raw record");
}

/* Bulk transfers give up after this long without progress. */
#define BULK_IDLE_MS 60000

static int wait_for(struct hsd_conn *c, short events)
{
	struct pollfd pfd = { hsd_conn_fd(c), events, 0 };
	int rc = poll(&pfd, 1, BULK_IDLE_MS);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

static int send_all(struct hsd_conn *c, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;
	int rc;

	while (len > 0) {
		n = hsd_conn_send(c, p, len, 0);
		if (n == -EAGAIN) {
			rc = wait_for(c, POLLOUT);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A line from stdin: "/k" or "/K" update our key, anything else goes out. */
static int client_line(struct hsd_conn *c, const char *line, size_t len)
{
	int rc;

	if (len >= 2 && line[0] == '/' && (line[1] == 'k' || line[1] == 'K')) {
		rc = hsd_conn_key_update(c, line[1] == 'K');
		fprintf(stderr, "key update%s: %s\n",
			line[1] == 'K' ? " (peer asked)" : "",
			rc < 0 ? hsd_conn_error(c) : "ok");
		return rc < 0 ? rc : 0;
	}
	return send_all(c, line, len);
}

/* Read and drop exactly len bytes of application data. */
static int recv_count(struct hsd_conn *c, void *buf, size_t size,
		      uint64_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = hsd_conn_recv(c, buf, size < len ? size : (size_t)len);
		if (n == -EAGAIN) {
			rc = wait_for(c, POLLIN);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * One bulk transfer: "send" streams bytes into a SINK and waits for its
 * "OK", "recv" reads a SOURCE, "file" reads bytes of the server's file.
 * The time runs from the command to the last byte.
 */
static int client_bulk(struct hsd_conn *c, const char *mode, uint64_t bytes)
{
	static char buf[BUF_SIZE];
	struct timespec t0, t1;
	char cmd[64];
	uint64_t left = bytes;
	double secs;
	size_t n;
	int rc;

	if (!strcmp(mode, "send"))
		snprintf(cmd, sizeof(cmd), "SINK %llu\n",
			 (unsigned long long)bytes);
	else if (!strcmp(mode, "recv"))
		snprintf(cmd, sizeof(cmd), "SOURCE %llu\n",
			 (unsigned long long)bytes);
	else if (!strcmp(mode, "file"))
		snprintf(cmd, sizeof(cmd), "FILE\n");
	else
		return -EINVAL;
	memset(buf, 'x', sizeof(buf));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = send_all(c, cmd, strlen(cmd));
	while (rc == 0 && mode[0] == 's' && left > 0) {
		n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		rc = send_all(c, buf, n);
		left -= n;
	}
	if (rc == 0 && mode[0] == 's')
		rc = recv_count(c, buf, sizeof(buf), 3);
	else if (rc == 0)
		rc = recv_count(c, buf, sizeof(buf), bytes);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc < 0)
		return rc;

	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("bulk %s bytes=%llu seconds=%.3f mib_s=%.2f\n", mode,
	       (unsigned long long)bytes, secs,
	       (double)bytes / 1048576.0 / secs);
	return 0;
}

/* Copy stdin to the connection and the connection to stdout. */
static int client_copy(struct hsd_conn *c)
{
	struct pollfd pfd[2] = {
		{ .fd = hsd_conn_fd(c), .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	char buf[HSD_RECORD_MAX];
	bool in_open = true;
	ssize_t n;
	int rc;

	for (;;) {
		if (poll(pfd, in_open ? 2 : 1, -1) < 0 && errno != EINTR)
			return -errno;

		if (pfd[0].revents) {
			n = hsd_conn_recv(c, buf, sizeof(buf));
			if (n == 0)
				return 0;
			if (n < 0 && n != -EAGAIN)
				return (int)n;
			if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) < 0)
				return -errno;
		}

		if (in_open && pfd[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				hsd_conn_close(c);
				shutdown(hsd_conn_fd(c), SHUT_WR);
				continue;
			}
			rc = client_line(c, buf, (size_t)n);
			if (rc < 0)
				return rc;
		}
	}
}

static int client_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "name", required_argument, NULL, 'n' },
		{ "insecure", no_argument, NULL, 'i' },
		{ "flood", required_argument, NULL, 'F' },
		{ "garbage", no_argument, NULL, 'G' },
		{ "bulk", required_argument, NULL, 'B' },
		{ "bytes", required_argument, NULL, 'N' },
		{ 0 }
	};
	static const unsigned char garbage[] = { 0xee, 0, 0, 2, 0xde, 0xad };
	const char *ca = NULL, *name = NULL, *bulk = NULL;
	unsigned long long bytes = 64ull << 20;
	struct hsd_creds *creds;
	struct hsd_session *s;
	struct hsd_conn *c;
	bool verify = true, send_garbage = false;
	int opt, fd, rc, flood = 0, i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': ca = optarg; break;
		case 'n': name = optarg; break;
		case 'i': verify = false; break;
		case 'F': flood = atoi(optarg); break;
		case 'G': send_garbage = true; break;
		case 'B': bulk = optarg; break;
		case 'N': bytes = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: ktls-echo client [--ca FILE] [--name NAME] [--insecure] [--flood N] [--garbage] [--bulk send|recv|file --bytes N] HOST PORT\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	fd = connect_to(argv[optind], argv[optind + 1]);
	if (hsd_creds_new(&creds) < 0 ||
	    (ca ? hsd_creds_trust_file(creds, ca) :
		  hsd_creds_trust_system(creds)) < 0 ||
	    hsd_session_new(&s, fd, HSD_CLIENT, creds) < 0) {
		fprintf(stderr, "Failed to set up the session\n");
		return 1;
	}
	hsd_session_set_peer_name(s, name ? name : argv[optind]);
	hsd_session_set_verify_peer(s, verify);
	hsd_session_set_timeout(s, 10000);
	/* Bulk figures compare record layers: one cipher for all. */
	if (bulk)
		hsd_session_set_ciphers(s, HSD_AES_128_GCM);

	rc = client_handshake(s, fd);
	if (rc == 0)
		rc = hsd_session_ktls_install_conn(s, &c);
	if (rc < 0) {
		fprintf(stderr, "Failed to set up TLS with '%s': %s\n",
			argv[optind], hsd_session_error(s));
		return 1;
	}
	hsd_session_free(s);
	fprintf(stderr, "connected, keys in the kernel\n");

	/* Ways to misbehave, for testing a server's defences. */
	for (i = 0; i < flood; i++)
		if (hsd_conn_key_update(c, false) < 0)
			break;
	if (send_garbage)
		send_raw(fd, HSD_RECORD_HANDSHAKE, garbage, sizeof(garbage));

	if (bulk) {
		rc = client_bulk(c, bulk, bytes);
		if (rc == -EINVAL)
			fprintf(stderr, "Unknown bulk mode '%s'\n", bulk);
		if (rc == 0)
			hsd_conn_close(c);
	} else {
		rc = client_copy(c);
	}
	if (hsd_conn_ticket_count(c))
		fprintf(stderr, "session tickets kept: %zu\n",
			hsd_conn_ticket_count(c));
	if (rc < 0)
		fprintf(stderr, "connection ended: %s: %s (alert %d)\n",
			strerror(-rc), hsd_conn_error(c), hsd_conn_alert(c));
	hsd_conn_free(c);
	hsd_creds_unref(creds);
	close(fd);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "server"))
		return server_main(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return client_main(argc - 1, argv + 1);

	fprintf(stderr, "usage: ktls-echo server|client [options]\n");
	return 2;
}
