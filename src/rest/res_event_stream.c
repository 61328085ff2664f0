/*
 * GET /v1/events/stream: the events outbox (sql/011_events.sql) as
 * Server-Sent Events, live and resumable (../shared/spec/events.md).
 *
 * DESIGN
 * One shared reader per process, not one query per stream per event. The
 * REST store LISTENs on ocppgw_events; every commit with events NOTIFYs its
 * highest seq, from whichever gateway wrote it, and reaches us as
 * STORE_OP_EVENTS_NOTIFIED (res_event_stream_notified). The reader then
 * fetches what is new, once for every stream, on the REST store (never a
 * libpq call on the loop): `seq > head ORDER BY seq`. Seq is drawn in
 * commit order under one advisory lock (sql/011), so when seq N is visible
 * every lower one is too, and "everything after head" read in seq order
 * never skips an event that commits later.
 *
 * The fetched events go into a bounded ring (EV_RING_MAX events,
 * EV_RING_BYTES bytes), each with its SSE frame made once ("id: <seq>\n
 * event: <type>\ndata: <event JSON>\n\n", the JSON that GET /v1/events
 * shows). The ring "covers" (covered, head]: every event in that range is
 * in it. Each live stream keeps its place in the ring (the seq of the last
 * event it took) and pulls the frames its filter matches into its client's
 * queue, up to events.stream_buffer bytes (rest_stream_send says FULL past
 * that); it pulls again when the reader brings more and when its client
 * has read (the drained hook). So a burst costs the ring once, not once
 * per stream; a stream whose place the ring has dropped (a slow reader
 * behind a burst) goes back to reading the table; and a client that reads
 * nothing while its queue is full is cut by the framework
 * (REST_STREAM_STALL_MS), logged, never slowing anyone else.
 *
 * With Last-Event-ID (or ?after=) a stream starts in replay: it reads the
 * table itself, `seq > last` with its filter, in pages, each queued as its
 * client reads. Without one it starts at the highest seq committed, read
 * before its headers go out: a client that has the headers gets every
 * event committed after, and none committed before. When a page comes back short, its last
 * seq R is where the live feed must take over: if R >= covered, the ring
 * holds every event after R the reader has seen, so the stream queues the
 * ring's events after R and joins the live list (from then on the reader
 * hands it everything new); if the ring has already dropped events after R,
 * another page is read. A stream never takes an event whose seq is not
 * above the last it queued, so the hand-over has neither gap nor duplicate.
 *
 * The ring is active only while streams exist; the first hand-over starts
 * it at its R (and fetches at once: notifications that came while it was
 * idle were not read). A failed fetch (database down) is retried from the
 * tick; a fetch also runs every EV_POLL_MS while active, so a notification
 * lost in a reconnect costs latency, never an event. With several gateways
 * on one database each gets every NOTIFY and serves its own streams.
 *
 * The tick also sends `: keepalive` to every stream each
 * events.stream_keepalive seconds (one timer for all, no per-connection
 * lws timeout) and ends a stream whose API key was revoked or expired.
 *
 * The filters are GET /v1/events's, parsed by its code (res_events.h:
 * res_events_parse_filters, so both accept and refuse the same values) and
 * the replay's pages are its statement (res_events_after_sql) with the
 * key's restriction; the parsed values also become struct ev_filter, the
 * in-memory match the live feed uses, which means the same thing. One
 * difference, on purpose: a stream without `type` leaves out the types a
 * subscription must name (meter_values.received), as events.md asks of
 * subscriptions; the collection lists every stored event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "hmap.h"
#include "rest.h"
#include "rest_query.h"
#include "rest_res.h"
#include "res_events.h"
#include "store_job.h"
#include "strbuf.h"
#include "util.h"

#define EV_RING_MAX 8192                /* events kept for hand-overs */
#define EV_RING_BYTES (16 * 1024 * 1024)
#define EV_FETCH_MAX 1000               /* rows of one reader fetch */
#define EV_PAGE_MAX 200                 /* rows of one replay page */
#define EV_POLL_MS 2000                 /* reader fetch without a notification, while active */
#define EV_RETRY_MS 1000                /* after a failed query */
#define EV_KEYCHECK_MS 1000
#define EV_FILTER_MAX 100               /* values of one list parameter */

