/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Minimal checking for the daemon's host tests: count failures, say
 * where they happened, exit 0 (pass), 1 (fail) or 77 (skip).
 */
#ifndef HANDSHAKED_TESTS_CHECK_H
#define HANDSHAKED_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_SKIP 77

static int check_failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		check_failures++;					\
	}								\
} while (0)

#define CHECK_CONTAINS(text, part) do {					\
	if (!strstr((text), (part))) {					\
		fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n",	\
			__FILE__, __LINE__, (text), (part));		\
		check_failures++;					\
	}								\
} while (0)

static inline int check_exit(void)
{
	if (check_failures)
		fprintf(stderr, "%d check(s) failed\n", check_failures);
	return check_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_exit(), removing the test's scratch directory if all passed. */
static inline int check_exit_clean(const char *dir)
{
	char cmd[300];

	if (!check_failures) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "left %s behind\n", dir);
	}
	return check_exit();
}

#endif /* HANDSHAKED_TESTS_CHECK_H */
