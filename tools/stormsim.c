/*
 * stormsim: a lean generator of one scenario, a fleet reconnecting to the
 * gateway after a restart (scripts/restart-bench.sh, RESTART_GENERATOR):
 *
 *   stormsim --host 127.0.0.1 --port P --chargers N [--prefix BENCH-]
 *            [--sources 127.0.0.2-127.0.0.254[,ADDR...]] [--source-addrs S]
 *            [--ramp PER_SECOND] [--reconnect-min-ms 1000] [--reconnect-max-ms 30000]
 *            [--max-connecting 4096] [--timeout MS] [--quiet]
 *
 * It does what `ocppsim --mode serve --boot` does for that benchmark, and
 * nothing else, on plain non-blocking sockets and one epoll loop (no
 * libwebsockets: its client costs ocppsim quadratic time in a connect storm,
 * so that on 2 cores ocppsim, not the gateway, set the time to serve 19,000
 * chargers again). Each charger (id PREFIX%06d, 1-based, as ocppsim's):
 * connects (from source address i % S of --sources, bound with
 * IP_BIND_ADDRESS_NO_PORT), sends the upgrade GET /ocpp/<id> (subprotocol
 * ocpp1.6, no credentials: the gateway runs --auto-register), and on 101
 * sends BootNotification, then, once it is answered Accepted,
 * StatusNotification Available for connector 0; once that is answered the
 * charger is "served". It answers pings with pongs and the gateway's CALLs
 * with CALLRESULT {}, and closes the socket when the gateway sends a close
 * frame. A closed connection, a refused upgrade or a failed connect is
 * retried as real chargers do: after a random delay in [0, D] (full
 * jitter), D = --reconnect-min-ms doubling with each failure up to
 * --reconnect-max-ms, starting over after a connection that lasted
 * --reconnect-max-ms. The first connects are paced by --ramp (default
 * 2000/s); at most --max-connecting connects wait for their 101 at a time.
 * An upgrade not answered within --timeout (30 s) is a failed connect; a
 * CALL not answered within it counts a timeout and is sent again.
 *
 * stdout, line-buffered, in ocppsim's words (restart-bench.sh reads them):
 *   CONNECTED connected=N refused=R seconds=S
 *       once every charger has been connected (101) once; R: refused or
 *       failed connects before that (all retried: none is given up on);
 *   SERVED chargers=N at_ms=UNIX_MS since_first_close_ms=X since_start_ms=Y episode=K
 *          refused=R refused_429=A refused_503=B refused_other=C failed=F errors=E
 *          callerrors=0 timeouts=T boot_rejected=J closed=X dropped=D reconnects=Y
 *       each time every charger is served: episode 0 at the start, then once
 *       after any lost its connection; counts since the previous SERVED
 *       line: upgrades refused by HTTP status, connects that failed without
 *       one, errors = CALLERRORs + timeouts + boots not Accepted, open
 *       connections closed (dropped: of those, without a close frame), and
 *       connections opened again after a close (reconnects);
 *   RESULT ... at exit (SIGINT, SIGTERM: everything closed, exit 0).
 * stderr: progress (not with --quiet) and, at each SERVED line with failed
 * connects, "stormsim: SERVED episode K: connects that failed, by reason: ...".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "simopts.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FRAME 65536            /* a larger server frame is a protocol error */
#define MAX_HTTP 8192              /* the upgrade answer's head, at most */
#define NWHY 8

enum phase { P_WAIT, P_TCP, P_HTTP, P_BOOT, P_STATUS, P_SERVED };

struct charger {
    int fd;                        /* -1 unless connected or connecting */
    uint32_t gen;                  /* bumped per socket: stale epoll events are ignored */
    uint8_t phase;
    bool ever_open;                /* has had a 101 */
    bool tried;                    /* has started its first connect */
    bool close_frame;              /* the gateway sent a close frame */
    bool retry;                    /* P_BOOT, P_STATUS: due_us is a retry (CALLERROR, boot rejected), not a deadline */
    int backoff_n;                 /* failures since the last lasting connection */
    int64_t due_us;                /* P_WAIT: the next attempt; else the deadline of the step */
    int64_t opened_us;
    char *in;                      /* unparsed input (partial HTTP head or frame) */
    uint32_t inlen;
    char *out;                     /* unsent output */
    uint32_t outlen, outoff;
};

