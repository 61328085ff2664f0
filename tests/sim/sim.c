/*
 * Charger simulator: libwebsockets' client side, one lws context per struct
 * sim, serviced on the caller's thread only. Every blocking call
 * (sim_connect, sim_call, sim_recv, ...) is a loop of lws_service() until its
 * condition holds or its deadline passes; a sorted-usec timer armed at the
 * deadline wakes the poll, because lws 4.1 ignores lws_service's timeout.
 * With sim_options.event_loop_uv the context runs on a libuv loop of the
 * sim's own instead (one uv_run(UV_RUN_ONCE) per round, the same timer
 * bounding it), as the gateway does: epoll rather than a poll(2) over every
 * socket, for the load generator's thousands of connections.
 *
 * A charger owns its wsi through lws's opaque user data. Text from the server
 * is reassembled across fragments, then sorted: gateway CALLs go to the
 * responder, answers to our CALLs are matched by unique id (a per-charger
 * counter), anything else waits in the inbox for sim_recv. Sends go into a
 * per-charger outbox drained one lws_write per CLIENT_WRITEABLE. A charger is
 * freed only by sim_disconnect or sim_free; before freeing, its wsi is
 * detached (opaque data NULL) and killed, so a late callback never sees it.
 *
 * For responders that act on their own (tests/sim/answers.c): a delayed
 * answer, a reply's then hook and sim_after are all one per-charger list of
 * lws sul timers (struct sim_delayed); CALLs the charger sends on its own
 * (sim_send_call_cb) carry "sim-<n>" ids and their answers are taken off
 * before the sim_call / sim_send_call / inbox sorting above. The sim also
 * counts gateway CALLs per action and how many were unanswered at once.
 *
 * Facts about lws 4.1.6 this relies on (probed against a local lws server):
 * - `iface` in the connect info binds the client socket to a local IP.
 * - A refused upgrade ends in CLIENT_CONNECTION_ERROR with the message
 *   "HS: ws upgrade response not 101" ("HS: ws upgrade unauthorized" for
 *   401), and lws_http_client_http_response() still returns the status
 *   there (seen: 400, 401, 404, 429, 503). A server that closes TCP instead
 *   gives "read failed" and status 0; nothing listening, "Unable to connect".
 * - The response headers are dropped before CLIENT_ESTABLISHED, so the
 *   selected subprotocol is read in CLIENT_FILTER_PRE_ESTABLISH.
 * - A callback returning -1 without lws_close_reason() closes TCP with no
 *   close frame; with it, lws sends the close frame and waits for the ack.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cJSON.h>
#include <libwebsockets.h>
#include <uv.h>

#include "sim.h"
#include "strbuf.h"
#include "util.h"

#define SIM_PROTOCOL        "sim-ocpp"     /* local handler name, never sent */
#define SIM_RX_DEFAULT      (1024 * 1024)
#define SIM_INBOX_MAX       4096           /* unread messages kept per charger */
#define SIM_CLOSE_WAIT_MS   2000
#define SIM_NOFILE_CAP      1048576        /* lws falls back to 2560 fds above 10M */

struct sim_buf {
    struct sim_buf *next;
    int flags;                              /* enum lws_write_protocol bits */
    size_t len;
    unsigned char data[];                   /* LWS_PRE headroom, then len bytes */
};

struct sim_msg {
    struct sim_msg *next;
    size_t len;
    char text[];
};

enum sim_delayed_kind {
    SIM_DELAYED_REPLY,                      /* put text into the outbox, then run fn */
    SIM_DELAYED_DROP,                       /* SIM_REPLY_DISCONNECT */
    SIM_DELAYED_TIMER                       /* sim_after: run fn */
};

/* Something due later on one charger's timer; freed with delayed_free. */
struct sim_delayed {
    lws_sorted_usec_list_t sul;
    struct sim_delayed *next;
    struct sim_charger *c;
    enum sim_delayed_kind kind;
    sim_then_fn fn;                         /* REPLY: the reply's then hook (may be NULL) */
    void *arg;                              /* owned: free() */
    int then_delay_ms;
    size_t len;
    char text[];
};

/* A CALL of ours sent with sim_send_call_cb, waiting for its answer. */
struct sim_pending {
    struct sim_pending *next;
    char id[32];
    sim_answer_fn fn;
    void *arg;                              /* owned: free() */
};

struct sim_action_count {
    char *action;
    int n;
};

struct sim_charger {
    struct sim *s;
    struct sim_charger *prev, *next;        /* s->chargers */
    struct sim_charger *ready_next;         /* s->ready: an async answer to report */
    bool in_ready;
    struct lws *wsi;                        /* NULL once lws has let go of it */
    bool counted;                           /* wsi counted in s->live */

    char *id, *path, *subprotocols, *source_addr, *auth;
    size_t rx_max;

    enum sim_state state;
    int http_status;
    char selected[64];
    char error[128];
    int close_code;
    bool close_frame;
    char close_reason[128];

    int want_close;                         /* close frame to send once the outbox is empty */
    char want_close_reason[64];

    char *rx;
    size_t rx_len, rx_cap;

    struct sim_msg *in_head, *in_tail;
    int in_count;
    struct sim_buf *out_head, *out_tail;
    struct sim_delayed *delayed;
    uint64_t next_id;

    char *wait_id;                          /* sim_call waiting for this id */
    char *wait_reply;

    char async_id[24];                      /* sim_send_call */
    bool async_out;
    int64_t async_sent_us;
    int64_t async_latency_us;
    bool async_ok;
    char *last_reply;