/* ------------------------------------------------------------------ the event as GET /v1/events shows it */

/* Columns of res_events_after_sql's rows: a key, the seq, then the event (res_events.h). */
enum { C0 = 2, C_TYPE = C0 + 2, C_CREATED = C0 + 3, C_CHARGER = C0 + 5, C_SITE = C0 + 6 };

/* The SSE frame of row `row` of an events statement (caller frees); *len its length. */
static char *ev_frame(const struct store_job *job, int row, size_t *len)
{
    cJSON *o = res_event_row_json(job, row, C0);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)res_event_row_seq(job, row, C0),
                  rest_job_value(job, row, C_TYPE), json);
    free(json);
    *len = b.len;
    return strbuf_take(&b);
}

static int64_t row_seq(const struct store_job *job, int row)
{
    return res_event_row_seq(job, row, C0);
}

/* createdAt of a row in ms (the statement selects it as microseconds). */
static int64_t row_created_ms(const struct store_job *job, int row)
{
    const char *v = rest_job_value(job, row, C_CREATED);
    return v ? strtoll(v, NULL, 10) / 1000 : 0;
}

/* ------------------------------------------------------------------ filters */

/* What GET /v1/events's filters (as res_events_parse_filters parsed them) let through, in memory. */
struct ev_filter {
    char **types;                   /* the exact types `type` means (prefixes expanded); NULL = no filter */
    char *charger;                  /* chargerId */
    char **chargers;                /* chargerIds; NULL = no filter */
    char *site;                     /* siteId */
    bool has_from, has_to;
    int64_t from_ms, to_ms;         /* createdAt in [from, to) */
    char **key_chargers, **key_sites;   /* the key's restriction (NULL-terminated; NULL = none) */
};

static char **strv_dup(char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static bool strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; s && v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* A PostgreSQL text[] literal as rest_pg_array writes it ({"a","b\"c"}) to a NULL-terminated list. */
static char **strv_from_pg_array(const char *lit)
{
    size_t cap = 4, n = 0;
    char **out = xcalloc(cap, sizeof *out);
    const char *p = lit && *lit == '{' ? lit + 1 : "";
    while (*p && *p != '}') {
        struct strbuf b = STRBUF_INIT;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                strbuf_putc(&b, *p);
            }
            if (*p == '"')
                p++;
        } else {
            for (; *p && *p != ',' && *p != '}'; p++)
                strbuf_putc(&b, *p);
        }
        if (n + 1 >= cap)
            out = xrealloc(out, (cap *= 2) * sizeof *out);
        char *t = strbuf_take(&b);
        out[n++] = t ? t : xstrdup("");
        out[n] = NULL;
        if (*p == ',')
            p++;
    }
    return out;
}

static void filter_free(struct ev_filter *f)
{
    strv_free(f->types);
    free(f->charger);
    strv_free(f->chargers);
    free(f->site);
    strv_free(f->key_chargers);
    strv_free(f->key_sites);
    memset(f, 0, sizeof *f);
}

/* The parsed request's filter values, by the collection's parameter names. */
static void filter_from(struct ev_filter *f, const struct rest_list_req *req, const struct rest_key *k)
{
    const struct rest_list_spec *spec = res_events_spec;
    for (size_t i = 0; i < spec->nfilters; i++) {
        const char *name = spec->filters[i].param, *v = req->values[i];
        if (!v)
            continue;
        if (strcmp(name, "type") == 0)
            f->types = strv_from_pg_array(v);
        else if (strcmp(name, "chargerId") == 0)
            f->charger = xstrdup(v);
        else if (strcmp(name, "chargerIds") == 0)
            f->chargers = strv_from_pg_array(v);
        else if (strcmp(name, "siteId") == 0)
            f->site = xstrdup(v);
        else if (strcmp(name, "from") == 0)
            f->has_from = true, f->from_ms = strtoll(v, NULL, 10);
        else if (strcmp(name, "to") == 0)
            f->has_to = true, f->to_ms = strtoll(v, NULL, 10);
    }
    if (k) {
        f->key_chargers = strv_dup(k->charger_ids);
        f->key_sites = strv_dup(k->site_ids);
    }
}

