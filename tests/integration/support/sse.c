/*
 * The Server-Sent Events client of sse.h: a socket, the answer's head, a
 * de-chunker and the event parser of the SSE format (lines "field: value",
 * an empty line ends an event, ":" starts a comment).
 */
#include "sse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

struct sse_item {
    struct sse_item *next;
    struct sse_event ev;
};

struct sse {
    int fd;
    int status;
    bool head_done;
    bool chunked;
    bool eof;                       /* the socket said EOF (or failed) */
    bool clean;                     /* the last chunk arrived (chunked), or EOF (until close) */
    struct strbuf raw;              /* bytes read, not yet decoded (head, chunk framing) */
    struct strbuf head;             /* the answer's head */
    struct strbuf body;             /* decoded body not yet parsed into events */
    size_t chunk_left;              /* bytes left of the current chunk (chunked) */
    bool in_chunk;
    struct sse_item *first, *last;  /* events decoded, oldest first */
    size_t npending;
    struct sse_event taken;         /* the last one handed out (its data freed on the next call) */
    int comments;
    char hdrbuf[256];
    /* the event being assembled */
    int64_t cur_id;
    char cur_type[80];
    struct strbuf cur_data;
    bool cur_has;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reset_current(struct sse *s)
{
    s->cur_id = -1;
    strcpy(s->cur_type, "message");
    strbuf_reset(&s->cur_data);
    s->cur_has = false;
}

static void dispatch_event(struct sse *s)
{
    if (!s->cur_has) {
        reset_current(s);
        return;
    }
    struct sse_item *it = calloc(1, sizeof *it);
    it->ev.id = s->cur_id;
    snprintf(it->ev.type, sizeof it->ev.type, "%s", s->cur_type);
    it->ev.data = strbuf_take(&s->cur_data);
    if (!it->ev.data)
        it->ev.data = strdup("");
    if (s->last)
        s->last->next = it;
    else
        s->first = it;
    s->last = it;
    s->npending++;
    reset_current(s);
}

static void parse_line(struct sse *s, const char *line, size_t n)
{
    if (n == 0) {
        dispatch_event(s);
        return;
    }
    if (line[0] == ':') {
        s->comments++;
        return;
    }
    const char *colon = memchr(line, ':', n);
    size_t flen = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;
    if (v < line + n && *v == ' ')
        v++;
    size_t vlen = (size_t)(line + n - v);
    if (flen == 2 && !memcmp(line, "id", 2)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)(vlen < 31 ? vlen : 31), v);
        s->cur_id = strtoll(buf, NULL, 10);
        s->cur_has = true;
    } else if (flen == 5 && !memcmp(line, "event", 5)) {
        snprintf(s->cur_type, sizeof s->cur_type, "%.*s", (int)vlen, v);
        s->cur_has = true;
    } else if (flen == 4 && !memcmp(line, "data", 4)) {
        if (s->cur_data.len)
            strbuf_putc(&s->cur_data, '\n');
        strbuf_put(&s->cur_data, v, vlen);
        s->cur_has = true;
    }
}

/* Parses the complete lines of the decoded body. */
static void parse_body(struct sse *s)
{
    size_t at = 0;
    for (;;) {
        char *nl = s->body.len > at ? memchr(s->body.buf + at, '\n', s->body.len - at) : NULL;
        if (!nl)
            break;
        size_t n = (size_t)(nl - (s->body.buf + at));
        size_t len = n && s->body.buf[at + n - 1] == '\r' ? n - 1 : n;
        parse_line(s, s->body.buf + at, len);
        at += n + 1;
    }
    if (at) {
        memmove(s->body.buf, s->body.buf + at, s->body.len - at);
        strbuf_truncate(&s->body, s->body.len - at);
    }
}

static const char *find_header(const char *head, const char *name, char *buf, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nlen) && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            snprintf(buf, cap, "%.*s", (int)n, v);
            return buf;
        }
    }
    return NULL;
}

