/*
 * Streaming replies: a request answered with a long-lived 200 whose body is
 * written as it is produced (GET /v1/events/stream, Server-Sent Events).
 *
 * A handler calls rest_stream_start(): the reply is READY with `stream`
 * set, the transport writes the headers (no Content-Length) and keeps the
 * connection (rest_stream_opened: state STREAMING). The handler then
 * queues bytes with rest_stream_send(); each queueing asks the transport
 * (io.send) to be called when the socket is writable, where it takes what
 * it can (rest_stream_peek / rest_stream_consumed). So a stream costs its
 * queue and nothing else: no timer, no lws timeout, no thread.
 *
 * The queue is bounded: rest_stream_send() refuses what would pass the
 * bound given at start (REST_STREAM_FULL: the handler keeps its place and
 * offers more when its hooks' drained() says the client has read). A burst
 * larger than the bound is therefore no fault of the client; one that
 * reads nothing at all while its queue is full for REST_STREAM_STALL_MS is
 * cut (logged, io.kill closes the connection at once), so a stuck reader
 * costs at most the bound and never slows anyone else. Its client
 * reconnects and resumes (Last-Event-ID).
 *
 * rest_stream_end() ends a stream after its queue: the transport closes
 * the body cleanly (HTTP/1.1: the last chunk). At shutdown every stream is
 * ended that way (rest_streams_shutdown); one with a backlog is cut
 * instead, so shutdown never waits for a slow reader.
 *
 * Whatever the end, the request is freed through the transport (the client
 * left, the connection closed) and the handler's gone(user) runs then,
 * exactly once, from rest_request_free. Loop thread only; calls request.c
 * and reply.c.
 */
#include <stdlib.h>
#include <string.h>

#include "framework.h"
#include "util.h"

#define SHUTDOWN_BACKLOG_MAX (64 * 1024)    /* a stream with more queued is cut at shutdown */

struct rest_stream {
    struct rest_stream *prev, *next;        /* every open stream (S.head) */
    struct rest_request *r;
    struct strbuf q;                        /* queued bytes: q.buf[off .. q.len) */
    size_t off;
    size_t bound;
    bool opened;                            /* headers written (STREAMING) */
    bool ended;                             /* nothing more will be queued */
    bool cut;                               /* closed at once; nothing more is written */
    int64_t full_since_ms;                  /* a send found the queue full, nothing read since; 0 = not */
    int64_t stall_ms;                       /* cut after this long full and unread */
    bool export;                            /* cut at shutdown, never ended cleanly (rest_stream_set_export) */
    struct rest_stream_hooks hooks;
    void *user;
};

static struct {
    struct rest_stream head;                /* list head; head.next == &head: empty */
    size_t n;
} S = { .head = { .prev = &S.head, .next = &S.head } };

static void wake(struct rest_request *r)
{
    if (!r->conn)
        return;
    const struct rest_io *io = rest_io();
    io->send(io->ctx, r);
}

static int64_t mono_ms(void)
{
    const struct rest_io *io = rest_io();
    return io->mono_us(io->ctx) / 1000;
}

void rest_stream_start(struct rest_request *r, const char *content_type, size_t bound,
                       const struct rest_stream_hooks *hooks, void *user)
{
    if (r->replied || r->stream) {
        log_error(NULL, "rest: %s %s answered twice (request %s); stream refused",
                  rest_method_name(r->method), r->path, rest_request_id(r));
        if (hooks->gone)
            hooks->gone(user);
        return;
    }
    struct rest_stream *st = xcalloc(1, sizeof *st);
    st->r = r;
    st->bound = bound ? bound : 1024 * 1024;
    st->stall_ms = REST_STREAM_STALL_MS;
    st->hooks = *hooks;
    st->user = user;
    st->next = S.head.next;
    st->prev = &S.head;
    S.head.next->prev = st;
    S.head.next = st;
    S.n++;
    r->stream = st;
    rest_add_header(r, "Cache-Control", "no-cache");
    rest_add_header(r, "X-Accel-Buffering", "no");     /* a proxy in front must not buffer it either */
    r->replied = true;
    r->reply.status = 200;
    r->reply.content_type = content_type;
    r->reply.stream = true;
    rest_reply_send(r);
}

size_t rest_stream_queued(const struct rest_request *r)
{
    const struct rest_stream *st = r->stream;
    return st ? st->q.len - st->off : 0;
}

bool rest_stream_live(const struct rest_request *r)
{
    const struct rest_stream *st = r->stream;
    return st && !st->ended && !st->cut && r->conn;
}

