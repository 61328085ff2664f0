/*
 * libFuzzer driver: the configuration file (src/config/config.c over
 * inih): the input is written to an in-memory file (memfd) and read by
 * config_load_file() exactly as `ocppgw -c FILE` does, then validated and
 * its listen addresses split; everything is freed.
 *
 *   make fuzz                 (every target; corpus in tests/fuzz/corpus/fuzz_config)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        log_setup(LOG_ERROR, LOG_TEXT);
        fd = memfd_create("fuzz_config", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    struct config c;
    config_defaults(&c);
    char err[256] = "";
    if (config_load_file(&c, path, err, sizeof err)) {
        if (config_validate(&c, err, sizeof err)) {
            char addr[128];
            int port;
            config_split_listen(c.listen, addr, sizeof addr, &port);
            config_split_listen(c.api_listen, addr, sizeof addr, &port);
            config_split_listen(c.tls_listen, addr, sizeof addr, &port);
        }
    }
    if (!memchr(err, '\0', sizeof err))
        abort();
    config_free(&c);
    return 0;
}