/*
 * Whether an event passes f: the key's restriction (its chargers or its
 * sites), then every filter given, as the collection's SQL reads them.
 */
static bool filter_match(const struct ev_filter *f, const char *type, const char *charger, const char *site,
                         int64_t created_ms)
{
    if ((f->key_chargers || f->key_sites) &&
        !strv_has(f->key_chargers, charger) && !strv_has(f->key_sites, site))
        return false;
    if (f->charger && (!charger || strcmp(charger, f->charger) != 0))
        return false;
    if (f->chargers && !strv_has(f->chargers, charger))
        return false;
    if (f->site && (!site || strcmp(site, f->site) != 0))
        return false;
    if ((f->has_from && created_ms < f->from_ms) || (f->has_to && created_ms >= f->to_ms))
        return false;
    return f->types ? strv_has(f->types, type) : !res_event_type_named_only(type);
}

static void bad_param(struct rest_request *r, const char *param, const char *why)
{
    struct rest_param_error err;
    str_copy(err.param, sizeof err.param, param);
    str_copy(err.reason, sizeof err.reason, why);
    res_param_error(r, &err);
}

/* A seq as given (digits, at most 18): -1 when malformed. */
static int64_t parse_seq(const char *s)
{
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return -1;
    return strtoll(s, NULL, 10);
}

static const char *src_get(void *ctx, const char *name)
{
    return rest_query(ctx, name);
}

static size_t src_list(void *ctx, const char *name, const char **out, size_t max)
{
    return rest_query_list(ctx, name, out, max);
}

/*
 * The request's filters (GET /v1/events's: req, and f for the live feed)
 * and its resume point (*after, -1: none). False after answering 400
 * naming the parameter; req is to be freed (rest_list_req_free) either way.
 */
static bool filter_parse(struct rest_request *r, struct ev_filter *f, struct rest_list_req *req, int64_t *after)
{
    struct rest_query_source src = { src_get, src_list, r };
    struct rest_param_error err;
    if (!res_events_parse_filters(&src, req, &err)) {
        res_param_error(r, &err);
        return false;
    }
    filter_from(f, req, rest_key(r));
    /* the header is the newer word: a reconnecting EventSource sends it beside its first URL */
    const char *last = rest_header(r, "last-event-id");
    const char *q = rest_query(r, "after");       /* read either way: it is a known parameter */
    *after = -1;
    if (last) {
        if ((*after = parse_seq(last)) < 0) {
            bad_param(r, "Last-Event-ID", "the seq of the last event received");
            return false;
        }
    } else if (q && (*after = parse_seq(q)) < 0) {
        bad_param(r, "after", "the seq of the last event received");
        return false;
    }
    return !res_unknown_params(r);
}

/* ------------------------------------------------------------------ state */

enum es_state {
    ES_REPLAY,                      /* reading the table for itself (a query out, or its page to queue) */
    ES_LIVE,                        /* on the live list: pulls from the ring */
    ES_DONE                         /* takes nothing more; waits for its request to go */
};

struct ev {
    int64_t seq;
    int64_t created_ms;
    char *type, *charger, *site;    /* owned; NULL = SQL NULL */
    char *frame;                    /* the SSE frame, owned */
    size_t len;
};

struct es {
    struct es *prev, *next;         /* live list, or the replay list */
    uint64_t id;                    /* in E.streams; jobs carry it, never the pointer */
    struct rest_request *r;
    struct ev_filter f;             /* for the live feed */
    struct rest_list_req req;       /* the same filters as GET /v1/events parsed them: the replay's */
    int64_t last;                   /* seq of the last event taken (or the resume point) */
    enum es_state state;
    bool in_flight;                 /* a replay query is out */
    bool more;                      /* the last page was full: another follows */
    int64_t retry_at_ms;            /* a failed query: not before then */
    struct ev *page;                /* the replay page's matching events not yet queued */
    size_t npage, ipage;
    int64_t page_end;               /* seq of the page's last row, matching or not */
};

static struct {
    bool running;
    size_t buffer;                  /* events.stream_buffer */
    int64_t keepalive_ms;           /* events.stream_keepalive */
    struct hmap *streams;           /* id -> struct es */
    uint64_t next_id;
    struct es live, replay;         /* list heads */

