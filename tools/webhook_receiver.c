/*
 * webhook-receiver: a webhook receiver for benchmarks (scripts/webhook-bench.sh).
 *
 *   build/webhook-receiver --port 9000 --secret whsec_... [--expect N] [--seconds S]
 *
 * One poll(2) loop on 127.0.0.1:PORT, keep-alive HTTP/1.1, requests framed
 * by Content-Length, every one answered 200 at once. For each delivery it
 * checks the Standard Webhooks signature with the secret (a bad one is
 * counted, and answered 401 so the gateway retries), counts distinct
 * webhook-ids, and takes commit-to-receipt latency as now minus the
 * event's createdAt (same host: same clock). It stops after N valid
 * deliveries or S seconds and prints one JSON line:
 *   {"delivered": N, "distinct": D, "badSignatures": B, "seconds": T,
 *    "perSecond": R, "latencyMs": {"p50": .., "p90": .., "p99": .., "max": ..}}
 * where seconds and perSecond run from the first delivery to the last.
 */
#define _GNU_SOURCE
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

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CONN_MAX 1024

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static volatile sig_atomic_t stop;
static unsigned char key[64];
static int keylen;
static double *lat;
static size_t nlat, caplat;
static size_t nseen;
static long bad;
static double first_ms, last_ms;

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void header(const char *head, size_t hlen, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = head; p < head + hlen; p++) {
        if ((p == head || p[-1] == '\n') && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
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

static bool signature_ok(const char *id, const char *ts, const char *body, size_t blen, const char *sig)
{
    size_t hl = strlen(id) + strlen(ts) + 2;
    unsigned char *msg = malloc(hl + blen + 1);
    snprintf((char *)msg, hl + 1, "%s.%s.", id, ts);
    memcpy(msg + hl, body, blen);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, keylen, msg, hl + blen, mac, &maclen);
    free(msg);
    char want[64] = "v1,";
    EVP_EncodeBlock((unsigned char *)want + 3, mac, (int)maclen);
    size_t wl = strlen(want);
    for (const char *p = sig; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == wl && memcmp(p, want, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* A set of the ids seen (open addressing, grown at half full). */
static char (*set)[40];
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
        char (*prev)[40] = set;
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
    char id[64], ts[32], sig[400];
    header(head, hlen, "webhook-id", id, sizeof id);
    header(head, hlen, "webhook-timestamp", ts, sizeof ts);
    header(head, hlen, "webhook-signature", sig, sizeof sig);
    bool ok = signature_ok(id, ts, body, blen, sig);
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
    if (!is_new(id))
        return;
    double c = created_ms(body, blen);
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 4096;
        lat = realloc(lat, caplat * sizeof *lat);
    }
    lat[nlat++] = c ? now - c : -1;
}

static bool drain(struct conn *c)
{
    for (;;) {
        char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (!end)
            return true;
        size_t hlen = (size_t)(end - c->buf) + 4;
        char cl[32];
        header(c->buf, hlen, "content-length", cl, sizeof cl);
        size_t blen = strtoul(cl, NULL, 10);
        if (c->len < hlen + blen)
            return true;
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
    const char *secret = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--secret"))
            secret = argv[i + 1];
        else if (!strcmp(argv[i], "--expect"))
            expect = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
    }
    if (!port || !secret) {
        fprintf(stderr, "usage: webhook-receiver --port P --secret whsec_... [--expect N] [--seconds S]\n");
        return 2;
    }
    if (!strncmp(secret, "whsec_", 6))
        secret += 6;
    keylen = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)strlen(secret));
    size_t sl = strlen(secret);
    keylen -= (sl && secret[sl - 1] == '=') + (sl > 1 && secret[sl - 2] == '=');
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
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
    qsort(lat, nlat, sizeof *lat, cmp);
    double span = (last_ms - first_ms) / 1000.0;
    printf("{\"delivered\": %zu, \"distinct\": %zu, \"badSignatures\": %ld, \"seconds\": %.3f, \"perSecond\": %.0f,"
           " \"latencyMs\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"max\": %.1f}}\n",
           nlat, nseen, bad, span, span > 0 ? (double)(nlat > 0 ? nlat - 1 : 0) / span : 0, pct(0.5), pct(0.9),
           pct(0.99), nlat ? lat[nlat - 1] : 0);
    return 0;
}
