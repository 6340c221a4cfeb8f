// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shared pieces of the library tests; see tu.h. Nothing here decides
 * a test's outcome except tu_fail() on a broken setup.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "tu.h"

#ifndef TU_GEN_CERTS
#error "TU_GEN_CERTS must name gen-certs.sh"
#endif

static char certs_dir[] = "/tmp/hsd-test-XXXXXX";
static bool certs_made;

void tu_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	exit(TU_SKIP);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return remove(path);
}

static void certs_remove(void)
{
	if (certs_made)
		nftw(certs_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void tu_certs_setup(void)
{
	pid_t pid;
	int status;

	tu_assert(mkdtemp(certs_dir), "mkdtemp: %s", strerror(errno));
	certs_made = true;
	atexit(certs_remove);

	pid = fork();
	tu_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/bin/sh", "sh", TU_GEN_CERTS, certs_dir, (char *)NULL);
		_exit(127);
	}

	tu_assert(waitpid(pid, &status, 0) == pid, "waitpid failed");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		tu_skip("cannot run gen-certs.sh (is certtool from gnutls-bin installed?)");
	tu_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "gen-certs.sh failed");
}

const char *tu_file(const char *name)
{
	static char paths[8][256];
	static unsigned int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", certs_dir, name);
	return p;
}

struct hsd_creds *tu_creds(const char *ca, const char *cert,
			   const char *key, const char *crl)
{
	struct hsd_creds *c;
	int rc;

	tu_assert(hsd_creds_new(&c) == 0, "hsd_creds_new failed");

	if (ca) {
		rc = hsd_creds_trust_file(c, tu_file(ca));
		tu_assert(rc == 0, "trust %s: %s", ca, hsd_creds_error(c));
	}
	if (cert) {
		rc = hsd_creds_x509_files(c, tu_file(cert), tu_file(key));
		tu_assert(rc == 0, "cert %s: %s", cert, hsd_creds_error(c));
	}
	if (crl) {
		rc = hsd_creds_crl_file(c, tu_file(crl));
		tu_assert(rc == 0, "crl %s: %s", crl, hsd_creds_error(c));
	}
	return c;
}

void tu_tcp_pair(int fds[2])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int lfd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	tu_assert(lfd >= 0, "socket: %s", strerror(errno));
	tu_assert(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		  listen(lfd, 1) == 0 &&
		  getsockname(lfd, (struct sockaddr *)&sin, &len) == 0,
		  "listen on 127.0.0.1: %s", strerror(errno));

	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	tu_assert(fds[0] >= 0, "socket: %s", strerror(errno));
	tu_assert(connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)) == 0,
		  "connect: %s", strerror(errno));

	fds[1] = accept(lfd, NULL, NULL);
	tu_assert(fds[1] >= 0, "accept: %s", strerror(errno));
	close(lfd);
}

struct hsd_session *tu_session(int fd, enum hsd_role role,
			       struct hsd_creds *creds)
{
	struct hsd_session *s;
	int rc;

	rc = hsd_session_new(&s, fd, role, creds);
	tu_assert(rc == 0, "hsd_session_new: %s", strerror(-rc));
	hsd_session_set_timeout(s, TU_TIMEOUT_MS);
	return s;
}

/* One step; on progress, *events is what to poll for. */
static int step(struct hsd_session *s, short *events)
{
	int rc;

	do
		rc = hsd_handshake(s);
	while (rc == HSD_WARNING_ALERT);

	if (rc > 0)
		*events = rc == HSD_AGAIN_WRITE ? POLLOUT : POLLIN;
	return rc;
}