    sim_responder responder;
    void *responder_user;
    bool queue_calls;
    int calls_received;
    char *last_action, *last_payload;
    struct sim_action_count *action_counts; /* gateway CALLs per action */
    int n_action_counts;
    int calls_outstanding;                  /* gateway CALLs arrived and not yet answered */
    int calls_outstanding_max;

    struct sim_pending *pending;            /* sim_send_call_cb */
    uint64_t next_internal_id;

    void *data;                             /* sim_set_charger_data */
    void (*data_free)(void *data);
};

struct sim {
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    lws_retry_bo_t retry;
    lws_sorted_usec_list_t wake, backstop;
    char *host;
    int port;
    bool quiet;
    bool close_without_echo;                /* sim_options.close_without_echo */
    uv_loop_t uv_loop;                      /* sim_options.event_loop_uv: lws runs on it */
    bool use_uv;
    int fd_table;
    int ceiling;
    bool tls, tls_verify;                   /* wss://; check the server's certificate chain */
    struct sim_charger *chargers;
    int live;                               /* chargers that still have a wsi */
    struct sim_charger *ready_head, *ready_tail;
    sim_responder responder;                /* given to new chargers */
    void *responder_user;
};

/* ------------------------------------------------------------ small helpers */

/* Appends s as a JSON string literal. */
static void json_string_put(struct strbuf *b, const char *s)
{
    strbuf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            strbuf_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            strbuf_put(b, esc, 6);
        } else {
            strbuf_put(b, (const char *)p, 1);
        }
    }
    strbuf_put(b, "\"", 1);
}

static char *call_frame(const char *id, const char *action, const char *payload, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    strbuf_puts(&b, "[2,");
    json_string_put(&b, id);
    strbuf_puts(&b, ",");
    json_string_put(&b, action);
    strbuf_puts(&b, ",");
    strbuf_puts(&b, payload && *payload ? payload : "{}");
    strbuf_puts(&b, "]");
    *len = b.len;
    return strbuf_take(&b);
}

static char *reply_frame(const char *id, const struct sim_reply *r, size_t *len)
{
    struct strbuf b = STRBUF_INIT;
    if (r->kind == SIM_REPLY_ERROR) {
        strbuf_puts(&b, "[4,");
        json_string_put(&b, id);
        strbuf_puts(&b, ",");
        json_string_put(&b, r->payload[0] ? r->payload : "GenericError");
        strbuf_puts(&b, ",\"\",{}]");
    } else {
        strbuf_puts(&b, "[3,");
        json_string_put(&b, id);
        strbuf_puts(&b, ",");
        strbuf_puts(&b, r->payload[0] ? r->payload : "{}");
        strbuf_puts(&b, "]");
    }
    *len = b.len;
    return strbuf_take(&b);
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? xstrdup(src) : NULL;
}

/* Forgets the wsi; lws calls us no more for it. */
static void detach_wsi(struct sim_charger *c)
{
    if (c->wsi)
        lws_set_opaque_user_data(c->wsi, NULL);
    c->wsi = NULL;
    if (c->counted) {
        c->counted = false;
        c->s->live--;
    }
}

/* -------------------------------------------------------------- queues */

static int enqueue(struct sim_charger *c, const char *data, size_t len, int flags)
{
    if (c->state != SIM_OPEN || !c->wsi)
        return -1;
    struct sim_buf *b = xmalloc(sizeof *b + LWS_PRE + len);
    b->next = NULL;
    b->flags = flags;
    b->len = len;
    memcpy(b->data + LWS_PRE, data, len);
    if (c->out_tail)
        c->out_tail->next = b;
    else
        c->out_head = b;
    c->out_tail = b;
    lws_callback_on_writable(c->wsi);
    return 0;
}

static void inbox_push(struct sim_charger *c, char *text, size_t len)
{
    struct sim_msg *m = xmalloc(sizeof *m + len + 1);
    m->next = NULL;
    m->len = len;
    memcpy(m->text, text, len);
    m->text[len] = '\0';
    if (c->in_tail)
        c->in_tail->next = m;
    else
        c->in_head = m;
    c->in_tail = m;
    if (++c->in_count > SIM_INBOX_MAX) {        /* nobody reads: keep the newest */
        struct sim_msg *old = c->in_head;
        c->in_head = old->next;
        free(old);
        c->in_count--;
    }
}

static char *inbox_pop(struct sim_charger *c)
{
    struct sim_msg *m = c->in_head;
    if (!m)
        return NULL;
    c->in_head = m->next;
    if (!c->in_head)
        c->in_tail = NULL;
    c->in_count--;
    char *text = xmalloc(m->len + 1);
    memcpy(text, m->text, m->len + 1);
    free(m);
    return text;
}

static void ready_push(struct sim *s, struct sim_charger *c)
{
    if (c->in_ready)
        return;
    c->in_ready = true;
    c->ready_next = NULL;
    if (s->ready_tail)
        s->ready_tail->ready_next = c;
    else
        s->ready_head = c;
    s->ready_tail = c;
}

static void ready_remove(struct sim *s, struct sim_charger *c)
{
    if (!c->in_ready)
        return;
    struct sim_charger *prev = NULL;
    for (struct sim_charger *it = s->ready_head; it; prev = it, it = it->ready_next) {
        if (it != c)
            continue;
        if (prev)
            prev->ready_next = it->ready_next;
        else
            s->ready_head = it->ready_next;
        if (s->ready_tail == it)
            s->ready_tail = prev;
        break;
    }
    c->in_ready = false;
}

