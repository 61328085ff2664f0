/*
 * The REST framework as its transport sees it (src/glue/http_lws.c): how to
 * start and stop it, hand it a request, and write out the reply it made.
 * Resource handlers use include/rest.h; the framework's own files share
 * src/rest/framework.h, which nothing outside src/rest/ includes.
 *
 * A request, from the transport's side:
 *
 *   r = rest_request_new(conn, method, path)        state READING
 *   rest_request_set_header(r, ...), rest_request_add_arg(r, ...)
 *   rest_request_body_append(r, ...)                while the body arrives
 *   rest_dispatch(r)                                state RUNNING
 *   ... io.send(ctx, r) once the reply is complete  state READY
 *   write rest_request_reply(r), then rest_request_free(r)
 *
 * A request refused before dispatch (bad query, chunked body, too large) is
 * answered with rest_reply_transport_error() instead of rest_dispatch(). At
 * any point the client may go away: rest_request_gone(r) (the framework then
 * frees r, at once or once what it must finish is done; the transport
 * forgets the pointer either way).
 *
 * io.send may run inside rest_dispatch() (the transport writes the reply
 * when its callback returns) or later, from a store job's completion (the
 * transport asks to be called back when the connection is writable). A
 * dispatched request that is neither READY nor gone is parked: the
 * transport keeps its connection for up to rest_cfg()->park_timeout_s.
 *
 * Single-threaded: everything here runs on the loop thread.
 */
#ifndef OCPPGW_REST_TRANSPORT_H
#define OCPPGW_REST_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest.h"
#include "store_export.h"

struct core;
struct store_job;

/* ---- starting and stopping ---- */

struct rest_config {
    size_t max_body;                    /* 0 = 1 MiB */
    double rate_per_s;                  /* per key; <= 0 = 20 */
    double rate_burst;                  /* < 1 = 100 */
    const char *cors_origins;           /* comma list or "*"; NULL = no CORS (copied) */
    int park_timeout_s;                 /* a parked request lives this long; <= 0 = 60 */
    const struct rest_route *routes;    /* the route table (borrowed, static): rest_routes */
    size_t nroutes;
    struct rest_settings settings;      /* what handlers read (rest_settings()) */
};

/* How the framework reaches the transport, the REST store, the clocks and the core. */
struct rest_io {
    void *ctx;
    /*
     * The core handlers reach through include/rest_live.h (borrowed; NULL =
     * none, as in unit tests: see there for the answers then).
     */
    struct core *core;
    /* The reply of r is READY: write it now if inside r's callback, else when writable. */
    void (*send)(void *ctx, struct rest_request *r);
    /* A job for the REST store (takes ownership); it comes back through rest_on_store_result. */
    void (*submit)(void *ctx, struct store_job *job);
    bool (*store_ready)(void *ctx);
    int64_t (*now_ms)(void *ctx);       /* wall clock */
    int64_t (*mono_us)(void *ctx);      /* monotonic */
    /*
     * A streaming reply is cut: close r's connection now, without writing
     * what is queued (its client stopped reading). NULL: no transport.
     */
    void (*kill)(void *ctx, struct rest_request *r);
    /*
     * Exports (include/store.h, "Exports"; NULL: none in this process): start
     * one (takes req; NULL when too many run: the handler answers 503), take
     * its next chunk (caller frees) and where it stands, let go of it.
     */
    void *(*export_begin)(void *ctx, struct store_export_req *req);
    char *(*export_take)(void *ctx, void *export, size_t *len, enum store_export_state *state, char *why,
                         size_t cap);
    void (*export_release)(void *ctx, void *export);
    /* A test delivery for the request of that handle (NULL: no delivery thread); answered by rest_on_webhook_test. */
    void (*webhook_test)(void *ctx, uint64_t handle, const char *endpoint_id);
};

/* Sets up the framework (before any request). cfg and io are copied (routes borrowed). */
void rest_init(const struct rest_config *cfg, const struct rest_io *io);
/* Frees every request, cached key and pending job context (after the REST store stopped). */
void rest_shutdown(void);
/* The configuration in force (defaults applied). */
const struct rest_config *rest_cfg(void);
/* The newest Api-Version revision ("V2026_11_21"), for answers made outside the framework. */
const char *rest_current_api_version(void);

/* Exports have news (chunks, an end): loop thread, from the wake-up that said so (spurious is fine). */
void rest_on_exports(void);

/* The delivery thread's answer to a test delivery (loop thread; see rest_webhook_test). */
void rest_on_webhook_test(uint64_t handle, const struct rest_webhook_test_result *res);

/* ---- the request ---- */

/* Where a request is in its life (see above). */
enum rest_req_state {
    REST_REQ_READING,               /* the transport is collecting it */
    REST_REQ_RUNNING,               /* dispatched: checks, handler, maybe parked on a job */
    REST_REQ_RECORDING,             /* an idempotent POST's reply is being stored before it is sent */
    REST_REQ_READY,                 /* the reply is complete: write it */
    REST_REQ_STREAMING              /* a streaming reply's headers went out; its body follows */
};

