// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * handshaked: serve the kernel's TLS handshake requests. Options and
 * start-up, signals, and the single-threaded epoll loop that waits on
 * netlink, signals, request sockets and request deadlines.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#if HAVE_CAPNG
#include <cap-ng.h>
#endif

#include <handshaked/handshaked.h>

#include "daemon.h"
#include "keyring.h"
#include "log.h"
#include "request.h"
#include "worker.h"

struct options {
	const char *config;
	bool must_exist;	/* -c given: a missing file is an error */
	bool to_stderr;
	unsigned int workers;
};

struct loop {
	struct hd_watch nl_watch;
	struct hd_watch sig_watch;
	struct hd_watch sup_watch;	/* worker: the socketpair */
	int sigfd;
	bool stop;
	bool reload;
	bool reap;
	bool counters;		/* SIGUSR2: log them */
	bool notify_status;	/* systemd listens for STATUS= */
	uint64_t status_ms;	/* when STATUS= was last sent */
};

/* STATUS= is sent at most this often. */
#define STATUS_INTERVAL_MS	1000

/* Everything a new worker starts from: the supervisor's state. */
struct daemon_ctx {
	struct hd_daemon *d;
	struct loop *l;
	const struct options *o;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [-c FILE] [-s] [-w N] [-v] [-h]\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -s, --stderr       log to stderr as well as syslog\n"
		"  -w, --workers N    worker processes, 1 to %d (default %d)\n"
		"  -v, --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n",
		prog, HD_CONFIG_DEFAULT_PATH, HD_WORKERS_MAX,
		HD_WORKERS_DEFAULT);
}

/* Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "stderr",	no_argument,		NULL, 's' },
		{ "version",	no_argument,		NULL, 'v' },
		{ "workers",	required_argument,	NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long n;
	int c;

	o->config = HD_CONFIG_DEFAULT_PATH;
	o->workers = HD_WORKERS_DEFAULT;
	while ((c = getopt_long(argc, argv, "c:hsvw:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			o->must_exist = true;
			break;
		case 's':
			o->to_stderr = true;
			break;
		case 'w':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > HD_WORKERS_MAX) {
				fprintf(stderr, "%s: bad worker count '%s'\n",
					argv[0], optarg);
				return EXIT_FAILURE;
			}
			o->workers = (unsigned int)n;
			break;
		case 'v':
			printf("handshaked %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout, argv[0]);
			return EXIT_SUCCESS;
		default:
			usage(stderr, argv[0]);
			return EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		usage(stderr, argv[0]);
		return EXIT_FAILURE;
	}
	return -1;
}

static void gnutls_log(int level, const char *text)
{
	size_t len = strlen(text);

	if (len && text[len - 1] == '\n')
		len--;
	hd_log_force(LOG_DEBUG, "gnutls[%d]: %.*s", level, (int)len, text);
}

/* [debug]: taken again on every reload. */
static void apply_debug(const struct hd_config *cfg)
{
	hd_log_set_debug(cfg->loglevel);
	hd_nl_set_debug(cfg->nl_debug);
	gnutls_global_set_log_function(gnutls_log);
	gnutls_global_set_log_level(cfg->tls_debug);
	if (cfg->delay_done)
		log_notice("Ignoring [debug] delay_done: not supported");
	if (cfg->client.pq_certificate || cfg->server.pq_certificate)
		log_notice("Ignoring x509.pq.certificate: not supported yet");
}

/*
 * Read the configuration and build credentials from it; the
 * supervisor (key not NULL) also reads or makes the ticket key.
 */
static int load_config(const struct options *o, struct hd_config *cfg,
		       struct hd_creds_set *creds, struct hd_ticket_key *key)
{
	char err[512];
	int ret;

	ret = hd_config_load(cfg, o->config, o->must_exist, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}

	ret = hd_creds_build(creds, cfg, err, sizeof(err));
	if (ret < 0)
		goto free_config;

	if (key) {
		ret = hd_ticket_key_load(key, cfg->resume.ticket_key, err,
					 sizeof(err));
		if (ret < 0)
			goto release_creds;
	}
	return 0;

release_creds:
	hd_creds_release(creds);
free_config:
	log_err("%s", err);
	hd_config_free(cfg);
	return ret;
}

/*
 * The supervisor's ticket key: reloading makes a new one unless it
 * comes from a file, so every ticket issued before is refused (clients
 * then run a full handshake), and the client tickets are dropped.
 */
static void apply_resume(struct hd_daemon *d, struct hd_ticket_key *key)
{
	hd_resume_apply(&d->resume, &d->cfg.resume, key);
	log_debug("Session ticket key %s; client tickets dropped",
		  d->cfg.resume.ticket_key ? "read from its file" : "generated");
}