int tu_run(struct hsd_session *s, int fd)
{
	struct pollfd pfd = { .fd = fd };
	int rc;

	while ((rc = step(s, &pfd.events)) > 0)
		poll(&pfd, 1, hsd_session_timeout_left(s));
	return rc;
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

void tu_run_pair(struct hsd_session *a, int fda, struct hsd_session *b,
		 int fdb, int *ra, int *rb)
{
	struct hsd_session *s[2] = { a, b };
	int fd[2] = { fda, fdb }, rc[2] = { 1, 1 };
	struct pollfd pfd[2];
	int i, n, timeout;

	for (;;) {
		n = 0;
		timeout = -1;
		for (i = 0; i < 2; i++) {
			if (rc[i] <= 0)
				continue;
			pfd[n].fd = fd[i];
			rc[i] = step(s[i], &pfd[n].events);

			/* Let the other side see the end. */
			if (rc[i] < 0)
				shutdown(fd[i], SHUT_WR);
			if (rc[i] <= 0)
				continue;
			timeout = min_timeout(timeout,
					      hsd_session_timeout_left(s[i]));
			n++;
		}
		if (n == 0)
			break;
		poll(pfd, n, timeout);
	}

	*ra = rc[0];
	*rb = rc[1];
}

int tu_read_ticket(struct hsd_session *c, int fd)
{
	struct pollfd pfd = { .fd = fd };
	int rc;

	while ((rc = hsd_session_read_ticket(c)) > 0) {
		pfd.events = rc == HSD_AGAIN_WRITE ? POLLOUT : POLLIN;
		if (poll(&pfd, 1, TU_TIMEOUT_MS) != 1)
			return -ETIMEDOUT;
	}
	return rc;
}

static void copy_cert(struct hsd_session *s, uint8_t *out, size_t *len)
{
	const void *der;
	size_t n;

	*len = 0;
	if (hsd_session_peer_cert(s, &der, &n) < 0)
		return;
	tu_assert(n <= 4096, "certificate of %zu bytes", n);
	memcpy(out, der, n);
	*len = n;
}

static void resume_record(struct tu_resume *r, struct hsd_session *c,
			  struct hsd_session *s)
{
	const char *id;

	if (hsd_session_info(c, &r->info_c) == 0) {
		snprintf(r->group, sizeof(r->group), "%s", r->info_c.group);
		r->info_c.group = r->group;
		r->info_c.version = r->info_c.cipher = NULL;
	}
	if (hsd_session_info(s, &r->info_s) == 0)
		r->info_s.version = r->info_s.cipher = r->info_s.group = NULL;

	id = hsd_session_psk_identity(c);
	snprintf(r->psk_id_c, sizeof(r->psk_id_c), "%s", id ? id : "");
	id = hsd_session_psk_identity(s);
	snprintf(r->psk_id_s, sizeof(r->psk_id_s), "%s", id ? id : "");

	copy_cert(c, r->cert_c, &r->cert_c_len);
	copy_cert(s, r->cert_s, &r->cert_s_len);
}

static void resume_setup(struct tu_resume *r, struct hsd_session *c,
			 struct hsd_session *s)
{
	int rc;

	if (!r->cc)
		tu_assert(hsd_session_set_peer_name(c, r->peer_name ?
						    r->peer_name :
						    "localhost") == 0, "name");
	hsd_session_set_client_auth(s, r->client_auth);
	hsd_session_set_psk_ke(c, r->psk_ke_client);
	hsd_session_set_psk_ke(s, r->psk_ke_server);

	if (r->key) {
		rc = hsd_session_set_ticket_key(s, r->key, HSD_TICKET_KEY_SIZE,
						r->lifetime);
		tu_assert(rc == 0, "ticket key: %d", rc);
	}
	if (r->tickets)
		tu_assert(hsd_session_set_tickets(c, true) == 0, "tickets");
	if (r->ticket) {
		rc = hsd_session_set_ticket(c, r->ticket, r->ticket_len);
		tu_assert(rc == 0, "set ticket: %d", rc);
	}
}

void tu_resume_run(struct tu_resume *r)
{
	struct hsd_creds *cc = r->cc, *sc = r->sc;
	struct hsd_session *c, *s;
	int fds[2];

	if (!cc)
		cc = r->client_auth ? tu_creds("ca.pem", "client.pem",
					       "client-key.pem", NULL) :
				      tu_creds("ca.pem", NULL, NULL, NULL);
	else
		hsd_creds_ref(cc);
	if (!sc)
		sc = tu_creds("ca.pem", "server.pem", "server-key.pem", NULL);
	else
		hsd_creds_ref(sc);

	tu_tcp_pair(fds);
	c = tu_session(fds[0], HSD_CLIENT, cc);
	s = tu_session(fds[1], HSD_SERVER, sc);
	resume_setup(r, c, s);

	tu_run_pair(c, fds[0], s, fds[1], &r->rc_c, &r->rc_s);
	r->rc_read = -ENOENT;
	if (r->rc_c == 0 && r->rc_s == 0 && (r->tickets || r->ticket) &&
	    r->key)
		r->rc_read = tu_read_ticket(c, fds[0]);
	if (r->rc_c || r->rc_s || (r->rc_read && r->rc_read != -ENOENT))
		printf("  client %d '%s', server %d '%s', read %d\n", r->rc_c,
		       hsd_session_error(c), r->rc_s, hsd_session_error(s),
		       r->rc_read);

	resume_record(r, c, s);
	r->new_ticket = NULL;
	if (hsd_session_ticket(c, &r->new_ticket, &r->new_len,
			       &r->new_lifetime) < 0)
		r->new_ticket = NULL;

	tu_pair_free(c, s, cc, sc, fds);
}

void tu_resume_clear(struct tu_resume *r)
{
	hsd_ticket_free(r->new_ticket, r->new_len);
	r->new_ticket = NULL;
}

static void peer_setup_creds(struct tu_peer *p)
{
	char cert[32], key[32];
	const char *name;
	int rc;

	tu_assert(gnutls_certificate_allocate_credentials(&p->cred) == 0,
		  "peer credentials");

	rc = gnutls_certificate_set_x509_trust_file(p->cred, tu_file("ca.pem"),
						    GNUTLS_X509_FMT_PEM);
	tu_assert(rc > 0, "peer trust: %s", gnutls_strerror(rc));

	if (!p->server && !p->client_cert)
		return;

	name = p->server ? "server" : "client";
	snprintf(cert, sizeof(cert), "%s.pem", name);
	snprintf(key, sizeof(key), "%s-key.pem", name);
	rc = gnutls_certificate_set_x509_key_file(p->cred, tu_file(cert),
						  tu_file(key),
						  GNUTLS_X509_FMT_PEM);
	tu_assert(rc >= 0, "peer key: %s", gnutls_strerror(rc));
}

static void *peer_main(void *arg)
{
	struct tu_peer *p = arg;
	int rc;

	do
		rc = gnutls_handshake(p->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));

	p->handshake_rc = rc;
	if (rc == 0 && p->after)
		p->after_rc = p->after(p);
	return NULL;
}