    /* the ring and its reader */
    bool active;
    struct ev *ring;                /* EV_RING_MAX slots, circular */
    size_t first, n, bytes;
    int64_t covered, head;          /* the ring holds every event in (covered, head] */
    int64_t notified;               /* highest seq announced */
    uint64_t gen;                   /* bumped when the ring restarts: older fetches are dropped */
    bool fetching;
    bool fetch_due;
    int64_t fetch_at_ms;            /* next fetch without a notification (poll or retry) */

    int64_t keepalive_at_ms, keycheck_at_ms;
} E;

static int64_t now_ms(void)
{
    return time_mono_us() / 1000;
}

static void list_init(struct es *h)
{
    h->next = h->prev = h;
}

static void list_del(struct es *s)
{
    if (!s->next)
        return;
    s->next->prev = s->prev;
    s->prev->next = s->next;
    s->next = s->prev = NULL;
}

static void list_add(struct es *h, struct es *s)
{
    list_del(s);
    s->prev = h->prev;
    s->next = h;
    h->prev->next = s;
    h->prev = s;
}

static struct ev *ring_at(size_t i)
{
    return &E.ring[(E.first + i) % EV_RING_MAX];
}

static void ev_clear(struct ev *e)
{
    free(e->type);
    free(e->charger);
    free(e->site);
    free(e->frame);
    memset(e, 0, sizeof *e);
}

static void ring_drop_oldest(void)
{
    struct ev *e = ring_at(0);
    E.covered = e->seq;
    E.bytes -= e->len;
    ev_clear(e);
    E.first = (E.first + 1) % EV_RING_MAX;
    E.n--;
}

static void ring_stop(void)
{
    while (E.n)
        ring_drop_oldest();
    E.active = false;
    E.fetching = false;
    E.fetch_due = false;
    E.gen++;
}