/* ------------------------------------------------------------ responder */

static void delayed_free(struct sim_delayed *d)
{
    lws_sul_cancel(&d->sul);
    free(d->arg);
    free(d);
}

static void delayed_unlink(struct sim_charger *c, struct sim_delayed *d)
{
    for (struct sim_delayed **pp = &c->delayed; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
}

static void delayed_fire(lws_sorted_usec_list_t *sul);

static struct sim_delayed *delayed_new(struct sim_charger *c, enum sim_delayed_kind kind, const char *text,
                                       size_t len, int delay_ms)
{
    struct sim_delayed *d = xcalloc(1, sizeof *d + len + 1);
    d->c = c;
    d->kind = kind;
    d->len = len;
    if (text)
        memcpy(d->text, text, len);
    d->next = c->delayed;
    c->delayed = d;
    lws_sul_schedule(c->s->ctx, 0, &d->sul, delayed_fire,
                     (lws_usec_t)(delay_ms > 0 ? delay_ms : 0) * LWS_US_PER_MS);
    return d;
}

void sim_after(struct sim_charger *c, int delay_ms, sim_then_fn fn, void *arg)
{
    struct sim_delayed *d = delayed_new(c, SIM_DELAYED_TIMER, NULL, 0, delay_ms);
    d->fn = fn;
    d->arg = arg;
}

/* Runs a reply's then hook now or after its delay; takes ownership of arg. */
static void run_then(struct sim_charger *c, sim_then_fn fn, void *arg, int delay_ms)
{
    if (!fn) {
        free(arg);
    } else if (delay_ms > 0) {
        sim_after(c, delay_ms, fn, arg);
    } else {
        fn(c, arg);
        free(arg);
    }
}

/* A gateway CALL has been answered (or will never be). */
static void call_answered(struct sim_charger *c)
{
    if (c->calls_outstanding > 0)
        c->calls_outstanding--;
}

/* Puts the answer to a gateway CALL into the outbox and runs its hook. */
static void send_answer(struct sim_charger *c, const char *text, size_t len, sim_then_fn then, void *arg,
                        int then_delay_ms)
{
    call_answered(c);
    if (enqueue(c, text, len, LWS_WRITE_TEXT) == 0)
        run_then(c, then, arg, then_delay_ms);
    else
        free(arg);
}

static void delayed_fire(lws_sorted_usec_list_t *sul)
{
    struct sim_delayed *d = lws_container_of(sul, struct sim_delayed, sul);
    struct sim_charger *c = d->c;
    delayed_unlink(c, d);
    void *arg = d->arg;
    d->arg = NULL;
    switch (d->kind) {
    case SIM_DELAYED_DROP:
        if (c->wsi)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        break;
    case SIM_DELAYED_REPLY:
        send_answer(c, d->text, d->len, d->fn, arg, d->then_delay_ms);
        arg = NULL;
        break;
    case SIM_DELAYED_TIMER:
        d->fn(c, arg);
        break;
    }
    free(arg);
    free(d);
}

static void count_action(struct sim_charger *c, const char *action)
{
    for (int i = 0; i < c->n_action_counts; i++) {
        if (!strcmp(c->action_counts[i].action, action)) {
            c->action_counts[i].n++;
            return;
        }
    }
    c->action_counts = xrealloc(c->action_counts, sizeof *c->action_counts * (size_t)(c->n_action_counts + 1));
    c->action_counts[c->n_action_counts].action = xstrdup(action);
    c->action_counts[c->n_action_counts].n = 1;
    c->n_action_counts++;
}

/* Answers one CALL from the gateway; -1 asks the caller to drop the socket. */
static int on_server_call(struct sim_charger *c, const char *id, const char *action, cJSON *payload)
{
    char *payload_text = payload ? cJSON_PrintUnformatted(payload) : NULL;
    c->calls_received++;
    count_action(c, action);
    if (++c->calls_outstanding > c->calls_outstanding_max)
        c->calls_outstanding_max = c->calls_outstanding;
    set_str(&c->last_action, action);
    set_str(&c->last_payload, payload_text ? payload_text : "{}");
    if (payload_text)
        cJSON_free(payload_text);

    struct sim_reply *r = xcalloc(1, sizeof *r);
    r->kind = SIM_REPLY_RESULT;
    strcpy(r->payload, "{}");
    if (c->responder)
        c->responder(c->responder_user, c, action, c->last_payload, r);

    int rc = 0;
    switch (r->kind) {
    case SIM_REPLY_SILENCE:
        call_answered(c);                       /* never will be: not counted as outstanding */
        break;
    case SIM_REPLY_DISCONNECT:
        if (r->delay_ms > 0)
            delayed_new(c, SIM_DELAYED_DROP, NULL, 0, r->delay_ms);
        else
            rc = -1;
        break;
    case SIM_REPLY_RESULT:
    case SIM_REPLY_ERROR: {
        r->payload[sizeof r->payload - 1] = '\0';
        size_t len;
        char *text = reply_frame(id, r, &len);
        if (r->delay_ms > 0) {
            struct sim_delayed *d = delayed_new(c, SIM_DELAYED_REPLY, text, len, r->delay_ms);
            d->fn = r->then;
            d->arg = r->then_arg;
            d->then_delay_ms = r->then_delay_ms;
        } else {
            send_answer(c, text, len, r->then, r->then_arg, r->then_delay_ms);
        }
        r->then_arg = NULL;
        free(text);
        break;
    }
    }
    free(r->then_arg);                          /* the hook did not run: silence or disconnect */
    free(r);
    return rc;
}

/* ------------------------------------------------------------ our own CALLs, answered internally */

static void pending_clear(struct sim_charger *c)
{
    while (c->pending) {
        struct sim_pending *p = c->pending;
        c->pending = p->next;
        free(p->arg);
        free(p);
    }
}

int sim_send_call_cb(struct sim_charger *c, const char *action, const char *payload_json, sim_answer_fn fn,
                     void *arg)
{
    if (c->state != SIM_OPEN || !c->wsi) {
        free(arg);
        return -1;
    }
    struct sim_pending *p = xcalloc(1, sizeof *p);
    snprintf(p->id, sizeof p->id, "sim-%llu", (unsigned long long)++c->next_internal_id);
    p->fn = fn;
    p->arg = arg;
    size_t len;
    char *text = call_frame(p->id, action, payload_json, &len);
    int rc = enqueue(c, text, len, LWS_WRITE_TEXT);
    free(text);
    if (rc < 0) {
        free(p->arg);
        free(p);
        return -1;
    }
    p->next = c->pending;
    c->pending = p;
    return 0;
}

/* If the answer `j` (type 3 or 4) is for a sim_send_call_cb CALL, hands it
 * over and returns true. */
static bool pending_answer(struct sim_charger *c, const char *id, int type, cJSON *j)
{
    struct sim_pending **pp = &c->pending;
    while (*pp && strcmp((*pp)->id, id))
        pp = &(*pp)->next;
    struct sim_pending *p = *pp;
    if (!p)
        return false;
    *pp = p->next;
    char *text = NULL;
    if (type == 3) {
        cJSON *payload = cJSON_GetArrayItem(j, 2);
        text = payload ? cJSON_PrintUnformatted(payload) : NULL;
    } else {
        cJSON *code = cJSON_GetArrayItem(j, 2);
        text = cJSON_IsString(code) ? xstrdup(code->valuestring) : NULL;
    }
    if (p->fn)
        p->fn(c, p->arg, type == 3, text ? text : (type == 3 ? "{}" : ""));
    if (type == 3 && text)
        cJSON_free(text);
    else
        free(text);
    free(p->arg);
    free(p);
    return true;
}

/*
 * Sorts one complete message: gateway CALL, answer to one of our CALLs, or
 * something for the inbox. -1 asks the caller to drop the socket.
 */
static int on_message(struct sim_charger *c, char *text, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(text, len);
    int type = -1;
    const char *id = NULL;
    if (cJSON_IsArray(j)) {
        cJSON *t = cJSON_GetArrayItem(j, 0), *i = cJSON_GetArrayItem(j, 1);
        if (cJSON_IsNumber(t))
            type = t->valueint;
        if (cJSON_IsString(i))
            id = i->valuestring;
    }

    int rc = 0;
    if (type == 2 && id) {
        cJSON *action = cJSON_GetArrayItem(j, 2);
        rc = on_server_call(c, id, cJSON_IsString(action) ? action->valuestring : "",
                            cJSON_GetArrayItem(j, 3));
        if (c->queue_calls)
            inbox_push(c, text, len);
    } else if ((type == 3 || type == 4) && id && c->pending && pending_answer(c, id, type, j)) {
        /* a follow-up of ours (sim_send_call_cb): consumed here */
    } else if ((type == 3 || type == 4) && id && c->wait_id && !c->wait_reply &&
               !strcmp(id, c->wait_id)) {
        c->wait_reply = xstrndup(text, len);
    } else if ((type == 3 || type == 4) && id && c->async_out && !strcmp(id, c->async_id)) {
        c->async_out = false;
        c->async_ok = type == 3;
        c->async_latency_us = time_mono_us() - c->async_sent_us;
        set_str(&c->last_reply, NULL);
        c->last_reply = xstrndup(text, len);
        ready_push(c->s, c);
    } else {
        inbox_push(c, text, len);
    }
    cJSON_Delete(j);
    return rc;
}

/* ------------------------------------------------------------ lws callback */

static void copy_trunc(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int sim_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct sim_charger *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    (void)user;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!c || !c->auth)
            break;
        unsigned char **p = in, *end = *p + len;
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (const unsigned char *)c->auth, (int)strlen(c->auth), p, end))
            return -1;
        break;
    }

    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
        /* the last moment the response headers are still there */
        if (c) {
            c->selected[0] = '\0';
            if (lws_hdr_copy(wsi, c->selected, sizeof c->selected, WSI_TOKEN_PROTOCOL) < 0)
                c->selected[0] = '\0';
        }
        break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!c)
            return -1;
        c->state = SIM_OPEN;
        c->http_status = 101;
        if (c->out_head)
            lws_callback_on_writable(wsi);
        break;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!c)
            break;
        c->http_status = (int)lws_http_client_http_response(wsi);
        if (in)
            copy_trunc(c->error, sizeof c->error, in, strlen(in));
        else
            strcpy(c->error, "connection failed");
        if (!c->http_status && in && strstr(in, "unauthorized"))
            c->http_status = 401;
        c->state = SIM_REFUSED;
        detach_wsi(c);
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!c)
            return -1;
        if (c->rx_len + len > c->rx_max) {
            snprintf(c->error, sizeof c->error, "message over %zu bytes", c->rx_max);
            c->rx_len = 0;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too big", 7);
            return -1;
        }
        if (c->rx_len + len + 1 > c->rx_cap) {
            c->rx_cap = (c->rx_len + len + 1) * 2;
            c->rx = xrealloc(c->rx, c->rx_cap);
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (lws_is_final_fragment(wsi)) {
            size_t n = c->rx_len;
            c->rx_len = 0;
            c->rx[n] = '\0';
            if (on_message(c, c->rx, n) < 0)
                return -1;                      /* no close reason: TCP drop */
        }
        break;

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!c)
            return -1;
        struct sim_buf *b = c->out_head;
        if (!b) {
            if (c->want_close) {
                lws_close_reason(wsi, (enum lws_close_status)c->want_close,
                                 (unsigned char *)c->want_close_reason, strlen(c->want_close_reason));
                return -1;
            }
            break;
        }
        c->out_head = b->next;
        if (!c->out_head)
            c->out_tail = NULL;
        int n = lws_write(wsi, b->data + LWS_PRE, b->len, (enum lws_write_protocol)b->flags);
        free(b);
        if (n < 0)
            return -1;
        if (c->out_head || c->want_close)
            lws_callback_on_writable(wsi);
        break;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (!c)
            break;
        c->close_frame = true;
        if (len >= 2) {
            const unsigned char *p = in;
            c->close_code = (p[0] << 8) | p[1];
            copy_trunc(c->close_reason, sizeof c->close_reason, (const char *)in + 2, len - 2);
        } else {
            c->close_code = 1005;               /* RFC 6455: no status received */
        }
        if (c->s->close_without_echo)
            return -1;                          /* no close reason: TCP closed at once, no timer armed */
        break;

    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (!c || c->wsi != wsi)
            break;
        c->state = c->state == SIM_CONNECTING ? SIM_REFUSED : SIM_CLOSED;
        if (c->state == SIM_REFUSED && !c->error[0])
            strcpy(c->error, "closed before the upgrade");
        c->rx_len = 0;
        c->calls_outstanding = 0;               /* nothing can be answered any more */
        pending_clear(c);
        detach_wsi(c);
        break;

    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------ the loop */

