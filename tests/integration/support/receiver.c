/*
 * The webhook receiver of the tests (receiver.h): one poll(2) thread, a
 * listening socket, keep-alive connections, requests framed by
 * Content-Length. Framing, headers and the signature check are
 * tools/webhook_check.c's (the benchmarks' receiver has the same), written
 * from the Standard Webhooks specification independently of src/webhook/.
 */
#include "it.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "gw.h"
#include "receiver.h"
#include "strbuf.h"
#include "util.h"
#include "webhook_check.h"

#define CONN_MAX 64
#define HITS_MAX 4096

struct conn {
    int fd;
    struct strbuf in;
};

struct rcv {
    int port;
    int lfd;
    int wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop, down, hang, reject;
    int status;
    char retry_after[64];
    char fail_charger[64];
    int fail_status;
    char *secrets[2];
    struct conn conns[CONN_MAX];
    int nconns;
    struct rcv_hit hits[HITS_MAX];
    int nhits;
};

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether sig ("v1,a v1,b") holds a signature of secret over id.ts.body. */
static bool sig_matches(const char *secret, const char *id, const char *ts, const char *body, size_t blen,
                        const char *sig)
{
    unsigned char key[128];
    int klen = secret ? whcheck_key(secret, key, sizeof key) : -1;
    return klen > 0 && whcheck_signed(key, (size_t)klen, id, ts, body, blen, sig);
}

static void answer(int fd, int status, const char *retry_after)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d X\r\nContent-Length: 8\r\n%s%s%sConnection: keep-alive\r\n\r\nreceived",
                     status, retry_after && retry_after[0] ? "Retry-After: " : "",
                     retry_after && retry_after[0] ? retry_after : "", retry_after && retry_after[0] ? "\r\n" : "");
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
}

/* A whole request arrived on c: record it and answer. Under r->mu. */
static void handle(struct rcv *r, struct conn *c, size_t head_len, size_t body_len)
{
    const char *head = c->in.buf;
    const char *body = c->in.buf + head_len;
    struct rcv_hit h;
    memset(&h, 0, sizeof h);
    char ts[32];
    whcheck_header(head, head_len, "webhook-id", h.id, sizeof h.id);
    whcheck_header(head, head_len, "webhook-timestamp", ts, sizeof ts);
    h.ts = strtoll(ts, NULL, 10);
    whcheck_header(head, head_len, "webhook-signature", h.signature, sizeof h.signature);
    whcheck_header(head, head_len, "user-agent", h.user_agent, sizeof h.user_agent);
    whcheck_header(head, head_len, "content-type", h.content_type, sizeof h.content_type);
    for (const char *p = h.signature; (p = strstr(p, "v1,")); p += 3)
        h.nsigs++;
    for (int i = 0; i < 2; i++)
        if (sig_matches(r->secrets[i], h.id, ts, body, body_len, h.signature))
            h.valid |= 1u << i;
    h.body = xstrndup(body, body_len);
    cJSON *j = cJSON_Parse(h.body);
    const char *s;
    if ((s = cJSON_GetStringValue(cJSON_GetObjectItem(j, "type"))))
        snprintf(h.type, sizeof h.type, "%s", s);
    if ((s = cJSON_GetStringValue(cJSON_GetObjectItem(j, "chargerId"))))
        snprintf(h.charger, sizeof h.charger, "%s", s);
    const cJSON *seq = cJSON_GetObjectItem(j, "seq");
    h.seq = cJSON_IsNumber(seq) ? (int64_t)seq->valuedouble : -1;
    cJSON_Delete(j);
    if (!r->hang) {
        int64_t skew = h.ts - (int64_t)time(NULL);
        if (r->reject && (!h.valid || skew > RCV_TOLERANCE_S || skew < -RCV_TOLERANCE_S))
            h.answered = 401;
        else if (r->fail_status && strcmp(h.charger, r->fail_charger) == 0)
            h.answered = r->fail_status;
        else
            h.answered = r->status;
        answer(c->fd, h.answered, h.answered == 429 || h.answered == 503 ? r->retry_after : NULL);
    }
    if (r->nhits < HITS_MAX)
        r->hits[r->nhits++] = h;
    else
        free(h.body);
}