void tu_peer_start(struct tu_peer *p)
{
	unsigned int flags = p->flags;
	int rc;

	peer_setup_creds(p);

	flags |= p->server ? GNUTLS_SERVER : GNUTLS_CLIENT;
	tu_assert(gnutls_init(&p->tls, flags) == 0, "peer gnutls_init");

	rc = gnutls_priority_set_direct(p->tls, p->priority, NULL);
	tu_assert(rc == 0, "peer priority '%s': %s", p->priority,
		  gnutls_strerror(rc));
	gnutls_credentials_set(p->tls, GNUTLS_CRD_CERTIFICATE, p->cred);

	if (!p->server && p->name) {
		gnutls_server_name_set(p->tls, GNUTLS_NAME_DNS, p->name,
				       strlen(p->name));
		gnutls_session_set_verify_cert(p->tls, p->name, 0);
	}

	gnutls_transport_set_int(p->tls, p->fd);
	gnutls_handshake_set_timeout(p->tls, TU_TIMEOUT_MS);
	if (p->before)
		p->before(p);
	tu_assert(pthread_create(&p->thread, NULL, peer_main, p) == 0,
		  "pthread_create");
}

void tu_peer_join(struct tu_peer *p)
{
	pthread_join(p->thread, NULL);
	gnutls_deinit(p->tls);
	gnutls_certificate_free_credentials(p->cred);
}

#define PEER_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+"

static const struct {
	unsigned int bit;
	const char *priority;
	const char *name;
} ciphers[] = {
	{ HSD_AES_128_GCM, PEER_PRIORITY "AES-128-GCM", "AES-128-GCM" },
	{ HSD_AES_256_GCM, PEER_PRIORITY "AES-256-GCM", "AES-256-GCM" },
	{ HSD_AES_128_CCM, PEER_PRIORITY "AES-128-CCM", "AES-128-CCM" },
	{ HSD_CHACHA20_POLY1305, PEER_PRIORITY "CHACHA20-POLY1305",
	  "CHACHA20-POLY1305" },
};

const char *tu_peer_priority(unsigned int cipher)
{
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].bit == cipher)
			return ciphers[i].priority;
	tu_fail("no priority for cipher mask %#x", cipher);
}

const char *tu_cipher_name(unsigned int cipher)
{
	size_t i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
		if (ciphers[i].bit == cipher)
			return ciphers[i].name;
	tu_fail("no name for cipher mask %#x", cipher);
}

/* The parts of a kTLS crypto_info, read back independently of lib/. */
struct keys {
	gnutls_cipher_algorithm_t alg;
	gnutls_datum_t key;
	uint8_t iv[12];		/* salt followed by the explicit part */
	const uint8_t *seq;
};

#define KEYS(a, st, has_salt) do {					\
	k->alg = a;							\
	k->key.data = (void *)(st)->key;				\
	k->key.size = sizeof((st)->key);				\
	memcpy(k->iv, (st)->salt, has_salt ? 4 : 0);			\
	memcpy(k->iv + (has_salt ? 4 : 0), (st)->iv,			\
	       sizeof((st)->iv));					\
	k->seq = (st)->rec_seq;						\
} while (0)