static void wake_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul;                                  /* only ends the poll wait */
}

typedef bool (*sim_cond)(const void *arg);

/* One round of the loop; waits for a socket or a timer unless nowait. < 0: the context is gone. */
static int service(struct sim *s, bool nowait)
{
    if (s->use_uv) {
        uv_run(&s->uv_loop, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE);
        return 0;
    }
    return lws_service(s->ctx, nowait ? -1 : 0);
}

/*
 * Services the loop until done(arg) or timeout_ms; done may be NULL (run for
 * the whole time). lws 4.1 polls until its next timer (its timeout argument
 * only means "don't wait" when negative), so a wake timer is armed at our
 * deadline each round; re-arming also means a nested wait (from a callback
 * of ours) cannot leave us asleep past our deadline. A timer that is already
 * due when lws_service computes its wait fires before the poll and no longer
 * bounds it, so the last 2 ms are spent in non-blocking rounds instead,
 * and a second timer 10 ms later bounds the wait if we were preempted.
 * Not to be called from inside an lws callback (the responder, for one).
 */
static void run_until(struct sim *s, int timeout_ms, sim_cond done, const void *arg)
{
    int64_t deadline = time_mono_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    bool once = timeout_ms <= 0;                /* still service once */
    for (;;) {
        if (done && done(arg))
            break;
        int64_t left = deadline - time_mono_us();
        if (left < 2000) {
            if (left <= 0 && !once)
                break;
            once = false;
            if (service(s, true) < 0)
                break;
            continue;
        }
        /* slices of at most 20 ms: what lws does in its own timers before
         * the poll (kills, timeouts) changes state without waking it */
        int64_t slice = left < 20000 ? left : 20000;
        lws_sul_schedule(s->ctx, 0, &s->wake, wake_cb, slice);
        lws_sul_schedule(s->ctx, 0, &s->backstop, wake_cb, slice + 10000);
        if (service(s, false) < 0)
            break;
    }
    lws_sul_cancel(&s->wake);
    lws_sul_cancel(&s->backstop);
}

