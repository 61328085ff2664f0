/*
 * Option helpers shared by the chargers' generators: ocppsim (on
 * libwebsockets) and tools/stormsim.c (plain sockets, the restart
 * benchmark's storm). No libwebsockets here.
 */
#ifndef OCPPGW_SIMOPTS_H
#define OCPPGW_SIMOPTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* A decimal integer in [lo, hi], the whole string; false otherwise. */
bool simopt_int(const char *s, long lo, long hi, int *out);

/*
 * "A-B" IPv4 ranges and single addresses, comma separated (a range at most
 * 65,536 addresses): add(ctx, address) for each, in order. false, with a
 * line on stderr starting with tool, when spec is malformed.
 */
bool simopt_sources(const char *tool, const char *spec, void (*add)(void *ctx, struct in_addr a), void *ctx);

/*
 * Exponential back-off with full jitter: the n-th retry (n = 0 first) waits
 * r * min(max_ms, min_ms * 2^n) ms, r uniform in [0, 1). Microseconds.
 */
int64_t simopt_backoff_us(int min_ms, int max_ms, int n, double r);

#endif