/* Index of the first ring event with seq > after (E.n when none). */
static size_t ring_after(int64_t after)
{
    size_t lo = 0, hi = E.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ring_at(mid)->seq <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ------------------------------------------------------------------ streams */

static void page_free(struct es *s)
{
    for (size_t i = 0; i < s->npage; i++)
        ev_clear(&s->page[i]);
    free(s->page);
    s->page = NULL;
    s->npage = s->ipage = 0;
}

static void es_free(struct es *s)
{
    page_free(s);
    list_del(s);
    hmap_del_u64(E.streams, s->id);
    filter_free(&s->f);
    rest_list_req_free(&s->req);
    free(s);
}

/* rest_stream_start's gone: the request is freed. A query still out finds no stream. */
static void es_gone(void *user)
{
    struct es *s = user;
    if (E.running) {
        es_free(s);
        return;
    }
    page_free(s);                   /* after shutdown freed the rest */
    filter_free(&s->f);
    rest_list_req_free(&s->req);
    free(s);
}

/*
 * Offers one event to s: skipped when not new to it or not matching,
 * queued, or refused because the client's queue is full (s keeps its
 * place) or the stream is over.
 */
static enum rest_stream_put es_offer(struct es *s, const struct ev *e)
{
    if (e->seq <= s->last)
        return REST_STREAM_QUEUED;
    if (filter_match(&s->f, e->type, e->charger, e->site, e->created_ms)) {
        enum rest_stream_put p = rest_stream_send(s->r, e->frame, e->len);
        if (p != REST_STREAM_QUEUED)
            return p;
    }
    s->last = e->seq;
    return REST_STREAM_QUEUED;
}

/* The stream takes nothing more (cut, ended): off every list until its request goes. */
static void es_drop(struct es *s)
{
    list_del(s);
    page_free(s);
    s->state = ES_DONE;
}

static void fetch(void);
static void replay_page(struct es *s);

/* The ring starts at `at` (the first hand-over while idle) and reads what came since. */
static void ring_start(int64_t at)
{
    E.active = true;
    E.covered = E.head = at;
    E.fetch_due = true;
    fetch();
}

/*
 * Queues what s may take now: the rest of its replay page (then the next
 * page, or the hand-over to the live feed), or the ring's events after its
 * place. Stops when the client's queue is full: drained() calls again.
 */
static void es_pull(struct es *s)
{
    if (s->state == ES_REPLAY) {
        for (; s->ipage < s->npage; s->ipage++) {
            enum rest_stream_put p = es_offer(s, &s->page[s->ipage]);
            if (p == REST_STREAM_FULL)
                return;
            if (p == REST_STREAM_CLOSED) {
                es_drop(s);
                return;
            }
        }
        page_free(s);
        if (s->page_end > s->last)
            s->last = s->page_end;
        if (s->in_flight || s->retry_at_ms)
            return;
        if (s->more) {
            replay_page(s);
            return;
        }
        /*
         * The hand-over: the page came back short, so s->last is where the
         * live feed takes over. The ring holds every event after `covered`;
         * if it no longer holds those after s->last, read another page.
         */
        if (!E.active)
            ring_start(s->last);
        if (s->last < E.covered) {
            replay_page(s);
            return;
        }
        s->state = ES_LIVE;
        list_add(&E.live, s);
    }
    if (s->state != ES_LIVE)
        return;
    if (s->last < E.covered) {      /* the ring dropped events it had not taken: back to the table */
        list_del(s);
        replay_page(s);
        return;
    }
    for (size_t i = ring_after(s->last); i < E.n; i++) {
        enum rest_stream_put p = es_offer(s, ring_at(i));
        if (p == REST_STREAM_FULL)
            return;
        if (p == REST_STREAM_CLOSED) {
            es_drop(s);
            return;
        }
    }
}

/* The client has read: offer what was held back. */
static void es_drained(void *user)
{
    struct es *s = user;
    if (E.running && s->state != ES_DONE)
        es_pull(s);
}

struct job_ref {
    uint64_t id;                    /* stream id, or ring generation for the reader */
};

static void page_done(struct store_job *job, void *user)
{
    struct job_ref *ref = user;
    struct es *s = E.running ? hmap_get_u64(E.streams, ref->id) : NULL;
    free(ref);
    if (!s)
        return;
    s->in_flight = false;
    if (!rest_stream_live(s->r)) {
        es_drop(s);
        return;
    }
    if (job->status != STORE_OK) {
        s->retry_at_ms = now_ms() + EV_RETRY_MS;
        return;
    }
    int rows = rest_job_rows(job);
    page_free(s);
    s->page = xcalloc(rows ? (size_t)rows : 1, sizeof *s->page);
    for (int i = 0; i < rows; i++) {
        const char *charger = rest_job_value(job, i, C_CHARGER), *site = rest_job_value(job, i, C_SITE);
        const char *type = rest_job_value(job, i, C_TYPE);
        struct ev *e = &s->page[s->npage];
        e->seq = row_seq(job, i);
        e->created_ms = row_created_ms(job, i);
        if (!filter_match(&s->f, type, charger, site, e->created_ms))
            continue;
        e->type = xstrdup(type);
        e->charger = charger ? xstrdup(charger) : NULL;
        e->site = site ? xstrdup(site) : NULL;
        e->frame = ev_frame(job, i, &e->len);
        s->npage++;
    }
    s->page_end = rows ? row_seq(job, rows - 1) : s->last;    /* the next page starts after it */
    s->more = rows > EV_PAGE_MAX;   /* the statement reads one row more than asked */
    es_pull(s);
}

/* The next page of s's replay: its filter's events after s->last. */
static void replay_page(struct es *s)
{
    s->state = ES_REPLAY;
    list_add(&E.replay, s);
    struct job_ref *ref = xmalloc(sizeof *ref);
    ref->id = s->id;
    s->in_flight = true;
    s->more = false;
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    res_events_after_sql(&s->req, s->last, EV_PAGE_MAX, s->f.key_chargers, s->f.key_sites, &b);
    char *text = rest_sqlb_take_sql(&b);
    const char *sql = rest_sql_intern(text);  /* a handful of shapes: which filters are present */
    free(text);
    rest_sql_detached(sql, b.nparams, (const char *const *)b.params, page_done, ref);
    rest_sqlb_free(&b);
}

/* ------------------------------------------------------------------ the reader */

static void fetch_done(struct store_job *job, void *user)
{
    struct job_ref *ref = user;
    bool current = E.running && ref->id == E.gen;
    free(ref);
    if (!current)
        return;                     /* the ring restarted since */
    E.fetching = false;
    if (job->status != STORE_OK) {
        E.fetch_due = true;
        E.fetch_at_ms = now_ms() + EV_RETRY_MS;
        return;
    }
    int rows = rest_job_rows(job);
    for (int i = 0; i < rows; i++) {
        int64_t seq = row_seq(job, i);
        if (seq <= E.head)
            continue;
        while (E.n == EV_RING_MAX || (E.n && E.bytes > EV_RING_BYTES))
            ring_drop_oldest();
        struct ev *e = ring_at(E.n);
        e->seq = seq;
        const char *v;
        e->type = xstrdup((v = rest_job_value(job, i, C_TYPE)) ? v : "");
        e->charger = (v = rest_job_value(job, i, C_CHARGER)) ? xstrdup(v) : NULL;
        e->created_ms = row_created_ms(job, i);
        e->site = (v = rest_job_value(job, i, C_SITE)) ? xstrdup(v) : NULL;
        e->frame = ev_frame(job, i, &e->len);
        E.n++;
        E.bytes += e->len;
        E.head = seq;
    }
    for (struct es *s = E.live.next, *next; s != &E.live; s = next) {
        next = s->next;
        es_pull(s);
    }
    if (rows > 0 && (rows > EV_FETCH_MAX || E.notified > E.head)) {
        E.fetch_due = true;
        fetch();
    }
}

static const char *none_get(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return NULL;
}

static size_t none_list(void *ctx, const char *name, const char **out, size_t max)
{
    (void)ctx, (void)name, (void)out, (void)max;
    return 0;
}

/* Reads what is new after head, once for every stream (one query in flight at most). */
static void fetch(void)
{
    if (!E.active || E.fetching || !E.fetch_due)
        return;
    E.fetch_due = false;
    E.fetching = true;
    E.fetch_at_ms = now_ms() + EV_POLL_MS;
    /* every event after head: the collection's statement without a filter */
    static const struct rest_query_source none = { none_get, none_list, NULL };
    struct rest_list_req all;
    struct rest_param_error err;
    (void)res_events_parse_filters(&none, &all, &err);
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    res_events_after_sql(&all, E.head, EV_FETCH_MAX, NULL, NULL, &b);
    rest_list_req_free(&all);
    char *text = rest_sqlb_take_sql(&b);
    const char *sql = rest_sql_intern(text);
    free(text);
    struct job_ref *ref = xmalloc(sizeof *ref);
    ref->id = E.gen;
    rest_sql_detached(sql, b.nparams, (const char *const *)b.params, fetch_done, ref);
    rest_sqlb_free(&b);
}

void res_event_stream_notified(int64_t seq)
{
    if (!E.running)
        return;
    if (seq > E.notified)
        E.notified = seq;
    if (E.active && seq > E.head) {
        E.fetch_due = true;
        fetch();
    }
}

/* ------------------------------------------------------------------ the handler */

/* r becomes a stream that has taken every event up to `last`; replay first when resuming. */
static void stream_open(struct rest_request *r, struct ev_filter *f, struct rest_list_req *req, int64_t last,
                        bool resume)
{
    struct es *s = xcalloc(1, sizeof *s);
    s->id = ++E.next_id;
    s->r = r;
    s->f = *f;
    memset(f, 0, sizeof *f);
    s->req = *req;                  /* takes its values */
    memset(req, 0, sizeof *req);
    s->last = s->page_end = last;
    s->state = ES_REPLAY;
    hmap_put_u64(E.streams, s->id, s);
    static const struct rest_stream_hooks hooks = { es_gone, es_drained };
    rest_stream_start(r, "text/event-stream", E.buffer, &hooks, s);
    if (!rest_stream_live(r))
        return;
    if (resume)
        replay_page(s);
    else
        es_pull(s);                 /* straight to the hand-over */
}

static const char start_sql[] = "SELECT coalesce(max(seq), 0) FROM events";

/*
 * Without a resume point the stream starts at the highest seq committed
 * before its headers go out (one query, when it opens: the ring's head may
 * still lag behind a commit whose notification is on its way), so a client
 * that has the headers gets every event committed after, and none before.
 */
static void start_known(struct rest_request *r, struct store_job *job)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    struct ev_filter f = { 0 };
    struct rest_list_req req;
    int64_t after;
    if (filter_parse(r, &f, &req, &after)) {    /* parsed before: succeeds */
        const char *v = rest_value(job, 0, 0);
        int64_t at = v ? strtoll(v, NULL, 10) : 0;
        stream_open(r, &f, &req, E.active && E.head > at ? E.head : at, false);
    }
    filter_free(&f);
    rest_list_req_free(&req);
}