/* ------------------------------------------------------------ sim */

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 16;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit. */
static long raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 1024;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > SIM_NOFILE_CAP)
        want = SIM_NOFILE_CAP;
    if (rl.rlim_cur < want) {
        struct rlimit nrl = { want, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &nrl) == 0)
            rl.rlim_cur = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? SIM_NOFILE_CAP : (long)rl.rlim_cur;
}

struct sim *sim_new(const struct sim_options *o)
{
    if (!o || !o->host || o->port <= 0 || o->port > 65535) {
        fprintf(stderr, "sim_new: host and port are required\n");
        return NULL;
    }
    struct sim *s = xcalloc(1, sizeof *s);
    s->host = xstrdup(o->host);
    s->port = o->port;
    s->quiet = o->quiet;
    s->close_without_echo = o->close_without_echo;

    /*
     * The fd table is the whole soft limit: lws 4.1.6 indexes it by fd
     * number, and an fd_limit_per_thread below sysconf(_SC_OPEN_MAX) sets
     * max_fds_unrelated_to_ulimit, which turns every wsi_from_fd() into a
     * linear scan of the table (a quarter of our CPU at 10k connections).
     * The reserve is kept in the ceiling instead: fds already open, lws's
     * cancel pipe and random device, and a few for the caller.
     */
    long nofile = raise_nofile();
    s->fd_table = (int)nofile;
    s->ceiling = s->fd_table - count_open_fds() - (nofile > 4096 ? 64 : 8);