/*
 * SIGHUP: a new configuration replaces the old one only whole. The
 * supervisor and every worker read the file each for itself; the
 * supervisor forwards the signal only after it loaded the file, so a
 * broken file reaches no worker.
 */
static int reload(struct hd_daemon *d, const struct options *o)
{
	struct hd_ticket_key key = { 0 };
	bool supervisor = d->sup_fd < 0;
	struct hd_creds_set creds;
	struct hd_config cfg;

	if (load_config(o, &cfg, &creds, supervisor ? &key : NULL) < 0) {
		log_err("Failed to reload config file '%s': keeping the old one",
			o->config);
		return -EINVAL;
	}

	/* Requests in flight keep their own references. */
	hd_creds_release(&d->creds);
	hd_config_free(&d->cfg);
	d->creds = creds;
	d->cfg = cfg;
	if (supervisor)
		apply_resume(d, &key);

	apply_debug(&d->cfg);
	hd_keyring_link_config(d->cfg.keyrings);
	log_notice("Reloaded config file '%s'", o->config);
	return 0;
}

static int setup_signals(struct loop *l)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;

	/* A peer that vanishes must not kill us on write. */
	signal(SIGPIPE, SIG_IGN);

	l->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return l->sigfd < 0 ? -errno : 0;
}

static int watch_add(int epfd, int fd, struct hd_watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* epoll with the signals; the supervisor adds netlink, a worker its
 * socketpair. */
static int setup_loop(struct hd_daemon *d, struct loop *l, int fd,
		      struct hd_watch *w)
{
	int ret;

	l->sig_watch.kind = HD_WATCH_SIGNAL;
	ret = setup_signals(l);
	if (ret < 0)
		return ret;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;

	ret = watch_add(d->epfd, fd, w);
	if (ret < 0)
		return ret;
	return watch_add(d->epfd, l->sigfd, &l->sig_watch);
}

#if HAVE_CAPNG
/* Whether the bounding set holds nothing but CAP_NET_ADMIN already. */
static bool bounding_set_minimal(void)
{
	unsigned int cap;

	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (cap != CAP_NET_ADMIN &&
		    capng_have_capability(CAPNG_BOUNDING_SET, cap))
			return false;
	return true;
}
#endif

static void drop_capabilities(void)
{
#if HAVE_CAPNG
	capng_select_t what = CAPNG_SELECT_BOTH;

	/* ACCEPT needs CAP_NET_ADMIN; nothing else is needed from here. */
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN)) {
		log_warn("Failed to keep capability 'CAP_NET_ADMIN': not held, ignoring");
		return;
	}

	/*
	 * Cutting the bounding set takes CAP_SETPCAP, which a service
	 * manager that cut it for us (CapabilityBoundingSet=) has taken
	 * away too: then only the other sets are left to cut.
	 */
	if (bounding_set_minimal())
		what = CAPNG_SELECT_CAPS;

	capng_clear(what);
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
		     CAP_NET_ADMIN);
	if (capng_apply(what) < 0)
		log_warn("Failed to drop capabilities 'all but CAP_NET_ADMIN': capng_apply failed, ignoring");
#endif
}

/*
 * A worker needs no capability: the supervisor sends ACCEPT and DONE
 * (both admin commands), the sockets were handed over and keyrings
 * are a matter of key permissions. The bounding set was cut by the
 * supervisor already; changing it again would need CAP_SETPCAP.
 */
static void drop_all_capabilities(void)
{
#if HAVE_CAPNG
	capng_get_caps_process();
	capng_clear(CAPNG_SELECT_CAPS);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		log_warn("Failed to drop capabilities 'all': capng_apply failed, ignoring");
#endif
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static void notify(const char *state)
{
#if HAVE_SYSTEMD
	sd_notify(0, state);
#endif
}

static void on_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP || si.ssi_signo == SIGUSR1)
			l->reload = true;
		else if (si.ssi_signo == SIGUSR2)
			l->counters = true;
		else if (si.ssi_signo == SIGCHLD)
			l->reap = true;
		else
			l->stop = true;
	}
}

/* ---- a worker ---- */

static void worker_take(struct hd_daemon *d, struct loop *l)
{
	struct hd_resume_offer offer;
	struct hd_accept a;
	void *ticket;
	int32_t token;
	int ret;

	for (;;) {
		ret = hd_worker_recv(d->sup_fd, &a, &token, &offer, &ticket);
		if (ret == -EAGAIN || ret == -EINTR)
			return;
		if (ret == -EPIPE || ret == -ECONNRESET) {
			/* nobody could send DONE for what we finish */
			log_err("Failed to reach the supervisor: it is gone, stopping");
			l->stop = true;
			return;
		}
		if (ret < 0) {
			log_err("Failed to receive handshake request: %s",
				strerror(-ret));
			continue;
		}

		log_debug("Accepted %s request on socket %d, peer '%s', timeout %u ms",
			  a.auth_mode == HSD_NL_AUTH_PSK ? "psk" :
			  a.auth_mode == HSD_NL_AUTH_X509 ? "x509" : "anon",
			  a.sockfd, a.peername, a.timeout_ms);
		hd_request_start(d, &a, token, &offer, ticket);
		explicit_bzero(&offer, sizeof(offer));
	}
}