static void keys_get(const union hsd__ktls_info *info, struct keys *k)
{
	tu_assert(info->info.version == TLS_1_3_VERSION,
		  "crypto_info version %#x", info->info.version);

	switch (info->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		KEYS(GNUTLS_CIPHER_AES_128_GCM, &info->gcm128, true);
		break;
	case TLS_CIPHER_AES_GCM_256:
		KEYS(GNUTLS_CIPHER_AES_256_GCM, &info->gcm256, true);
		break;
	case TLS_CIPHER_AES_CCM_128:
		KEYS(GNUTLS_CIPHER_AES_128_CCM, &info->ccm128, true);
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		KEYS(GNUTLS_CIPHER_CHACHA20_POLY1305, &info->chacha, false);
		break;
	default:
		tu_fail("unknown cipher_type %u", info->info.cipher_type);
	}
}

uint64_t tu_info_seq(const union hsd__ktls_info *info)
{
	struct keys k;
	uint64_t seq = 0;
	int i;

	keys_get(info, &k);
	for (i = 0; i < 8; i++)
		seq = seq << 8 | k.seq[i];
	return seq;
}

/* RFC 8446 section 5.3: the padded sequence number XOR the IV. */
static void nonce_make(const struct keys *k, uint64_t seq, uint8_t *nonce)
{
	int i;

	memcpy(nonce, k->iv, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

static gnutls_aead_cipher_hd_t aead_open(const struct keys *k)
{
	gnutls_aead_cipher_hd_t h;
	int rc;

	rc = gnutls_aead_cipher_init(&h, k->alg, &k->key);
	tu_assert(rc == 0, "aead init: %s", gnutls_strerror(rc));
	return h;
}

int tu_record_decrypt(const union hsd__ktls_info *info, uint64_t seq,
		      const uint8_t *rec, size_t rec_len,
		      uint8_t *out, size_t *out_len)
{
	gnutls_aead_cipher_hd_t h;
	uint8_t nonce[12];
	struct keys k;
	int rc;

	keys_get(info, &k);
	nonce_make(&k, seq, nonce);
	h = aead_open(&k);

	/* RFC 8446 section 5.2: the additional data is the header. */
	rc = gnutls_aead_cipher_decrypt(h, nonce, sizeof(nonce), rec, 5, 16,
					rec + 5, rec_len - 5, out, out_len);
	gnutls_aead_cipher_deinit(h);
	if (rc < 0)
		return -1;

	/* Strip the zero padding; the last non-zero byte is the type. */
	while (*out_len > 0 && out[*out_len - 1] == 0)
		(*out_len)--;
	if (*out_len == 0)
		return -1;
	(*out_len)--;
	return out[*out_len];
}

size_t tu_record_encrypt(const union hsd__ktls_info *info, uint64_t seq,
			 const void *data, size_t len, uint8_t *rec)
{
	return tu_record_encrypt_type(info, seq, 23, data, len, rec);
}

size_t tu_record_encrypt_type(const union hsd__ktls_info *info, uint64_t seq,
			      uint8_t type, const void *data, size_t len,
			      uint8_t *rec)
{
	gnutls_aead_cipher_hd_t h;
	uint8_t nonce[12], inner[1024];
	size_t out_len = len + 1 + 16;
	struct keys k;
	int rc;

	tu_assert(len < sizeof(inner), "record too long");
	memcpy(inner, data, len);
	inner[len] = type;	/* the content type inside */

	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(out_len >> 8);
	rec[4] = (uint8_t)out_len;

	keys_get(info, &k);
	nonce_make(&k, seq, nonce);
	h = aead_open(&k);
	rc = gnutls_aead_cipher_encrypt(h, nonce, sizeof(nonce), rec, 5, 16,
					inner, len + 1, rec + 5, &out_len);
	gnutls_aead_cipher_deinit(h);
	tu_assert(rc == 0, "encrypt: %s", gnutls_strerror(rc));
	return 5 + out_len;
}

void tu_read_full(int fd, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		tu_assert(poll(&pfd, 1, TU_TIMEOUT_MS) == 1,
			  "no data within %d ms", TU_TIMEOUT_MS);
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		tu_assert(n > 0, "recv: %s", n ? strerror(errno) : "EOF");
		p += n;
		len -= (size_t)n;
	}
}

void tu_pair_free(struct hsd_session *c, struct hsd_session *s,
		  struct hsd_creds *cc, struct hsd_creds *sc, int fds[2])
{
	hsd_session_free(c);
	hsd_session_free(s);
	hsd_creds_unref(cc);
	hsd_creds_unref(sc);
	close(fds[0]);
	close(fds[1]);
}