    s->protocols[0].name = SIM_PROTOCOL;
    s->protocols[0].callback = sim_callback;
    s->protocols[0].rx_buffer_size = 4096;
    /* retry = {0}: secs_since_valid_hangup 0 turns lws's own pings off */

    lws_set_log_level(o->quiet ? 0 : LLL_ERR, NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s->protocols;
    info.gid = -1;
    info.uid = -1;
    info.fd_limit_per_thread = (unsigned int)s->fd_table;
    info.retry_and_idle_policy = &s->retry;
    if (o->tls) {
        s->tls = true;
        s->tls_verify = o->tls_ca != NULL;
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = o->tls_ca;
        info.client_ssl_cert_filepath = o->tls_cert;
        info.client_ssl_private_key_filepath = o->tls_key;
    }
    void *foreign_loops[1] = { &s->uv_loop };
    if (o->event_loop_uv && uv_loop_init(&s->uv_loop) == 0) {
        /* a foreign loop, as the gateway does (src/glue/server_lws.c) */
        struct lws_context_creation_info uv_info = info;
        uv_info.options |= LWS_SERVER_OPTION_LIBUV;
        uv_info.foreign_loops = foreign_loops;
        uv_info.pcontext = &s->ctx;
        s->ctx = lws_create_context(&uv_info);
        s->use_uv = s->ctx != NULL;
        if (!s->use_uv) {
            uv_loop_close(&s->uv_loop);
            fprintf(stderr, "sim: the libuv event loop is not available (libwebsockets-evlib-uv?): using poll\n");
        }
    }
    if (!s->ctx)
        s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        fprintf(stderr, "sim_new: lws_create_context failed\n");
        free(s->host);
        free(s);
        return NULL;
    }
    if (!o->quiet)
        fprintf(stderr, "sim: RLIMIT_NOFILE %ld, lws fd table %d, connection ceiling %d\n", nofile,
                s->fd_table, s->ceiling);
    if (o->max_chargers > s->ceiling)
        fprintf(stderr, "sim: %d chargers asked, only about %d connections fit (raise ulimit -n)\n",
                o->max_chargers, s->ceiling);
    return s;
}

int sim_connection_ceiling(const struct sim *s)
{
    return s->ceiling;
}

/*
 * On a foreign libuv loop lws_context_destroy() only starts: lws's handles
 * close as the loop runs, and lws clears s->ctx (info.pcontext) when done;
 * then the loop is closed.
 */
static void context_destroy(struct sim *s)
{
    lws_context_destroy(s->ctx);
    if (!s->use_uv)
        return;
    for (int i = 0; i < 3 && s->ctx; i++) {
        uv_run(&s->uv_loop, UV_RUN_DEFAULT);
        if (s->ctx)
            lws_context_destroy(s->ctx);
    }
    uv_run(&s->uv_loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->uv_loop);
    s->use_uv = false;
}

static void charger_release(struct sim_charger *c)
{
    struct sim *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->chargers = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ready_remove(s, c);

    while (c->delayed) {
        struct sim_delayed *d = c->delayed;
        c->delayed = d->next;
        delayed_free(d);
    }
    pending_clear(c);
    if (c->data_free)
        c->data_free(c->data);
    for (int i = 0; i < c->n_action_counts; i++)
        free(c->action_counts[i].action);
    free(c->action_counts);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    detach_wsi(c);
    while (c->out_head) {
        struct sim_buf *b = c->out_head;
        c->out_head = b->next;
        free(b);
    }
    while (c->in_head) {
        struct sim_msg *m = c->in_head;
        c->in_head = m->next;
        free(m);
    }
    free(c->id);
    free(c->path);
    free(c->subprotocols);
    free(c->source_addr);
    free(c->auth);
    free(c->rx);
    free(c->wait_id);
    free(c->wait_reply);
    free(c->last_reply);
    free(c->last_action);
    free(c->last_payload);
    free(c);
}

static bool none_open(const void *arg)
{
    return ((const struct sim *)arg)->live == 0;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    int open = 0;
    for (struct sim_charger *c = s->chargers; c; c = c->next) {
        if (c->wsi && c->state == SIM_OPEN) {
            c->want_close = LWS_CLOSE_STATUS_NORMAL;
            lws_callback_on_writable(c->wsi);
            open++;
        }
    }
    if (open)
        run_until(s, SIM_CLOSE_WAIT_MS + open / 10, none_open, s);
    for (struct sim_charger *c = s->chargers; c; c = c->next) {
        while (c->delayed) {
            struct sim_delayed *d = c->delayed;
            c->delayed = d->next;
            delayed_free(d);
        }
    }
    /* callbacks during destroy still find their chargers; free them after */
    context_destroy(s);
    while (s->chargers) {
        s->chargers->wsi = NULL;            /* gone with the context */
        charger_release(s->chargers);
    }
    free(s->host);
    free(s);
}

/* ------------------------------------------------------------ chargers */