/* Handles every complete request buffered on c. Under r->mu. */
static void drain(struct rcv *r, struct conn *c)
{
    size_t head_len, body_len;
    while (whcheck_request(c->in.buf, c->in.len, &head_len, &body_len)) {
        handle(r, c, head_len, body_len);
        memmove(c->in.buf, c->in.buf + head_len + body_len, c->in.len - head_len - body_len);
        strbuf_truncate(&c->in, c->in.len - head_len - body_len);
    }
}

static void close_conn(struct rcv *r, int i)
{
    close(r->conns[i].fd);
    strbuf_free(&r->conns[i].in);
    r->conns[i] = r->conns[--r->nconns];
}

static void *run(void *arg)
{
    struct rcv *r = arg;
    for (;;) {
        struct pollfd pfd[CONN_MAX + 2];
        int n = 0;
        pthread_mutex_lock(&r->mu);
        if (r->stop) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        pfd[n++] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
        if (r->lfd >= 0)
            pfd[n++] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
        int base = n;
        for (int i = 0; i < r->nconns; i++)
            pfd[n++] = (struct pollfd){ .fd = r->conns[i].fd, .events = POLLIN };
        pthread_mutex_unlock(&r->mu);
        if (poll(pfd, (nfds_t)n, 500) < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&r->mu);
        if (pfd[0].revents) {
            char b[64];
            ssize_t rd = read(r->wake[0], b, sizeof b);
            (void)rd;
            pthread_mutex_unlock(&r->mu);
            continue;                   /* the sets changed: poll again */
        }
        if (base == 2 && pfd[1].revents && r->lfd >= 0) {
            int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && r->nconns < CONN_MAX)
                r->conns[r->nconns++] = (struct conn){ .fd = fd, .in = STRBUF_INIT };
            else if (fd >= 0)
                close(fd);
        }
        for (int k = n - 1; k >= base; k--) {
            if (!pfd[k].revents)
                continue;
            int i = -1;
            for (int j = 0; j < r->nconns; j++)
                if (r->conns[j].fd == pfd[k].fd)
                    i = j;
            if (i < 0)
                continue;
            char buf[65536];
            ssize_t got = read(r->conns[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close_conn(r, i);
                continue;
            }
            strbuf_put(&r->conns[i].in, buf, (size_t)got);
            drain(r, &r->conns[i]);
        }
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

static void poke(struct rcv *r)
{
    ssize_t w = write(r->wake[1], "x", 1);
    (void)w;
}

struct rcv *rcv_start(void)
{
    struct rcv *r = calloc(1, sizeof *r);
    r->status = 200;
    for (int tries = 0; tries < 50 && r->lfd <= 0; tries++) {
        r->port = gw_free_port();
        r->lfd = listen_on(r->port);
        if (r->lfd < 0)
            r->lfd = 0;
    }
    if (r->lfd <= 0)
        fail_msg("receiver: cannot listen");
    if (pipe2(r->wake, O_CLOEXEC) != 0)
        fail_msg("receiver: pipe");
    pthread_mutex_init(&r->mu, NULL);
    pthread_create(&r->thread, NULL, run, r);
    return r;
}

void rcv_free(struct rcv *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    poke(r);
    pthread_join(r->thread, NULL);
    while (r->nconns)
        close_conn(r, 0);
    if (r->lfd >= 0)
        close(r->lfd);
    close(r->wake[0]);
    close(r->wake[1]);
    for (int i = 0; i < r->nhits; i++)
        free(r->hits[i].body);
    free(r->secrets[0]);
    free(r->secrets[1]);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int rcv_port(const struct rcv *r)
{
    return r->port;
}

char *rcv_url(const struct rcv *r, const char *path)
{
    return it_strf("http://127.0.0.1:%d%s", r->port, path);
}

void rcv_secrets(struct rcv *r, const char *s0, const char *s1)
{
    pthread_mutex_lock(&r->mu);
    free(r->secrets[0]);
    free(r->secrets[1]);
    r->secrets[0] = s0 ? strdup(s0) : NULL;
    r->secrets[1] = s1 ? strdup(s1) : NULL;
    pthread_mutex_unlock(&r->mu);
}

void rcv_answer(struct rcv *r, int status, const char *retry_after)
{
    pthread_mutex_lock(&r->mu);
    r->status = status;
    snprintf(r->retry_after, sizeof r->retry_after, "%s", retry_after ? retry_after : "");
    pthread_mutex_unlock(&r->mu);
}

void rcv_answer_charger(struct rcv *r, const char *charger, int status)
{
    pthread_mutex_lock(&r->mu);
    snprintf(r->fail_charger, sizeof r->fail_charger, "%s", charger ? charger : "");
    r->fail_status = status;
    pthread_mutex_unlock(&r->mu);
}

void rcv_reject_unverified(struct rcv *r, bool reject)
{
    pthread_mutex_lock(&r->mu);
    r->reject = reject;
    pthread_mutex_unlock(&r->mu);
}

void rcv_hang(struct rcv *r, bool hang)
{
    pthread_mutex_lock(&r->mu);
    r->hang = hang;
    pthread_mutex_unlock(&r->mu);
}

void rcv_down(struct rcv *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->nconns)
        close_conn(r, 0);
    if (r->lfd >= 0)
        close(r->lfd);
    r->lfd = -1;
    pthread_mutex_unlock(&r->mu);
    poke(r);
}

void rcv_up(struct rcv *r)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < 100 && r->lfd < 0; i++) {
        r->lfd = listen_on(r->port);
        if (r->lfd < 0)
            usleep(50000);
    }
    bool ok = r->lfd >= 0;
    pthread_mutex_unlock(&r->mu);
    poke(r);
    if (!ok)
        fail_msg("receiver: cannot listen again on %d", r->port);
}