void res_event_stream(struct rest_request *r)
{
    struct ev_filter f = { 0 };
    struct rest_list_req req;
    int64_t after;
    if (!filter_parse(r, &f, &req, &after)) {
        /* answered */
    } else if (rest_method(r) == REST_HEAD) {
        rest_reply_text(r, 200, "text/event-stream", "", 0);
    } else if (after >= 0) {
        stream_open(r, &f, &req, after, true);
    } else {
        rest_request_brief_park(r);     /* no long lws timer per stream */
        rest_sql(r, start_sql, 0, NULL, start_known);
    }
    filter_free(&f);
    rest_list_req_free(&req);
}

/* ------------------------------------------------------------------ tick, lifecycle */

void res_event_stream_tick(bool store_ready)
{
    if (!E.running)
        return;
    int64_t now = now_ms();
    /* replay queries that failed (database down): again */
    for (struct es *s = E.replay.next, *next; s != &E.replay; s = next) {
        next = s->next;
        if (s->in_flight || !s->retry_at_ms || now < s->retry_at_ms || !store_ready)
            continue;
        if (!rest_stream_live(s->r)) {
            es_drop(s);
            continue;
        }
        s->retry_at_ms = 0;
        replay_page(s);
    }
    if (E.active && !E.fetching && store_ready && now >= E.fetch_at_ms) {
        E.fetch_due = true;         /* a poll, or the retry of a failed fetch */
        fetch();
    }
    if (now >= E.keepalive_at_ms) {
        E.keepalive_at_ms = now + E.keepalive_ms;
        /* a stream whose queue is full is busy anyway: FULL is fine */
        static const char ka[] = ": keepalive\n\n";
        for (struct es *s = E.live.next, *next; s != &E.live; s = next) {
            next = s->next;
            if (rest_stream_send(s->r, ka, sizeof ka - 1) == REST_STREAM_CLOSED)
                es_drop(s);
        }
        for (struct es *s = E.replay.next, *next; s != &E.replay; s = next) {
            next = s->next;
            if (rest_stream_send(s->r, ka, sizeof ka - 1) == REST_STREAM_CLOSED)
                es_drop(s);
        }
    }
    if (now >= E.keycheck_at_ms) {
        E.keycheck_at_ms = now + EV_KEYCHECK_MS;
        for (struct es *s = E.live.next, *next; s != &E.live; s = next) {
            next = s->next;
            if (!rest_request_key_valid(s->r)) {
                log_info(NULL, "rest: event stream (request %s) ended: its API key was revoked, expired or changed",
                         rest_request_id(s->r));
                rest_stream_end(s->r);
                es_drop(s);
            }
        }
    }
    if (E.active && E.live.next == &E.live && E.replay.next == &E.replay)
        ring_stop();                /* nobody left to feed: read nothing until the next stream */
}

void res_event_stream_init(size_t buffer, int keepalive_s)
{
    memset(&E, 0, sizeof E);
    E.running = true;
    E.buffer = buffer ? buffer : 1024 * 1024;
    E.keepalive_ms = (keepalive_s > 0 ? keepalive_s : 15) * 1000LL;
    E.streams = hmap_new();
    E.ring = xcalloc(EV_RING_MAX, sizeof *E.ring);
    list_init(&E.live);
    list_init(&E.replay);
    E.keepalive_at_ms = now_ms() + E.keepalive_ms;
}

static int free_es_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct es *s = val;
    s->r = NULL;
    return 0;
}

/* After the requests were freed (their gone() freed their streams). */
void res_event_stream_shutdown(void)
{
    if (!E.running)
        return;
    hmap_foreach(E.streams, free_es_cb, NULL);
    ring_stop();
    free(E.ring);
    hmap_free(E.streams);
    memset(&E, 0, sizeof E);
}
