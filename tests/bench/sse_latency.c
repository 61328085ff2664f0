/*
 * SSE commit-to-client latency (events.md, Targets: p99 < 100 ms with 1,000
 * streams). Opens N streams of GET /v1/events/stream?type=data_transfer.received with the
 * integration tests' SSE client, then commits events at a steady rate on
 * its own libpq connection (a second thread, one event per transaction:
 * each commit NOTIFYs) and measures, for every event on every stream,
 * (time received) - (createdAt, the event's commit time, ms precision).
 * Same machine, same clock. Prints count, p50, p90, p99, max.
 *
 *   sse_latency PORT KEY CONNINFO [STREAMS=1000] [RATE=100/s] [SECONDS=20]
 *
 * Built and run by scripts/sse-latency.sh (a private PostgreSQL and
 * gateway). A measurement, not a test: nothing here asserts.
 */

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../integration/support/sse.h"

static atomic_bool done;
static atomic_long committed;

struct writer {
    const char *conninfo;
    int rate;
    int seconds;
};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *write_events(void *arg)
{
    struct writer *w = arg;
    PGconn *c = PQconnectdb(w->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "sse_latency: %s", PQerrorMessage(c));
        exit(1);
    }
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long total = (long)w->rate * w->seconds;
    long step_ns = 1000000000L / w->rate;
    for (long i = 0; i < total; i++) {
        PGresult *r = PQexec(c, "SELECT ocppgw_event('data_transfer.received', NULL, now(), '{}'::jsonb)");
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fprintf(stderr, "sse_latency: %s", PQerrorMessage(c));
        PQclear(r);
        atomic_fetch_add(&committed, 1);
        next.tv_nsec += step_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    PQfinish(c);
    atomic_store(&done, true);
    return NULL;
}

/* "2026-12-06T10:00:00.123Z" (milliseconds optional) in the event JSON -> µs since the epoch, or -1. */
static int64_t created_us(const char *json)
{
    const char *p = strstr(json, "\"createdAt\":\"");
    if (!p)
        return -1;
    p += 13;
    struct tm tm = { 0 };
    int ms = 0;
    if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return -1;
    if (p[19] == '.')
        ms = atoi(p + 20);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + (int64_t)ms * 1000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sse_latency PORT KEY CONNINFO [STREAMS] [RATE] [SECONDS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int n = argc > 4 ? atoi(argv[4]) : 1000;
    struct writer w = { argv[3], argc > 5 ? atoi(argv[5]) : 100, argc > 6 ? atoi(argv[6]) : 20 };
    struct sse **s = calloc((size_t)n, sizeof *s);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    for (int i = 0; i < n; i++) {
        s[i] = sse_open(port, argv[2], "/v1/events/stream?type=data_transfer.received", NULL);
        if (sse_status(s[i]) != 200) {
            fprintf(stderr, "sse_latency: stream %d: status %d %s\n", i, sse_status(s[i]), sse_body(s[i]));
            return 1;
        }
    }
    fprintf(stderr, "sse_latency: %d streams open; %d events/s for %d s\n", n, w.rate, w.seconds);
    size_t cap = (size_t)n * (size_t)w.rate * (size_t)w.seconds + 16, count = 0;
    int64_t *lat = malloc(cap * sizeof *lat);
    pthread_t t;
    pthread_create(&t, NULL, write_events, &w);
    int64_t quiet_until = 0;
    for (;;) {
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){ .fd = sse_fd(s[i]), .events = POLLIN };
        int rc = poll(p, (nfds_t)n, 200);
        int64_t now = wall_us();
        if (rc > 0) {
            for (int i = 0; i < n; i++) {
                if (!(p[i].revents & (POLLIN | POLLHUP)))
                    continue;
                sse_pump(s[i]);
                struct sse_event ev;
                while (sse_pending(s[i]) && sse_next(s[i], &ev, 0)) {
                    int64_t c = created_us(ev.data);
                    if (c > 0 && count < cap)
                        lat[count++] = now - c;
                }
            }
        }
        if (atomic_load(&done)) {
            if (!quiet_until)
                quiet_until = now + 2000000;    /* the last events' stragglers */
            if (now > quiet_until)
                break;
        }
    }
    pthread_join(t, NULL);
    long expected = atomic_load(&committed) * n;
    qsort(lat, count, sizeof *lat, cmp64);
    if (!count) {
        fprintf(stderr, "sse_latency: no event received\n");
        return 1;
    }
#define PCT(q) ((double)lat[(size_t)((double)(count - 1) * (q))] / 1000.0)
    printf("streams=%d rate=%d/s seconds=%d events=%ld deliveries=%zu/%ld "
           "latency_ms p50=%.1f p90=%.1f p99=%.1f max=%.1f (createdAt has ms precision)\n",
           n, w.rate, w.seconds, atomic_load(&committed), count, expected, PCT(0.50), PCT(0.90), PCT(0.99),
           (double)lat[count - 1] / 1000.0);
    for (int i = 0; i < n; i++)
        sse_close(s[i]);
    free(s);
    free(p);
    free(lat);
    return 0;
}