static void worker_dispatch(struct hd_daemon *d, struct loop *l,
			    struct epoll_event *ev)
{
	struct hd_watch *w = ev->data.ptr;

	switch (w->kind) {
	case HD_WATCH_SUPERVISOR:
		worker_take(d, l);
		break;
	case HD_WATCH_SIGNAL:
		on_signal(l);
		break;
	case HD_WATCH_REQUEST:
		hd_request_event(d, w, ev->events);
		break;
	case HD_WATCH_NETLINK:
	case HD_WATCH_WORKER:
		break;
	}
}

static int worker_run(struct hd_daemon *d, struct loop *l,
		      const struct options *o)
{
	struct epoll_event evs[32];
	int i, n;

	while (!l->stop) {
		n = epoll_wait(d->epfd, evs, 32, hd_requests_next_timeout(d));
		if (n < 0 && errno != EINTR)
			return -errno;

		for (i = 0; i < n; i++)
			worker_dispatch(d, l, &evs[i]);
		hd_requests_expire(d);

		if (l->reload)
			reload(d, o);
		l->reload = false;
		l->counters = false;	/* the supervisor keeps them */
	}
	return 0;
}

/* The supervisor's netlink sockets, epoll and signalfd are not ours. */
static void worker_forget_supervisor(struct hd_daemon *d, struct loop *l)
{
	close(l->sigfd);
	close(d->epfd);
	hd_nl_close(d->nl);
	d->nl = NULL;
	*l = (struct loop){ .sigfd = -1 };
}