struct seen {
    int refused_429, refused_503, refused_other, failed;
    uint64_t callerrors, timeouts;
    int boot_rejected, closed, dropped, reconnects;
};

struct options {
    const char *host, *prefix, *sources;
    int port, chargers, source_addrs, reconnect_min_ms, reconnect_max_ms, max_connecting, timeout_ms;
    double ramp;
    bool quiet;
};

static struct options o = { .host = "127.0.0.1", .prefix = "BENCH-", .reconnect_min_ms = 1000,
                            .reconnect_max_ms = 30000, .max_connecting = 4096, .timeout_ms = 30000,
                            .ramp = 2000 };
static struct charger *ch;
static struct sockaddr_in dst;
static struct in_addr *src;
static int nsrc;
static int ep = -1;
static struct seen tot, epi;
static int served, connected_once, inflight, started_first, refused_before_connected, rr;
static int served_reports;
static bool served_dropped, connected_reported;
static int64_t first_close_ms, start_ms, t0_us;
static struct { char what[64]; int n; } why[NWHY];
static int nwhy;
static uint64_t rng = 88172645463325252ull;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "stormsim: out of memory\n");
        exit(1);
    }
    return p;
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    if (o.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("stormsim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void charger_id(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%06d", o.prefix, i + 1);
}

/* ---- back-off, counts, SERVED ---- */

/* The n-th retry (n = 0 first) waits a random time in [0, min(max, min * 2^n)] ms. */
static int64_t backoff_us(int n)
{
    return simopt_backoff_us(o.reconnect_min_ms, o.reconnect_max_ms, n, (double)(rnd() >> 11) / 9007199254740992.0);
}

static void note_why(const char *what)
{
    int i;
    for (i = 0; i < nwhy && strcmp(why[i].what, what); i++)
        ;
    if (i == nwhy) {
        if (nwhy == NWHY)
            i = NWHY - 1;          /* full: the last slot takes the rest */
        else {
            snprintf(why[nwhy].what, sizeof why[0].what, "%s", what);
            why[nwhy++].n = 0;     /* the slot may hold an earlier episode's count */
        }
    }
    why[i].n++;
}

/* A connect that did not open: its HTTP status, 0 for none. */
static void note_refusal(int status, const char *what)
{
    struct seen *v[2] = { &tot, &epi };
    for (int k = 0; k < 2; k++) {
        if (status == 429)
            v[k]->refused_429++;
        else if (status == 503)
            v[k]->refused_503++;
        else if (status)
            v[k]->refused_other++;
        else
            v[k]->failed++;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "HTTP %d, %s", status, what);
    note_why(buf);
    if (!connected_reported)
        refused_before_connected++;
}

#define NOTE(field) (tot.field++, epi.field++)

static void served_report(void)
{
    int64_t now = wall_ms();
    int64_t since_close = first_close_ms ? now - first_close_ms : -1;
    const struct seen *e = &epi;
    printf("SERVED chargers=%d at_ms=%" PRId64 " since_first_close_ms=%" PRId64 " since_start_ms=%" PRId64
           " episode=%d refused=%d refused_429=%d refused_503=%d refused_other=%d failed=%d errors=%" PRIu64
           " callerrors=%" PRIu64 " timeouts=%" PRIu64 " boot_rejected=%d closed=%d dropped=%d reconnects=%d\n",
           o.chargers, now, since_close, now - start_ms, served_reports,
           e->refused_429 + e->refused_503 + e->refused_other, e->refused_429, e->refused_503, e->refused_other,
           e->failed, e->callerrors + e->timeouts + (uint64_t)e->boot_rejected, e->callerrors, e->timeouts,
           e->boot_rejected, e->closed, e->dropped, e->reconnects);
    progress("all %d served (since %s: %" PRId64 " ms)", o.chargers, since_close >= 0 ? "first close" : "start",
             since_close >= 0 ? since_close : now - start_ms);
    if (nwhy) {
        fprintf(stderr, "stormsim: SERVED episode %d: connects that failed, by reason:", served_reports);
        for (int i = 0; i < nwhy; i++)
            fprintf(stderr, "%s %d x (%s)", i ? "," : "", why[i].n, why[i].what);
        fputc('\n', stderr);
        nwhy = 0;
    }
    epi = (struct seen){ 0 };
    served_dropped = false;
    first_close_ms = 0;
    served_reports++;
}

