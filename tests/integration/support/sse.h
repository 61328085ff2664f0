/*
 * A small Server-Sent Events client over plain sockets, for GET
 * /v1/events/stream: sends the request, reads the answer's head, then
 * decodes the body (HTTP/1.1 chunked, or until close) into events and
 * comments as an EventSource would (id, event, data lines; ": ..."
 * comments). Non-blocking: sse_pump() takes what the socket has, so a test
 * can drive a thousand streams from one poll() loop; sse_next() waits for
 * one stream's next event.
 *
 *     struct sse *s = sse_open(port, key, "/v1/events/stream?type=session.*", NULL);
 *     assert_int_equal(sse_status(s), 200);
 *     struct sse_event ev;
 *     assert_true(sse_next(s, &ev, IT_WAIT_MS));   ev.id, ev.type, ev.data (owned by s)
 *     sse_close(s);
 */
#ifndef OCPPGW_IT_SSE_H
#define OCPPGW_IT_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sse;

struct sse_event {
    int64_t id;                     /* the "id:" line; -1 when none */
    char type[80];                  /* the "event:" line; "message" when none */
    char *data;                     /* the "data:" lines joined by '\n' (borrowed: valid until the next call on s) */
};

struct sse_opts {
    const char *const *headers;     /* extra "Name: value" lines, NULL-terminated; may be NULL */
    bool http10;                    /* send HTTP/1.0 (the body then ends with the connection) */
    int rcvbuf;                     /* SO_RCVBUF before connecting (a reader that never reads fills it sooner); 0 = default */
    bool no_wait;                   /* do not wait for the answer's head (a reader that never reads) */
};

/*
 * Connects to 127.0.0.1:port, sends GET path with "Authorization: Bearer
 * key" (key may be NULL) and waits (10 s) for the answer's head. Never
 * NULL; a failure shows as status -1.
 */
struct sse *sse_open(int port, const char *key, const char *path, const struct sse_opts *o);
void sse_close(struct sse *s);

/* The answer's status (-1: none), a header (case-insensitive, borrowed) or NULL. */
int sse_status(const struct sse *s);
const char *sse_header(struct sse *s, const char *name);
/* The body of a non-200 answer read so far (borrowed). */
const char *sse_body(const struct sse *s);
int sse_fd(const struct sse *s);

/* Reads what the socket holds without blocking and decodes it. False once the stream is over (closed). */
bool sse_pump(struct sse *s);
/* Events decoded and not yet taken with sse_next. */
size_t sse_pending(const struct sse *s);
/* Waits at most timeout_ms for the next event (pumping); false on timeout or end. */
bool sse_next(struct sse *s, struct sse_event *ev, int timeout_ms);
/* Comment lines seen (": keepalive" ...). */
int sse_comments(const struct sse *s);
/* The server closed the connection; *clean: the body ended properly (last chunk) first. */
bool sse_ended(const struct sse *s, bool *clean);
/* Waits at most timeout_ms for the end of the stream (pumping, events kept). */
bool sse_wait_end(struct sse *s, int timeout_ms);

#endif