static int count_where(struct rcv *r, bool ok_only)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    for (int i = 0; i < r->nhits; i++)
        n += !ok_only || (r->hits[i].answered >= 200 && r->hits[i].answered < 300 && (r->hits[i].valid & 1));
    pthread_mutex_unlock(&r->mu);
    return n;
}

int rcv_count(struct rcv *r)
{
    return count_where(r, false);
}

int rcv_count_ok(struct rcv *r)
{
    return count_where(r, true);
}

int rcv_distinct_ok(struct rcv *r)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    for (int i = 0; i < r->nhits; i++) {
        const struct rcv_hit *h = &r->hits[i];
        if (h->answered < 200 || h->answered >= 300 || !(h->valid & 1))
            continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = r->hits[j].answered >= 200 && r->hits[j].answered < 300 && (r->hits[j].valid & 1) &&
                   strcmp(r->hits[j].id, h->id) == 0;
        n += !seen;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

bool rcv_hit(struct rcv *r, int i, struct rcv_hit *out)
{
    pthread_mutex_lock(&r->mu);
    bool ok = i >= 0 && i < r->nhits;
    if (ok) {
        *out = r->hits[i];
        out->body = strdup(r->hits[i].body ? r->hits[i].body : "");
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

void rcv_hit_clear(struct rcv_hit *h)
{
    free(h->body);
    h->body = NULL;
}

void rcv_reset(struct rcv *r)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->nhits; i++)
        free(r->hits[i].body);
    r->nhits = 0;
    pthread_mutex_unlock(&r->mu);
}

bool rcv_wait_ok(struct rcv *r, int n, int timeout_ms)
{
    int64_t until = it_now_ms() + timeout_ms;
    while (rcv_count_ok(r) < n) {
        if (it_now_ms() > until)
            return false;
        usleep(20000);
    }
    return true;
}