static void set_phase(struct charger *c, enum phase p)
{
    bool was = c->phase == P_SERVED, is = p == P_SERVED;
    bool was_in = c->phase == P_TCP || c->phase == P_HTTP, is_in = p == P_TCP || p == P_HTTP;
    c->phase = (uint8_t)p;
    inflight += (int)is_in - (int)was_in;
    if (was == is)
        return;
    served += is ? 1 : -1;
    if (!is)
        served_dropped = true;
    else if (served == o.chargers && (served_reports == 0 || served_dropped))
        served_report();
}

/* ---- sockets ---- */

/* Closes c's socket and frees its buffers; it waits in P_WAIT until due. */
static void drop_socket(struct charger *c, int64_t due)
{
    if (c->fd >= 0) {
        close(c->fd);              /* also leaves the epoll set */
        c->fd = -1;
    }
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->inlen = c->outlen = c->outoff = 0;
    c->close_frame = false;
    c->gen++;
    set_phase(c, P_WAIT);
    c->due_us = due;
}

/* A connect that did not reach 101: counted, retried after the back-off. */
static void fail_connect(struct charger *c, int status, const char *what)
{
    note_refusal(status, what);
    drop_socket(c, mono_us() + backoff_us(c->backoff_n++));
}

/* An open connection lost (close frame, EOF, reset, protocol error). */
static void lost(struct charger *c)
{
    int64_t now = mono_us();
    NOTE(closed);
    if (!c->close_frame)
        NOTE(dropped);
    if (!first_close_ms)
        first_close_ms = wall_ms();
    int n = now - c->opened_us >= (int64_t)o.reconnect_max_ms * 1000 ? 0 : c->backoff_n;
    c->backoff_n = n + 1;
    drop_socket(c, now + backoff_us(n));
}

static void fail(struct charger *c, const char *what)
{
    if (c->phase == P_TCP || c->phase == P_HTTP)
        fail_connect(c, 0, what);
    else
        lost(c);
}

/* Queues or sends bytes; false if the connection failed. */
static bool put(struct charger *c, const void *data, size_t len)
{
    if (!c->outlen) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(c, strerror(errno));
            return false;
        }
        if (n < 0)
            n = 0;
        data = (const char *)data + n;
        len -= (size_t)n;
        if (!len)
            return true;
    }
    c->out = xrealloc(c->out, c->outlen + len);
    memcpy(c->out + c->outlen, data, len);
    c->outlen += (uint32_t)len;
    return true;
}

static bool flush(struct charger *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            fail(c, strerror(errno));
            return false;
        }
        c->outoff += (uint32_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->outlen = c->outoff = 0;
    return true;
}

/* One masked frame from the charger. */
static bool send_frame(struct charger *c, int opcode, const char *payload, size_t len)
{
    char buf[16 + 1024];
    if (len > 1024)
        len = 1024;                /* our frames are small; pongs echo at most this */
    size_t h = 0;
    buf[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        buf[h++] = (char)(0x80 | len);
    } else {
        buf[h++] = (char)(0x80 | 126);
        buf[h++] = (char)(len >> 8);
        buf[h++] = (char)(len & 0xff);
    }
    uint32_t m = (uint32_t)rnd();
    unsigned char mask[4] = { (unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                              (unsigned char)(m >> 24) };
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t k = 0; k < len; k++)
        buf[h + k] = (char)(payload[k] ^ mask[k & 3]);
    return put(c, buf, h + len);
}

static bool send_text(struct charger *c, const char *text)
{
    return send_frame(c, 1, text, strlen(text));
}

