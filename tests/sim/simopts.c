/* Option helpers of the chargers' generators (simopts.h). */
#include "simopts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool simopt_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

bool simopt_sources(const char *tool, const char *spec, void (*add)(void *ctx, struct in_addr a), void *ctx)
{
    char *copy = strdup(spec), *save = NULL;
    if (!copy)
        abort();
    bool ok = true;
    for (char *tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        struct in_addr lo, hi;
        if (dash)
            *dash = '\0';
        if (inet_pton(AF_INET, tok, &lo) != 1 || (dash && inet_pton(AF_INET, dash + 1, &hi) != 1)) {
            fprintf(stderr, "%s: --sources: not an IPv4 address or range: %s\n", tool, spec);
            ok = false;
            break;
        }
        uint32_t a = ntohl(lo.s_addr), z = dash ? ntohl(hi.s_addr) : a;
        if (z < a || z - a > 65535) {
            fprintf(stderr, "%s: --sources: bad range %s\n", tool, spec);
            ok = false;
            break;
        }
        for (uint64_t x = a; x <= z; x++)
            add(ctx, (struct in_addr){ htonl((uint32_t)x) });
    }
    free(copy);
    return ok;
}

int64_t simopt_backoff_us(int min_ms, int max_ms, int n, double r)
{
    int64_t cap = min_ms;
    while (n-- > 0 && cap < max_ms)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    return (int64_t)(r * (double)(cap * 1000 + 1));
}