struct sim_charger *sim_connect_async(struct sim *s, const struct sim_charger_opts *o)
{
    if (!s || !o || (!o->id && !o->path))
        return NULL;
    struct sim_charger *c = xcalloc(1, sizeof *c);
    c->s = s;
    c->id = xstrdup(o->id ? o->id : "");
    if (o->path) {
        c->path = xstrdup(o->path);
    } else {
        c->path = xmalloc(strlen(c->id) + 7);
        sprintf(c->path, "/ocpp/%s", c->id);
    }
    const char *offer = o->subprotocols ? o->subprotocols : "ocpp1.6";
    c->subprotocols = *offer ? xstrdup(offer) : NULL;   /* "" must send no header at all */
    c->source_addr = o->source_addr ? xstrdup(o->source_addr) : NULL;
    c->rx_max = o->rx_max ? o->rx_max : SIM_RX_DEFAULT;
    if (o->password) {
        const char *user = o->basic_user ? o->basic_user : c->id;
        size_t n = strlen(user) + 1 + strlen(o->password);
        char *plain = xmalloc(n + 1);
        snprintf(plain, n + 1, "%s:%s", user, o->password);
        size_t cap = 6 + (n + 2) / 3 * 4 + 8;
        c->auth = xmalloc(cap);
        strcpy(c->auth, "Basic ");
        if (lws_b64_encode_string(plain, (int)n, c->auth + 6, (int)(cap - 6)) < 0)
            c->auth[6] = '\0';
        free(plain);
    }
    c->responder = s->responder;
    c->responder_user = s->responder_user;
    c->state = SIM_CONNECTING;
    c->next = s->chargers;
    if (s->chargers)
        s->chargers->prev = c;
    s->chargers = c;

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = s->ctx;
    ci.address = s->host;
    ci.port = s->port;
    ci.path = c->path;
    ci.host = s->host;
    ci.origin = s->host;
    ci.protocol = c->subprotocols;
    ci.local_protocol_name = SIM_PROTOCOL;
    ci.iface = c->source_addr;
    if (s->tls) /* the test server's certificate names no host: check the chain, not the name */
        ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                            (s->tls_verify ? 0 : LCCSCF_ALLOW_SELFSIGNED);
    ci.opaque_user_data = c;
    ci.retry_and_idle_policy = &s->retry;
    ci.pwsi = &c->wsi;
    if (!lws_client_connect_via_info(&ci)) {
        /* the CONNECTION_ERROR callback may or may not have run; the wsi
         * lws stored through pwsi may be freed already, and was not counted */
        c->wsi = NULL;
        c->state = SIM_REFUSED;
        if (!c->error[0])
            strcpy(c->error, "lws_client_connect_via_info failed");
    } else if (c->wsi) {
        c->counted = true;
        s->live++;
    }
    return c;
}

static bool not_connecting(const void *arg)
{
    return ((const struct sim_charger *)arg)->state != SIM_CONNECTING;
}

struct sim_charger *sim_connect(struct sim *s, const struct sim_charger_opts *o, int timeout_ms,
                                int *http_status, char *selected_protocol)
{
    if (http_status)
        *http_status = 0;
    if (selected_protocol)
        selected_protocol[0] = '\0';
    struct sim_charger *c = sim_connect_async(s, o);
    if (!c)
        return NULL;
    run_until(s, timeout_ms, not_connecting, c);
    if (http_status)
        *http_status = c->http_status;
    if (c->state != SIM_OPEN) {
        if (c->state == SIM_CONNECTING && !s->quiet)
            fprintf(stderr, "sim: %s: no answer to the upgrade within %d ms\n", c->id, timeout_ms);
        charger_release(c);
        return NULL;
    }
    if (selected_protocol)
        copy_trunc(selected_protocol, 32, c->selected, strlen(c->selected));
    return c;
}

enum sim_state sim_state(const struct sim_charger *c)
{
    return c->state;
}

int sim_close_code(const struct sim_charger *c)
{
    return c->close_code;
}

const char *sim_charger_id(const struct sim_charger *c)
{
    return c->id;
}

int sim_http_status(const struct sim_charger *c)
{
    return c->http_status;
}

const char *sim_selected_protocol(const struct sim_charger *c)
{
    return c->selected;
}

const char *sim_error(const struct sim_charger *c)
{
    return c->error;
}

bool sim_close_frame_received(const struct sim_charger *c)
{
    return c->close_frame;
}

const char *sim_close_reason(const struct sim_charger *c)
{
    return c->close_reason;
}

int sim_send_text(struct sim_charger *c, const char *text, size_t len)
{
    return enqueue(c, text, len, LWS_WRITE_TEXT);
}

int sim_send_fragmented(struct sim_charger *c, const char *text, size_t len, int fragments)
{
    if (c->state != SIM_OPEN || !c->wsi)
        return -1;
    if (fragments < 1)
        fragments = 1;
    if (len && (size_t)fragments > len)
        fragments = (int)len;
    size_t piece = fragments > 1 ? (len + (size_t)fragments - 1) / (size_t)fragments : len, off = 0;
    for (int i = 0; i < fragments; i++) {
        size_t n = i == fragments - 1 ? len - off : piece;
        if (n > len - off)
            n = len - off;
        int flags = i == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;
        if (i < fragments - 1)
            flags |= LWS_WRITE_NO_FIN;
        enqueue(c, text + off, n, flags);
        off += n;
    }
    return 0;
}

static bool reply_or_gone(const void *arg)
{
    const struct sim_charger *c = arg;
    return c->wait_reply || c->state != SIM_OPEN;
}

char *sim_call_id(struct sim_charger *c, const char *id, const char *action,
                  const char *payload_json, int timeout_ms)
{
    if (c->state != SIM_OPEN)
        return NULL;
    size_t len;
    char *text = call_frame(id, action, payload_json, &len);
    int rc = enqueue(c, text, len, LWS_WRITE_TEXT);
    free(text);
    if (rc < 0)
        return NULL;
    set_str(&c->wait_id, id);
    set_str(&c->wait_reply, NULL);
    run_until(c->s, timeout_ms, reply_or_gone, c);
    char *reply = c->wait_reply;
    c->wait_reply = NULL;
    set_str(&c->wait_id, NULL);
    return reply;
}