/* Sends the greeting step of c's phase (P_BOOT or P_STATUS), with a deadline. */
static bool send_step(struct charger *c)
{
    char id[64], msg[512];
    charger_id((int)(c - ch), id, sizeof id);
    if (c->phase == P_BOOT)
        snprintf(msg, sizeof msg, "[2,\"%s-b\",\"BootNotification\",{\"chargePointVendor\":\"storm\","
                                  "\"chargePointModel\":\"storm\"}]", id);
    else
        snprintf(msg, sizeof msg, "[2,\"%s-s\",\"StatusNotification\",{\"connectorId\":0,"
                                  "\"errorCode\":\"NoError\",\"status\":\"Available\"}]", id);
    c->due_us = mono_us() + (int64_t)o.timeout_ms * 1000;
    c->retry = false;
    return send_text(c, msg);
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[k++] = t[v >> 18 & 63];
        out[k++] = t[v >> 12 & 63];
        out[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[k++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[k] = '\0';
}

/* The TCP connect is done: sends the upgrade. */
static void send_upgrade(struct charger *c)
{
    char id[64], key[32], req[512];
    unsigned char raw[16];
    for (int k = 0; k < 16; k++)
        raw[k] = (unsigned char)rnd();
    base64(raw, 16, key);
    charger_id((int)(c - ch), id, sizeof id);
    int n = snprintf(req, sizeof req,
                     "GET /ocpp/%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n",
                     id, o.host, o.port, key);
    set_phase(c, P_HTTP);
    put(c, req, (size_t)n);
}

/* Starts charger i's connect. */
static void start_connect(int i)
{
    struct charger *c = &ch[i];
    int64_t now = mono_us();
    c->tried = true;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->fd = -1;
        set_phase(c, P_TCP);
        fail_connect(c, 0, strerror(errno));
        return;
    }
    c->fd = fd;
    c->gen++;
    set_phase(c, P_TCP);
    c->due_us = now + (int64_t)o.timeout_ms * 1000;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nsrc) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = src[i % nsrc] };
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fail_connect(c, 0, strerror(errno));
            return;
        }
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.u64 = (uint64_t)c->gen << 32 | (uint32_t)i };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fail_connect(c, 0, strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) == 0)
        send_upgrade(c);
    else if (errno != EINPROGRESS)
        fail_connect(c, 0, strerror(errno));
}

/* ---- input ---- */

/* Skips whitespace and one expected character. */
static const char *expect(const char *p, const char *end, char want)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p < end && *p == want ? p + 1 : NULL;
}

/* A JSON string's raw contents (escapes kept) starting at p (after ws). */
static const char *json_string(const char *p, const char *end, const char **s, size_t *n)
{
    p = expect(p, end, '"');
    if (!p)
        return NULL;
    const char *q = p;
    while (q < end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= end)
        return NULL;
    *s = p;
    *n = (size_t)(q - p);
    return q + 1;
}

/* The gateway's text message. */
static void on_message(struct charger *c, const char *m, size_t len)
{
    const char *end = m + len, *p = expect(m, end, '[');
    if (!p)
        return;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p >= end)
        return;
    int type = *p - '0';
    p = expect(p + 1, end, ',');
    const char *mid;
    size_t midlen;
    if (!p || !(p = json_string(p, end, &mid, &midlen)))
        return;
    if (type == 2) {               /* a CALL: CALLRESULT {} */
        char buf[256];
        if (midlen > 200)
            return;
        snprintf(buf, sizeof buf, "[3,\"%.*s\",{}]", (int)midlen, mid);
        send_text(c, buf);
        return;
    }
    if (type != 3 && type != 4)
        return;
    char want = c->phase == P_BOOT ? 'b' : c->phase == P_STATUS ? 's' : 0;
    if (!want || midlen < 2 || mid[midlen - 1] != want || mid[midlen - 2] != '-')
        return;                    /* not the answer awaited (a late duplicate) */
    int64_t again = mono_us() + (int64_t)o.reconnect_min_ms * 1000;
    if (type == 4) {
        NOTE(callerrors);
        c->due_us = again;
        c->retry = true;         /* sent again then (the deadline check) */
        return;
    }
    if (c->phase == P_BOOT) {
        const char *s = memmem(p, (size_t)(end - p), "\"status\"", 8), *v;
        size_t vlen;
        if (s && (s = expect(s + 8, end, ':')) && json_string(s, end, &v, &vlen) && vlen == 8 &&
            !memcmp(v, "Accepted", 8)) {
            set_phase(c, P_STATUS);
            send_step(c);
        } else {
            NOTE(boot_rejected);
            c->due_us = again;
            c->retry = true;
        }
        return;
    }
    set_phase(c, P_SERVED);
    c->due_us = INT64_MAX;
}