static void cut(struct rest_request *r, struct rest_stream *st, const char *why)
{
    st->cut = true;
    log_warn(NULL, "rest: %s %s (request %s) cut: %s (%zu bytes waiting, bound %zu)",
             rest_method_name(r->method), r->path, rest_request_id(r), why, st->q.len - st->off,
             st->bound);
    strbuf_free(&st->q);
    st->off = 0;
    const struct rest_io *io = rest_io();
    if (r->conn && io->kill)
        io->kill(io->ctx, r);
}

enum rest_stream_put rest_stream_send(struct rest_request *r, const char *data, size_t len)
{
    struct rest_stream *st = r->stream;
    if (!st || st->ended || st->cut || !r->conn)
        return REST_STREAM_CLOSED;
    size_t queued = st->q.len - st->off;
    /* an empty queue takes one piece of any size: it must be able to go out */
    if (queued && queued + len > st->bound) {
        if (!st->full_since_ms)
            st->full_since_ms = mono_ms();
        return REST_STREAM_FULL;
    }
    if (st->off && st->off == st->q.len) {
        strbuf_reset(&st->q);
        st->off = 0;
    }
    strbuf_put(&st->q, data, len);
    if (queued == 0 && st->opened)
        wake(r);
    return REST_STREAM_QUEUED;
}

void rest_streams_tick(void)
{
    int64_t now = mono_ms();
    for (struct rest_stream *st = S.head.next; st != &S.head; st = st->next) {
        if (st->full_since_ms && !st->cut && now - st->full_since_ms >= st->stall_ms)
            cut(st->r, st, "its client reads nothing");
    }
}

void rest_stream_set_export(struct rest_request *r, int64_t stall_ms)
{
    struct rest_stream *st = r->stream;
    if (!st)
        return;
    st->export = true;
    st->stall_ms = stall_ms > 0 ? stall_ms : REST_STREAM_STALL_MS;
}

void rest_stream_abort(struct rest_request *r, const char *why)
{
    struct rest_stream *st = r->stream;
    if (st && !st->cut)
        cut(r, st, why);
}

void rest_stream_end(struct rest_request *r)
{
    struct rest_stream *st = r->stream;
    if (!st || st->ended || st->cut)
        return;
    st->ended = true;
    if (st->opened)
        wake(r);
}

void rest_streams_shutdown(void)
{
    for (struct rest_stream *st = S.head.next; st != &S.head; st = st->next) {
        if (st->ended || st->cut)
            continue;
        if (st->export)
            cut(st->r, st, "shutting down in the middle of an export");
        else if (st->q.len - st->off > SHUTDOWN_BACKLOG_MAX)
            cut(st->r, st, "shutting down with a backlog");
        else
            rest_stream_end(st->r);
    }
}

size_t rest_stream_count(void)
{
    return S.n;
}

/* ------------------------------------------------------------------ the transport's side */

void rest_stream_opened(struct rest_request *r)
{
    struct rest_stream *st = r->stream;
    r->state = REST_REQ_STREAMING;
    if (st)
        st->opened = true;
}

size_t rest_stream_peek(struct rest_request *r, const char **data, bool *ended)
{
    struct rest_stream *st = r->stream;
    if (!st || st->cut) {
        *data = NULL;
        *ended = true;
        return 0;
    }
    *data = st->q.buf ? st->q.buf + st->off : NULL;
    *ended = st->ended;
    return st->q.len - st->off;
}

void rest_stream_consumed(struct rest_request *r, size_t n)
{
    struct rest_stream *st = r->stream;
    if (!st)
        return;
    if (n)
        st->full_since_ms = 0;      /* the client reads */
    st->off += n;
    if (st->off >= st->q.len) {
        /* drained: keep a small buffer for the next event, give a big one back */
        if (st->q.cap > 64 * 1024)
            strbuf_free(&st->q);
        else
            strbuf_reset(&st->q);
        st->off = 0;
    } else if (st->off > 64 * 1024 && st->off > st->q.len / 2) {
        size_t left = st->q.len - st->off;
        memmove(st->q.buf, st->q.buf + st->off, left);
        strbuf_truncate(&st->q, left);
        st->off = 0;
    }
    /* room again: the handler offers what it held back */
    if (n && st->hooks.drained && !st->ended && !st->cut && st->q.len - st->off < st->bound / 2)
        st->hooks.drained(st->user);
}

/* From rest_request_free: the request is going; tell the handler. */
void rest_stream_free(struct rest_request *r)
{
    struct rest_stream *st = r->stream;
    if (!st)
        return;
    r->stream = NULL;
    st->prev->next = st->next;
    st->next->prev = st->prev;
    S.n--;
    strbuf_free(&st->q);
    if (st->hooks.gone)
        st->hooks.gone(st->user);
    free(st);
}