static int worker_main(int fd, void *arg)
{
	struct daemon_ctx *c = arg;
	struct hd_daemon *d = c->d;
	struct loop *l = c->l;
	int ret;

	worker_forget_supervisor(d, l);
	/* tickets and key come with each request, not from our copy */
	hd_resume_free(&d->resume);
	d->sup_fd = fd;
	l->sup_watch.kind = HD_WATCH_SUPERVISOR;

	ret = hd_keyring_new_session();
	if (ret < 0)
		log_warn("Failed to join keyring 'session': %s, sharing the supervisor's",
			 strerror(-ret));
	hd_keyring_link_config(d->cfg.keyrings);

	ret = setup_loop(d, l, fd, &l->sup_watch);
	if (ret < 0) {
		log_err("Failed to set up event loop 'epoll': %s",
			strerror(-ret));
		return EXIT_FAILURE;
	}
	drop_all_capabilities();

	ret = worker_run(d, l, c->o);
	if (ret < 0)
		log_err("Failed to wait for events 'epoll': %s", strerror(-ret));
	hd_requests_abort(d);
	hd_creds_release(&d->creds);
	hd_config_free(&d->cfg);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the supervisor ---- */

/* The sooner of two epoll timeouts, -1 meaning never. */
static int sooner(int a, int b)
{
	if (a < 0)
		return b;
	return b < 0 || a < b ? a : b;
}

/* Counters into STATUS= for systemctl status, at most once a second. */
static void update_status(struct hd_daemon *d, struct loop *l, bool now)
{
#if HAVE_SYSTEMD
	char line[256];

	if (!l->notify_status || !d->resume.changed)
		return;
	if (!now && hd_now_ms() - l->status_ms < STATUS_INTERVAL_MS)
		return;

	hd_resume_counters(&d->resume, line, sizeof(line));
	sd_notifyf(0, "STATUS=%s", line);
	l->status_ms = hd_now_ms();
#endif
}

/* epoll's timeout: until the next STATUS= is due, if one is. */
static int status_timeout(const struct hd_daemon *d, const struct loop *l)
{
	uint64_t since;

	if (!l->notify_status || !d->resume.changed)
		return -1;
	since = hd_now_ms() - l->status_ms;
	return since >= STATUS_INTERVAL_MS ? 0
					   : (int)(STATUS_INTERVAL_MS - since);
}

/* SIGUSR2: one line of counters. */
static void log_counters(struct hd_daemon *d, struct loop *l)
{
	char line[256];

	d->resume.changed = true;
	update_status(d, l, true);
	hd_resume_counters(&d->resume, line, sizeof(line));
	log_info("%s", line);
}

static void dispatch(struct hd_daemon *d, struct hd_pool *p,
		     struct loop *l, struct epoll_event *ev)
{
	struct hd_watch *w = ev->data.ptr;

	switch (w->kind) {
	case HD_WATCH_NETLINK:
		hd_nl_drain(d->nl);
		hd_pool_accept(p);
		break;
	case HD_WATCH_SIGNAL:
		on_signal(l);
		break;
	case HD_WATCH_WORKER:
		hd_pool_worker_event(p, (struct hd_worker *)w);
		break;
	case HD_WATCH_REQUEST:
	case HD_WATCH_SUPERVISOR:
		break;
	}
}

static int run(struct hd_daemon *d, struct hd_pool *p, struct loop *l,
	       const struct options *o)
{
	struct epoll_event evs[32];
	int i, n;

	/*
	 * Requests queued before we joined (while no agent ran, or
	 * while a killed one was being restarted) got their READY
	 * already: ask until the kernel has none left.
	 */
	hd_pool_accept(p);

	while (!l->stop) {
		n = epoll_wait(d->epfd, evs, 32, sooner(hd_pool_timeout(p),
						   status_timeout(d, l)));
		if (n < 0 && errno != EINTR)
			return -errno;

		for (i = 0; i < n; i++)
			dispatch(d, p, l, &evs[i]);
		hd_pool_tick(p);

		if (l->counters)
			log_counters(d, l);
		l->counters = false;
		update_status(d, l, false);

		if (l->reap)
			hd_pool_reap(p);
		l->reap = false;
		if (l->reload && reload(d, o) == 0)
			hd_pool_signal(p, SIGHUP);
		l->reload = false;
	}
	return 0;
}

static int start(struct hd_daemon *d, const struct options *o)
{
	struct hd_ticket_key key = { 0 };
	int ret;

	ret = load_config(o, &d->cfg, &d->creds, &key);
	if (ret < 0)
		return ret;
	apply_debug(&d->cfg);
	apply_resume(d, &key);

	ret = hsd_ktls_probe(&d->ciphers);
	if (ret < 0) {
		log_err("Failed to probe kernel TLS 'tls': %s (is the tls module loaded?)",
			strerror(-ret));
		return ret;
	}
	log_debug("Kernel TLS takes cipher mask 0x%x", d->ciphers);

	hd_keyring_link_config(d->cfg.keyrings);

	ret = hd_nl_open(&d->nl, d->cfg.nl_debug);
	if (ret < 0)
		log_err("Failed to join netlink group '%s': %s",
			HSD_NL_FAMILY "/" HSD_NL_GROUP, strerror(-ret));
	return ret;
}

int main(int argc, char **argv)
{
	struct hd_daemon d = { .epfd = -1, .sup_fd = -1 };
	struct options o = { 0 };
	struct loop l = { .sigfd = -1 };
	struct daemon_ctx ctx = { .d = &d, .l = &l, .o = &o };
	static struct hd_pool pool;
	int ret;

	ret = parse_options(argc, argv, &o);
	if (ret >= 0)
		return ret;

	hd_log_open("handshaked", o.to_stderr);
	ret = start(&d, &o);
	if (ret < 0)
		goto stop;

	l.nl_watch.kind = HD_WATCH_NETLINK;
	ret = setup_loop(&d, &l, hd_nl_event_fd(d.nl), &l.nl_watch);
	if (ret < 0) {
		log_err("Failed to set up event loop 'epoll': %s",
			strerror(-ret));
		goto stop;
	}

	drop_capabilities();
#if HAVE_SYSTEMD
	l.notify_status = getenv("NOTIFY_SOCKET") != NULL;
#endif
	ret = hd_pool_start(&pool, o.workers, d.epfd, d.nl, &d.resume,
			    worker_main, &ctx);
	if (ret < 0) {
		log_err("Failed to start workers: %s", strerror(-ret));
		hd_pool_stop(&pool);
		goto stop;
	}
	notify("READY=1");
	log_notice("handshaked %s started, %u workers", PACKAGE_VERSION,
		   o.workers);

	ret = run(&d, &pool, &l, &o);
	if (ret < 0)
		log_err("Failed to wait for events 'epoll': %s", strerror(-ret));

	notify("STOPPING=1");
	hd_pool_stop(&pool);
	log_notice("handshaked %s stopped", PACKAGE_VERSION);
stop:
	if (l.sigfd >= 0)
		close(l.sigfd);
	if (d.epfd >= 0)
		close(d.epfd);
	hd_nl_close(d.nl);
	hd_creds_release(&d.creds);
	hd_config_free(&d.cfg);
	hd_resume_free(&d.resume);
	hd_log_close();
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
