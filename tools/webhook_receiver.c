/*
 * webhook-receiver: a webhook receiver for benchmarks (scripts/webhook-bench.sh,
 * the events scenarios of scripts/bench.sh).
 *
 *   build/webhook-receiver --port 9000 --secret whsec_... [--secret whsec_...]
 *                          [--expect N] [--seconds S] [--ids FILE] [--hold-after N]
 *
 * One poll(2) loop on 127.0.0.1:PORT, keep-alive HTTP/1.1, requests framed
 * by Content-Length, every one answered at once. For each delivery it
 * checks the Standard Webhooks signature against each secret given (one per
 * endpoint sending here; tools/webhook_check.c, shared with the integration
 * tests' receiver): a bad one is counted, and answered 401 so that the
 * gateway retries. Valid deliveries are answered 200 and counted, and so
 * are the distinct webhook-ids among them (a redelivery counts once) and
 * the event types; commit-to-receipt latency is now minus the event's
 * createdAt (same host: same clock), taken at an id's first delivery. It
 * stops after N distinct ids, S seconds, or SIGTERM/SIGINT, writes the
 * distinct ids one a line to FILE, and prints one JSON line:
 *   {"delivered": N, "distinct": D, "badSignatures": B, "seconds": T,
 *    "perSecond": R, "latencyMs": {"p50": .., "p90": .., "p99": .., "max": ..},
 *    "types": {"session.updated": n, ...}}
 * where seconds and perSecond (distinct ids a second) run from the first
 * delivery to the last.
 *
 * --hold-after N: once N distinct ids are answered, requests are read but
 * neither answered nor counted (deliveries held in flight, for a kill -9 of
 * the gateway during delivery) until SIGUSR1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "webhook_check.h"

#define CONN_MAX 1024
#define SECRETS_MAX 4
#define TYPES_MAX 64

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static volatile sig_atomic_t stop, released;
static size_t hold_after;       /* 0: never hold */
static unsigned char keys[SECRETS_MAX][64];
static size_t keylens[SECRETS_MAX];
static int nkeys;
static double *lat;             /* one per distinct id */
static size_t nlat, caplat;
static size_t nseen;
static long delivered, bad;
static double first_ms, last_ms;
static struct {
    char name[48];
    long n;
} types[TYPES_MAX];
static int ntypes;

static void on_signal(int s)
{
    if (s == SIGUSR1)
        released = 1;
    else
        stop = 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* "createdAt":"2026-12-06T10:00:00.123Z" in body -> ms since the epoch, or 0. */
static double created_ms(const char *body, size_t len)
{
    const char *p = memmem(body, len, "\"createdAt\":\"", 13);
    if (!p)
        return 0;
    p += 13;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(p, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return 0;
    double ms = (double)timegm(&tm) * 1000.0;
    if (*end == '.')
        ms += strtod(end, NULL) * 1000.0;
    return ms;
}

static bool signed_ok(const char *id, const char *ts, const char *body, size_t blen, const char *sig)
{
    for (int i = 0; i < nkeys; i++)
        if (whcheck_signed(keys[i], keylens[i], id, ts, body, blen, sig))
            return true;
    return false;
}

/* Counts the event's "type". */
static void count_type(const char *body, size_t len)
{
    char name[sizeof types[0].name] = "?";
    const char *p = memmem(body, len, "\"type\":\"", 8);
    if (p) {
        p += 8;
        size_t n = 0;
        while (p + n < body + len && p[n] != '"' && n + 1 < sizeof name)
            n++;
        memcpy(name, p, n);
        name[n] = '\0';
    }
    int i = 0;
    while (i < ntypes && strcmp(types[i].name, name) != 0)
        i++;
    if (i == ntypes) {
        if (ntypes == TYPES_MAX)
            return;
        snprintf(types[ntypes++].name, sizeof types[0].name, "%s", name);
    }
    types[i].n++;
}

/* A set of the ids seen (open addressing, grown at half full). */
static char (*set)[64];
static size_t setcap;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool set_add(const char *id)
{
    if (2 * (nseen + 1) > setcap) {
        size_t old = setcap;
        char (*prev)[64] = set;
        setcap = setcap ? setcap * 2 : 65536;
        set = calloc(setcap, sizeof *set);
        for (size_t i = 0; i < old; i++)
            if (prev[i][0])
                for (size_t j = hash(prev[i]) & (setcap - 1);; j = (j + 1) & (setcap - 1))
                    if (!set[j][0]) {
                        memcpy(set[j], prev[i], sizeof set[j]);
                        break;
                    }
        free(prev);
    }
    for (size_t j = hash(id) & (setcap - 1);; j = (j + 1) & (setcap - 1)) {
        if (!set[j][0]) {
            snprintf(set[j], sizeof set[j], "%s", id);
            return true;
        }
        if (strcmp(set[j], id) == 0)
            return false;
    }
}

static bool is_new(const char *id)
{
    if (!id[0] || !set_add(id))
        return false;
    nseen++;
    return true;
}

static void handle(int fd, const char *head, size_t hlen, const char *body, size_t blen)
{
    if (hold_after && nseen >= hold_after && !released)
        return;
    char id[64], ts[32], sig[400];
    whcheck_header(head, hlen, "webhook-id", id, sizeof id);
    whcheck_header(head, hlen, "webhook-timestamp", ts, sizeof ts);
    whcheck_header(head, hlen, "webhook-signature", sig, sizeof sig);
    bool ok = signed_ok(id, ts, body, blen, sig);
    const char *reply = ok ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                           : "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    ssize_t w = write(fd, reply, strlen(reply));
    (void)w;
    if (!ok) {
        bad++;
        return;
    }
    double now = now_ms();
    if (!first_ms)
        first_ms = now;
    last_ms = now;
    delivered++;
    if (!is_new(id))
        return;
    count_type(body, blen);
    double c = created_ms(body, blen);
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 4096;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat)
            abort();
    }
    lat[nlat++] = c ? now - c : -1;
}

