/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Daemon logging: syslog, plus stderr when asked. The only place in
 * the project that prints; debug lines appear only when the debug
 * level from the configuration is above zero.
 */
#ifndef HANDSHAKED_LOG_H
#define HANDSHAKED_LOG_H

#include <stdbool.h>
#include <syslog.h>

void hd_log_open(const char *ident, bool to_stderr);
void hd_log_close(void);
void hd_log_set_debug(int level);
int hd_log_debug_level(void);

void hd_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Log even a debug line while loglevel is 0: for output that another
 * setting asked for ([debug] tls), as tlshd does.
 */
void hd_log_force(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	hd_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	hd_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	hd_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	hd_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	hd_log(LOG_DEBUG, __VA_ARGS__)

/* "EACCES" for EACCES or -EACCES; never NULL. */
const char *hd_errno_name(int err);

#endif /* HANDSHAKED_LOG_H */