/* The request headers the framework and handlers read. */
enum rest_hdr {
    REST_H_AUTHORIZATION,
    REST_H_X_API_KEY,
    REST_H_API_VERSION,
    REST_H_IDEMPOTENCY_KEY,
    REST_H_PREFER,
    REST_H_X_REQUEST_ID,
    REST_H_CONTENT_TYPE,
    REST_H_CONTENT_LENGTH,
    REST_H_TRANSFER_ENCODING,
    REST_H_ORIGIN,
    REST_H_AC_REQUEST_METHOD,       /* CORS preflight */
    REST_H_AC_REQUEST_HEADERS,
    REST_H_LAST_EVENT_ID,           /* Server-Sent Events resume */
    REST_H_ACCEPT,                  /* content negotiation (a receipt as JSON or HTML) */
    REST_H_COUNT
};
/* Lower-case name without ':' ("x-api-key"). */
const char *rest_hdr_name(enum rest_hdr h);

#define REST_ARG_NAME_MAX 64        /* bytes of a query parameter's name */

/*
 * A new request in state READING, registered under a fresh id. conn is the
 * transport's handle (never NULL); path (already percent-decoded) copied.
 */
struct rest_request *rest_request_new(void *conn, enum rest_method m, const char *path, size_t plen);
/* Sets a collected header (value copied, len bytes). */
void rest_request_set_header(struct rest_request *r, enum rest_hdr h, const char *value, size_t len);
/* A collected header (borrowed), NULL if absent. */
const char *rest_request_hdr(const struct rest_request *r, enum rest_hdr h);
/*
 * Adds one decoded query fragment "name=value" (len bytes). False when it is
 * malformed (encoding, length, count): bad_buf receives the parameter's name
 * ("" if unreadable); the transport answers 400.
 */
bool rest_request_add_arg(struct rest_request *r, const char *frag, size_t len, char *bad_buf,
                          size_t bad_cap);
/* Appends body bytes; false once the total would pass max_body. */
bool rest_request_body_append(struct rest_request *r, const void *data, size_t len);
/* The connection closes after this request's reply (the transport cannot trust what follows). */
void rest_request_close_after(struct rest_request *r);
enum rest_req_state rest_request_state(const struct rest_request *r);
/* The handler parks r on one short query (rest_request_brief_park): keep lws's request timeout. */
bool rest_request_parks_briefly(const struct rest_request *r);
/* The conn given to rest_request_new (io.send is only ever called with a client there). */
void *rest_request_conn(const struct rest_request *r);

/* The checks of rest.h in order, then the handler (READING -> RUNNING). */
void rest_dispatch(struct rest_request *r);
/*
 * The transport refuses a request before dispatch (body too large, chunked,
 * bad query): an error reply with context {ctx_name: ctx_value} (none when
 * ctx_name is NULL); close: close the connection after it.
 */
void rest_reply_transport_error(struct rest_request *r, enum rest_err e, const char *message,
                                const char *ctx_name, const char *ctx_value, bool close);

/* The transport lost the client (closed, timed out); it forgets r. */
void rest_request_gone(struct rest_request *r);
/* Frees a request (unregisters it). The transport calls it after writing the reply. */
void rest_request_free(struct rest_request *r);

/* ---- the reply the transport writes out (valid in state READY) ---- */

struct rest_pair {
    char *name;                     /* without ':' */
    char *value;
};

struct rest_reply {
    int status;
    const char *content_type;       /* static text; NULL = no body */
    char *body;                     /* owned by the request; len bytes */
    size_t len;
    struct rest_pair *headers;      /* besides status, Content-Type and Content-Length */
    size_t nheaders;
    bool close;                     /* "Connection: close", then close */
    bool stream;                    /* a streaming reply: no Content-Length, see below */
};

/* r's reply (borrowed; lives as long as r). A HEAD request gets its headers only. */
const struct rest_reply *rest_request_reply(const struct rest_request *r);

/*
 * ---- streaming replies (src/rest/stream.c) ----
 *
 * A READY reply with `stream` set (GET /v1/events/stream) has a status and
 * headers but no length: the transport writes the headers with framing of
 * its choice (HTTP/1.1 chunked, or Connection: close), calls
 * rest_stream_opened(r) and keeps the connection. From then on io.send(r)
 * means "bytes are queued, or the stream ended": when writable, the
 * transport writes some of rest_stream_peek()'s bytes, reports them with
 * rest_stream_consumed(), and once the stream has ended and nothing is
 * left, finishes the body and closes. io.kill(r) closes at once. The client
 * leaving is rest_request_gone(r) as for any request.
 */
void rest_stream_opened(struct rest_request *r);
/* The queued bytes (borrowed until the next call on r); *ended: nothing more will be queued. */
size_t rest_stream_peek(struct rest_request *r, const char **data, bool *ended);
/* n bytes of the peeked ones were written (or kept by the transport's own buffer). */
void rest_stream_consumed(struct rest_request *r, size_t n);

#endif
