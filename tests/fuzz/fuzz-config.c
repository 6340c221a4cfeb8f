// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the bytes as a configuration file (through a
 * memfd, since the parser reads a path) for hd_config_load(). A
 * refused file must leave the configuration empty and say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hd_config empty;
	struct hd_config cfg;
	char path[64], err[512];
	int fd, ret;

	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	ret = hd_config_load(&cfg, path, true, err, sizeof(err));
	if (ret < 0 && (memcmp(&cfg, &empty, sizeof(cfg)) || !err[0]))
		abort();
	hd_config_free(&cfg);
	close(fd);
	return 0;
}