/* Parses the input after the 101: whole frames; keeps a partial one. False: c is gone. */
static bool on_frames(struct charger *c, const char *b, size_t len, size_t *used)
{
    size_t off = 0;
    uint32_t gen = c->gen;
    while (len - off >= 2) {
        const unsigned char *h = (const unsigned char *)b + off;
        int op = h[0] & 0x0f;
        bool fin = h[0] & 0x80, masked = h[1] & 0x80;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (len - off < 4)
                break;
            plen = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (len - off < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | h[2 + k];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (plen > MAX_FRAME) {
            lost(c);
            return false;
        }
        if (len - off < hl + plen)
            break;
        const char *pl = b + off + hl;
        char tmp[MAX_FRAME];
        if (masked) {              /* servers must not mask; unmask anyway */
            const unsigned char *mk = h + hl - 4;
            for (uint64_t k = 0; k < plen; k++)
                tmp[k] = (char)(pl[k] ^ mk[k & 3]);
            pl = tmp;
        }
        off += hl + (size_t)plen;
        switch (op) {
        case 1:
            if (fin)
                on_message(c, pl, (size_t)plen);
            break;                 /* fragmented messages: not sent by the gateway, ignored */
        case 8:
            c->close_frame = true;
            lost(c);
            return false;
        case 9:
            send_frame(c, 10, pl, (size_t)plen);
            break;
        default:
            break;
        }
        if (c->gen != gen || c->fd < 0)
            return false;          /* a send failed */
    }
    *used = off;
    return true;
}

/* The upgrade answer's head in b[0..len): consumed bytes, 0 if incomplete, -1 if c is gone. */
static long on_http(struct charger *c, const char *b, size_t len)
{
    const char *e = memmem(b, len, "\r\n\r\n", 4);
    if (!e) {
        if (len >= MAX_HTTP) {
            fail_connect(c, 0, "HTTP head too long");
            return -1;
        }
        return 0;
    }
    int status = 0;
    if (len < 12 || memcmp(b, "HTTP/1.", 7) || sscanf(b + 9, "%3d", &status) != 1) {
        fail_connect(c, 0, "not HTTP");
        return -1;
    }
    if (status != 101) {
        fail_connect(c, status, "refused");
        return -1;
    }
    c->opened_us = mono_us();
    if (c->ever_open) {
        NOTE(reconnects);
    } else {
        c->ever_open = true;
        if (++connected_once == o.chargers && !connected_reported) {
            connected_reported = true;
            printf("CONNECTED connected=%d refused=%d seconds=%.1f\n", o.chargers, refused_before_connected,
                   (double)(mono_us() - t0_us) / 1e6);
        }
    }
    set_phase(c, P_BOOT);
    if (!send_step(c))
        return -1;
    return (long)(e + 4 - b);
}

static void on_readable(struct charger *c)
{
    static char buf[2 * MAX_FRAME + 64];
    uint32_t gen = c->gen;
    for (;;) {
        size_t have = c->inlen;
        if (have)
            memcpy(buf, c->in, have);
        ssize_t n = recv(c->fd, buf + have, sizeof buf - have, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            fail(c, n == 0 ? (c->phase == P_TCP || c->phase == P_HTTP ? "closed before the HTTP answer" : "EOF")
                           : strerror(errno));
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        size_t len = have + (size_t)n, off = 0;
        if (c->phase == P_HTTP || c->phase == P_TCP) {
            long k = on_http(c, buf, len);
            if (k < 0)
                return;
            off = (size_t)k;
        }
        if (off || c->phase >= P_BOOT) {
            size_t used = 0;
            if (c->phase >= P_BOOT && !on_frames(c, buf + off, len - off, &used))
                return;
            off += used;
        }
        if (c->gen != gen || c->fd < 0)
            return;
        size_t rest = len - off;
        if (rest > MAX_FRAME + 16) {
            fail(c, "input too long");
            return;
        }
        if (rest) {
            c->in = xrealloc(c->in, rest);
            memmove(c->in, buf + off, rest);
        } else {
            free(c->in);
            c->in = NULL;
        }
        c->inlen = (uint32_t)rest;
    }
}

static void on_event(uint64_t data, uint32_t events)
{
    uint32_t i = (uint32_t)data, gen = (uint32_t)(data >> 32);
    if (i >= (uint32_t)o.chargers)
        return;
    struct charger *c = &ch[i];
    if (c->gen != gen || c->fd < 0)
        return;                    /* stale: the socket is gone */
    if (c->phase == P_TCP) {
        int err = 0;
        socklen_t sl = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
            err = errno;
        if (err) {
            fail_connect(c, 0, strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        send_upgrade(c);
        if (c->gen != gen || c->fd < 0)
            return;
    } else if (events & EPOLLOUT) {
        if (c->outlen && !flush(c))
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(c);
}

/* ---- timers: attempts due, deadlines ---- */

/* Returns the next due time. */
static int64_t tick(void)
{
    int64_t now = mono_us(), next = now + 50000;
    int64_t allowed_first = (int64_t)((double)(now - t0_us) / 1e6 * o.ramp) + 1;
    int n = o.chargers, last_started = -1;
    bool blocked = false;          /* due attempts wait for the ramp or a slot */
    for (int k = 0; k < n; k++) {
        int i = (rr + k) % n;
        struct charger *c = &ch[i];
        if (c->phase == P_WAIT) {
            if (c->due_us > now) {
                if (c->due_us < next)
                    next = c->due_us;
                continue;
            }
            if (inflight >= o.max_connecting || (!c->tried && started_first >= allowed_first)) {
                blocked = true;
                continue;
            }
            if (!c->tried)
                started_first++;
            start_connect(i);
            last_started = i;
            continue;
        }
        if (c->due_us > now) {
            if (c->due_us < next)
                next = c->due_us;
            continue;
        }
        if (c->phase == P_TCP || c->phase == P_HTTP) {
            fail_connect(c, 0, "timeout");
        } else if (c->phase == P_BOOT || c->phase == P_STATUS) {
            if (!c->retry)
                NOTE(timeouts);    /* else a retry after a CALLERROR or a rejected boot is due */
            send_step(c);
        }
    }
    if (last_started >= 0)
        rr = (last_started + 1) % n;
    if (blocked && next > now + 1000)
        next = now + 1000;
    return next;
}

/* ---- setup ---- */

static void add_source(void *ctx, struct in_addr a)
{
    (void)ctx;
    src = xrealloc(src, sizeof *src * (size_t)(nsrc + 1));
    src[nsrc++] = a;
}

static bool parse_sources(const char *spec)
{
    return simopt_sources("stormsim", spec, add_source, NULL);
}


static void usage(FILE *f)
{
    fprintf(f, "usage: stormsim --host 127.0.0.1 --port PORT --chargers N [--prefix BENCH-]\n"
               "                [--sources 127.0.0.2-127.0.0.254[,ADDR...]] [--source-addrs S]\n"
               "                [--ramp PER_SECOND] [--reconnect-min-ms 1000] [--reconnect-max-ms 30000]\n"
               "                [--max-connecting 4096] [--timeout MS] [--quiet]\n"
               "A fleet of N chargers for the restart benchmark (see the header of tools/stormsim.c):\n"
               "each connects, boots, reports Available, stays connected and reconnects with full-jitter\n"
               "exponential back-off when closed, until SIGINT/SIGTERM. Prints ocppsim's CONNECTED and\n"
               "SERVED lines on stdout.\n");
}

static bool parse_options(int argc, char **argv)
{
    static const struct option lo[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "chargers", required_argument, NULL, 'n' },
        { "prefix", required_argument, NULL, 'x' },
        { "sources", required_argument, NULL, 's' },
        { "source-addrs", required_argument, NULL, 'S' },
        { "ramp", required_argument, NULL, 'r' },
        { "reconnect-min-ms", required_argument, NULL, 'R' },
        { "reconnect-max-ms", required_argument, NULL, 'M' },
        { "max-connecting", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'H' },
        { 0, 0, 0, 0 },
    };
    int opt, ramp = 2000, li = 0;
    while ((opt = getopt_long(argc, argv, "", lo, &li)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'h': o.host = optarg; break;
        case 'p': ok = simopt_int(optarg, 1, 65535, &o.port); break;
        case 'n': ok = simopt_int(optarg, 1, 10000000, &o.chargers); break;
        case 'x': o.prefix = optarg; ok = strlen(optarg) < 40; break;
        case 's': o.sources = optarg; break;
        case 'S': ok = simopt_int(optarg, 1, 65536, &o.source_addrs); break;
        case 'r': ok = simopt_int(optarg, 1, 10000000, &ramp); break;
        case 'R': ok = simopt_int(optarg, 1, 3600000, &o.reconnect_min_ms); break;
        case 'M': ok = simopt_int(optarg, 1, 3600000, &o.reconnect_max_ms); break;
        case 'c': ok = simopt_int(optarg, 1, 10000000, &o.max_connecting); break;
        case 't': ok = simopt_int(optarg, 1, 3600000, &o.timeout_ms); break;
        case 'q': o.quiet = true; break;
        case 'H': usage(stdout); exit(0);
        default: usage(stderr); return false;
        }
        if (!ok) {
            fprintf(stderr, "stormsim: bad value for --%s: %s\n", lo[li].name, optarg);
            usage(stderr);
            return false;
        }
    }
    o.ramp = ramp;
    if (optind < argc || !o.port || !o.chargers) {
        usage(stderr);
        return false;
    }
    if (o.reconnect_max_ms < o.reconnect_min_ms) {
        fprintf(stderr, "stormsim: --reconnect-max-ms is below --reconnect-min-ms\n");
        return false;
    }
    if (inet_pton(AF_INET, o.host, &dst.sin_addr) != 1) {
        fprintf(stderr, "stormsim: --host must be an IPv4 address: %s\n", o.host);
        return false;
    }
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)o.port);
    if (o.source_addrs && !o.sources)
        o.sources = "127.0.0.2-127.0.0.254";
    if (o.sources && !parse_sources(o.sources))
        return false;
    if (o.source_addrs > nsrc) {
        fprintf(stderr, "stormsim: --source-addrs %d: --sources has only %d addresses\n", o.source_addrs, nsrc);
        return false;
    }
    if (o.source_addrs)
        nsrc = o.source_addrs;
    return true;
}

int main(int argc, char **argv)
{
    if (!parse_options(argc, argv))
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rng ^= (uint64_t)mono_us() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32;
    if (!rng)
        rng = 1;

    ch = calloc((size_t)o.chargers, sizeof *ch);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!ch || ep < 0) {
        fprintf(stderr, "stormsim: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < o.chargers; i++)
        ch[i].fd = -1;
    t0_us = mono_us();
    start_ms = wall_ms();
    progress("%d chargers to %s:%d from %d source addresses", o.chargers, o.host, o.port, nsrc);

    enum { MAXEV = 1024 };
    struct epoll_event evs[MAXEV];
    int64_t next = 0, last_progress = t0_us, last_tick = 0;
    while (!interrupted) {
        int64_t now = mono_us();
        if (now + 1000 >= next) {
            next = tick();
            last_tick = now;
        }
        now = mono_us();
        int wait_ms = next > now ? (int)((next - now + 999) / 1000) : 0;
        if (wait_ms > 50)
            wait_ms = 50;
        int n = epoll_wait(ep, evs, MAXEV, wait_ms);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "stormsim: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int k = 0; k < n; k++)
            on_event(evs[k].data.u64, evs[k].events);
        /* new work may be due at once (attempts waiting for a slot) */
        if (n > 0 && inflight < o.max_connecting && next > last_tick + 1000)
            next = last_tick + 1000;
        now = mono_us();
        if (!o.quiet && now - last_progress >= (served < o.chargers ? 1000000 : 5000000)) {
            last_progress = now;
            int open = 0, waiting = 0;
            for (int i = 0; i < o.chargers; i++) {
                open += ch[i].phase >= P_BOOT;
                waiting += ch[i].phase == P_WAIT;
            }
            progress("%d open, %d served, %d connecting, %d waiting; failed %d, refused %d, reconnects %d", open,
                     served, inflight, waiting, tot.failed, tot.refused_429 + tot.refused_503 + tot.refused_other,
                     tot.reconnects);
        }
    }
    for (int i = 0; i < o.chargers; i++) {
        if (ch[i].fd >= 0)
            close(ch[i].fd);
        free(ch[i].in);
        free(ch[i].out);
    }
    close(ep);
    printf("RESULT chargers=%d served=%d served_reports=%d refused=%d failed=%d closed=%d dropped=%d "
           "reconnects=%d timeouts=%" PRIu64 " callerrors=%" PRIu64 " boot_rejected=%d\n",
           o.chargers, served, served_reports, tot.refused_429 + tot.refused_503 + tot.refused_other, tot.failed,
           tot.closed, tot.dropped, tot.reconnects, tot.timeouts, tot.callerrors, tot.boot_rejected);
    free(ch);
    free(src);
    return 0;
}