char *sim_call(struct sim_charger *c, const char *action, const char *payload_json, int timeout_ms)
{
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)++c->next_id);
    return sim_call_id(c, id, action, payload_json, timeout_ms);
}

static bool inbox_or_gone(const void *arg)
{
    const struct sim_charger *c = arg;
    return c->in_head || c->state != SIM_OPEN;
}

char *sim_recv(struct sim_charger *c, int timeout_ms)
{
    if (!c->in_head && c->state == SIM_OPEN)
        run_until(c->s, timeout_ms, inbox_or_gone, c);
    return inbox_pop(c);
}

static bool closed(const void *arg)
{
    const struct sim_charger *c = arg;
    return c->state == SIM_CLOSED || c->state == SIM_REFUSED;
}

bool sim_wait_closed(struct sim_charger *c, int timeout_ms)
{
    run_until(c->s, timeout_ms, closed, c);
    return closed(c);
}

static bool wsi_gone(const void *arg)
{
    return !((const struct sim_charger *)arg)->wsi;
}

void sim_close(struct sim_charger *c, int code, const char *reason)
{
    if (!c->wsi)
        return;
    if (c->state == SIM_OPEN) {
        c->want_close = code ? code : LWS_CLOSE_STATUS_NORMAL;
        snprintf(c->want_close_reason, sizeof c->want_close_reason, "%s", reason ? reason : "");
        lws_callback_on_writable(c->wsi);
    } else {
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
    run_until(c->s, SIM_CLOSE_WAIT_MS, wsi_gone, c);
}

void sim_disconnect(struct sim_charger *c)
{
    if (!c)
        return;
    if (c->wsi && c->state == SIM_OPEN)
        sim_close(c, LWS_CLOSE_STATUS_NORMAL, NULL);
    charger_release(c);
}

void sim_drop(struct sim_charger *c)
{
    if (!c->wsi)
        return;
    /* a timeout kill closes with no status: lws sends no close frame; sync,
     * so CLIENT_CLOSED has run when this returns (we are outside callbacks) */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    run_until(c->s, SIM_CLOSE_WAIT_MS, wsi_gone, c);
}

void sim_set_responder(struct sim_charger *c, sim_responder fn, void *user)
{
    c->responder = fn;
    c->responder_user = user;
}

void sim_set_default_responder(struct sim *s, sim_responder fn, void *user)
{
    s->responder = fn;
    s->responder_user = user;
}

int sim_calls_received(const struct sim_charger *c)
{
    return c->calls_received;
}

int sim_calls_received_action(const struct sim_charger *c, const char *action)
{
    for (int i = 0; i < c->n_action_counts; i++)
        if (!strcmp(c->action_counts[i].action, action))
            return c->action_counts[i].n;
    return 0;
}

int sim_calls_outstanding(const struct sim_charger *c)
{
    return c->calls_outstanding;
}

int sim_calls_outstanding_max(const struct sim_charger *c)
{
    return c->calls_outstanding_max;
}

void sim_set_charger_data(struct sim_charger *c, void *data, void (*free_fn)(void *data))
{
    if (c->data_free && c->data != data)
        c->data_free(c->data);
    c->data = data;
    c->data_free = free_fn;
}

void *sim_charger_data(const struct sim_charger *c)
{
    return c->data;
}

const char *sim_last_call_action(const struct sim_charger *c)
{
    return c->last_action;
}

const char *sim_last_call_payload(const struct sim_charger *c)
{
    return c->last_payload;
}

void sim_set_queue_calls(struct sim_charger *c, bool on)
{
    c->queue_calls = on;
}

/* ------------------------------------------------------------ load generator */

int sim_send_call(struct sim_charger *c, const char *action, const char *payload_json)
{
    if (c->async_out || c->state != SIM_OPEN)
        return -1;
    snprintf(c->async_id, sizeof c->async_id, "%llu", (unsigned long long)++c->next_id);
    size_t len;
    char *text = call_frame(c->async_id, action, payload_json, &len);
    c->async_sent_us = time_mono_us();
    int rc = enqueue(c, text, len, LWS_WRITE_TEXT);
    free(text);
    if (rc == 0)
        c->async_out = true;
    return rc;
}

bool sim_call_outstanding(const struct sim_charger *c)
{
    return c->async_out;
}

void sim_cancel_call(struct sim_charger *c)
{
    c->async_out = false;
}

const char *sim_last_reply(const struct sim_charger *c)
{
    return c->last_reply;
}

static bool have_ready(const void *arg)
{
    return ((const struct sim *)arg)->ready_head != NULL;
}

void sim_poll(struct sim *s, int timeout_ms,
              void (*on_reply)(void *user, struct sim_charger *c, int64_t latency_us, bool ok),
              void *user)
{
    run_until(s, timeout_ms, have_ready, s);
    /* pop one at a time: on_reply may send, or free another charger */
    struct sim_charger *c;
    while ((c = s->ready_head)) {
        s->ready_head = c->ready_next;
        if (!s->ready_head)
            s->ready_tail = NULL;
        c->in_ready = false;
        c->ready_next = NULL;
        if (on_reply)
            on_reply(user, c, c->async_latency_us, c->async_ok);
    }
}

void sim_service(struct sim *s, int timeout_ms)
{
    run_until(s, timeout_ms, NULL, NULL);
}