/* Decodes what is in raw: the head first, then the body (chunked or not). */
static void decode(struct sse *s)
{
    if (!s->head_done) {
        char *end = s->raw.len ? strstr(s->raw.buf, "\r\n\r\n") : NULL;
        if (!end)
            return;
        size_t n = (size_t)(end - s->raw.buf) + 4;
        strbuf_put(&s->head, s->raw.buf, n);
        memmove(s->raw.buf, s->raw.buf + n, s->raw.len - n);
        strbuf_truncate(&s->raw, s->raw.len - n);
        s->head_done = true;
        int st = -1;
        if (sscanf(s->head.buf, "HTTP/%*d.%*d %d", &st) == 1)
            s->status = st;
        char v[64];
        s->chunked = find_header(s->head.buf, "transfer-encoding", v, sizeof v) && strcasestr(v, "chunked");
    }
    if (!s->chunked) {
        strbuf_put(&s->body, s->raw.buf ? s->raw.buf : "", s->raw.len);
        strbuf_reset(&s->raw);
    } else {
        size_t at = 0;
        while (at < s->raw.len && !s->clean) {
            if (s->in_chunk) {
                /* chunk_left counts the data and its CRLF */
                size_t avail = s->raw.len - at;
                size_t take = avail < s->chunk_left ? avail : s->chunk_left;
                size_t data_left = s->chunk_left > 2 ? s->chunk_left - 2 : 0;
                strbuf_put(&s->body, s->raw.buf + at, take < data_left ? take : data_left);
                at += take;
                s->chunk_left -= take;
                if (!s->chunk_left)
                    s->in_chunk = false;
                continue;
            }
            char *nl = memchr(s->raw.buf + at, '\n', s->raw.len - at);
            if (!nl)
                break;
            size_t size = strtoul(s->raw.buf + at, NULL, 16);
            at = (size_t)(nl - s->raw.buf) + 1;
            if (size == 0) {
                s->clean = true;
                break;
            }
            s->chunk_left = size + 2;
            s->in_chunk = true;
        }
        memmove(s->raw.buf, s->raw.buf + at, s->raw.len - at);
        strbuf_truncate(&s->raw, s->raw.len - at);
    }
    if (s->status == 200)
        parse_body(s);
}

bool sse_pump(struct sse *s)
{
    if (s->fd < 0)
        return false;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            strbuf_put(&s->raw, buf, (size_t)n);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            s->eof = true;
            if (!s->chunked && s->head_done)
                s->clean = true;
        }
        break;
    }
    decode(s);
    return !s->eof;
}

static bool wait_readable(struct sse *s, int64_t deadline)
{
    int64_t left = deadline - mono_ms();
    if (left <= 0 || s->fd < 0)
        return false;
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    return poll(&p, 1, (int)left) > 0;
}

struct sse *sse_open(int port, const char *key, const char *path, const struct sse_opts *o)
{
    struct sse *s = calloc(1, sizeof *s);
    s->status = -1;
    reset_current(s);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return s;
    if (o && o->rcvbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof o->rcvbuf);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(s->fd);
        s->fd = -1;
        return s;
    }
    struct strbuf req = STRBUF_INIT;
    strbuf_printf(&req, "GET %s HTTP/1.%d\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n", path,
                  o && o->http10 ? 0 : 1, port);
    if (key)
        strbuf_printf(&req, "Authorization: Bearer %s\r\n", key);
    for (size_t i = 0; o && o->headers && o->headers[i]; i++)
        strbuf_printf(&req, "%s\r\n", o->headers[i]);
    strbuf_puts(&req, "\r\n");
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = send(s->fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    strbuf_free(&req);
    if (o && o->no_wait)
        return s;
    int64_t deadline = mono_ms() + 10000;
    while (sse_pump(s) && !s->head_done && wait_readable(s, deadline))
        ;
    /* an error answer has a Content-Length: read it whole */
    if (s->head_done && s->status != 200) {
        while (sse_pump(s) && wait_readable(s, deadline))
            ;
    }
    return s;
}

void sse_close(struct sse *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    while (s->first) {
        struct sse_item *it = s->first;
        s->first = it->next;
        free(it->ev.data);
        free(it);
    }
    free(s->taken.data);
    strbuf_free(&s->raw);
    strbuf_free(&s->head);
    strbuf_free(&s->body);
    strbuf_free(&s->cur_data);
    free(s);
}

int sse_status(const struct sse *s)
{
    return s->status;
}

const char *sse_header(struct sse *s, const char *name)
{
    return s->head_done ? find_header(s->head.buf, name, s->hdrbuf, sizeof s->hdrbuf) : NULL;
}

const char *sse_body(const struct sse *s)
{
    return s->raw.len ? s->raw.buf : (s->body.len ? s->body.buf : "");
}

int sse_fd(const struct sse *s)
{
    return s->fd;
}

size_t sse_pending(const struct sse *s)
{
    return s->npending;
}

bool sse_next(struct sse *s, struct sse_event *ev, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        if (s->first) {
            struct sse_item *it = s->first;
            s->first = it->next;
            if (!s->first)
                s->last = NULL;
            s->npending--;
            free(s->taken.data);
            s->taken = it->ev;
            free(it);
            *ev = s->taken;
            return true;
        }
        if (!sse_pump(s) && !s->first)
            return false;
        if (!s->first && !wait_readable(s, deadline))
            return false;
    }
}

int sse_comments(const struct sse *s)
{
    return s->comments;
}

bool sse_ended(const struct sse *s, bool *clean)
{
    if (clean)
        *clean = s->clean;
    return s->eof;
}

bool sse_wait_end(struct sse *s, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    while (sse_pump(s))
        if (!wait_readable(s, deadline))
            return !sse_pump(s);
    return true;
}