static void drain(struct conn *c)
{
    size_t hlen, blen;
    while (whcheck_request(c->buf, c->len, &hlen, &blen)) {
        handle(c->fd, c->buf, hlen, c->buf + hlen, blen);
        memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
        c->len -= hlen + blen;
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return lat[i];
}

int main(int argc, char **argv)
{
    int port = 0;
    long expect = 0;
    double seconds = 0;
    const char *ids_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) {
            port = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--secret") && nkeys < SECRETS_MAX) {
            int k = whcheck_key(argv[i + 1], keys[nkeys], sizeof keys[nkeys]);
            if (k <= 0) {
                fprintf(stderr, "webhook-receiver: not a secret: %s\n", argv[i + 1]);
                return 2;
            }
            keylens[nkeys++] = (size_t)k;
        } else if (!strcmp(argv[i], "--expect")) {
            expect = atol(argv[i + 1]);
        } else if (!strcmp(argv[i], "--seconds")) {
            seconds = atof(argv[i + 1]);
        } else if (!strcmp(argv[i], "--ids")) {
            ids_file = argv[i + 1];
        } else if (!strcmp(argv[i], "--hold-after")) {
            hold_after = (size_t)atol(argv[i + 1]);
        }
    }
    if (!port || !nkeys) {
        fprintf(stderr, "usage: webhook-receiver --port P --secret whsec_... [--secret ...] [--expect N]"
                        " [--seconds S] [--ids FILE] [--hold-after N]\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1024)) {
        perror("webhook-receiver: listen");
        return 1;
    }
    static struct conn conns[CONN_MAX];
    int n = 0;
    double start = now_ms();
    while (!stop && (!expect || (long)nlat < expect) && (!seconds || now_ms() - start < seconds * 1000)) {
        struct pollfd pfd[CONN_MAX + 1];
        pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (int i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
        if (poll(pfd, (nfds_t)n + 1, 200) < 0)
            continue;
        for (int i = n - 1; i >= 0; i--) {
            if (!pfd[i + 1].revents)
                continue;
            struct conn *c = &conns[i];
            if (c->cap - c->len < 65536) {
                c->cap = c->cap * 2 + 65536;
                c->buf = realloc(c->buf, c->cap);
            }
            ssize_t got = read(c->fd, c->buf + c->len, c->cap - c->len);
            if (got <= 0) {
                close(c->fd);
                free(c->buf);
                conns[i] = conns[--n];
                continue;
            }
            c->len += (size_t)got;
            drain(c);
        }
        if (pfd[0].revents && n < CONN_MAX) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                int on = 1;     /* answers go out at once, not behind a delayed ACK */
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                conns[n++] = (struct conn){ .fd = fd };
            }
        }
    }
    if (ids_file) {
        FILE *f = fopen(ids_file, "w");
        if (!f) {
            perror("webhook-receiver: --ids");
            return 1;
        }
        for (size_t i = 0; i < setcap; i++)
            if (set[i][0])
                fprintf(f, "%s\n", set[i]);
        fclose(f);
    }
    qsort(lat, nlat, sizeof *lat, cmp);
    double span = (last_ms - first_ms) / 1000.0;
    printf("{\"delivered\": %ld, \"distinct\": %zu, \"badSignatures\": %ld, \"seconds\": %.3f, \"perSecond\": %.0f,"
           " \"latencyMs\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f}, \"types\": {",
           delivered, nseen, bad, span, span > 0 ? (double)(nlat > 0 ? nlat - 1 : 0) / span : 0, pct(0.5), pct(0.9),
           pct(0.99), nlat ? lat[nlat - 1] : 0);
    for (int i = 0; i < ntypes; i++)
        printf("%s\"%s\": %ld", i ? ", " : "", types[i].name, types[i].n);
    printf("}}\n");
    return 0;
}
