/*
 * GET /v1/events/stream (../shared/spec/events.md, "Streaming"): the real
 * gateway, real PostgreSQL, a plain-socket SSE client (support/sse.c).
 * Events are made the way every emitter makes them, with
 * ocppgw_event(...) in a committed transaction, except in the first tests:
 *
 * - every event type: the table of support/event_cases.c, one test per
 *   case ("test_event_stream <case>"), the charger or REST call made and
 *   its event read back from a stream opened before it (frames parsed from
 *   their id/event/data lines, id and event the JSON's seq and type), then
 *   checked by the runner like the collection's (it_events.c);
 * - live delivery of events committed after connecting (HTTP/1.1 chunked
 *   and HTTP/1.0 until close), each frame's JSON the stored event;
 * - resume with Last-Event-ID and with ?after=: exactly the missing ones
 *   (several replay pages, events committed meanwhile), no duplicate, then
 *   live; the header wins over the parameter;
 * - filters (type exact and prefix, chargerId, chargerIds, siteId), a key
 *   limited to chargers, the scope, malformed parameters;
 * - keepalive comments (events.stream_keepalive = 1 here);
 * - a reader that never reads is cut at events.stream_buffer while another
 *   stream receives everything;
 * - two gateways on one database each serve their own streams; shutdown
 *   ends a stream cleanly (the last chunk);
 * - PostgreSQL restarted during streaming: the stream stays open and gets
 *   every event committed after the restart, without a gap;
 * - 1,000 concurrent streams all receive an event.
 */
#include "it.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "support/calls.h"
#include "support/db.h"
#include "support/event_cases.h"
#include "support/fixture.h"
#include "support/gw.h"
#include "support/http.h"
#include "support/proc.h"
#include "support/rest.h"
#include "support/sse.h"

#define STUCK_BUFFER 65536
#define INI API_UNLIMITED_INI "[events]\nstream_keepalive = 1\nstream_buffer = 65536\n"

static char *admin_key, *events_key, *chargers_key, *limited_key;

/* ------------------------------------------------------------------ helpers */

/* Commits one event (charger NULL: none) and returns its seq. */
static int64_t emit(const char *type, const char *charger, const char *data)
{
    char *id = charger ? db_str("SELECT ocppgw_event($1, $2, now(), $3::jsonb)::text", type, charger, data)
                       : db_str("SELECT ocppgw_event($1, NULL, now(), $2::jsonb)::text", type, data);
    if (!id)
        fail_msg("ocppgw_event(%s) stored nothing", type);
    int64_t seq = db_int("SELECT seq FROM events WHERE id = $1::uuid", id);
    free(id);
    return seq;
}

static struct sse *open_stream(int port, const char *key, const char *path, const struct sse_opts *o)
{
    struct sse *s = sse_open(port, key, path, o);
    if (sse_status(s) != 200)
        fail_msg("GET %s: status %d, body %s", path, sse_status(s), sse_body(s));
    const char *ct = sse_header(s, "content-type");
    if (!ct || strcmp(ct, "text/event-stream") != 0)
        fail_msg("GET %s: content-type %s", path, ct ? ct : "(none)");
    return s;
}

/*
 * The next event must be seq (type): its frame's id and event lines, and its
 * data the stored event as GET /v1/events shows it.
 */
static void expect_event(struct sse *s, int64_t seq, const char *type)
{
    struct sse_event ev;
    if (!sse_next(s, &ev, IT_WAIT_MS))
        fail_msg("expected event %lld (%s): nothing came within %d ms", (long long)seq, type, IT_WAIT_MS);
    if (ev.id != seq || strcmp(ev.type, type) != 0)
        fail_msg("expected event %lld (%s), got %lld (%s): %s", (long long)seq, type, (long long)ev.id, ev.type,
                 ev.data);
    cJSON *j = cJSON_Parse(ev.data);
    if (!j)
        fail_msg("event %lld: data is not JSON: %s", (long long)seq, ev.data);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    char *id = db_str("SELECT id::text FROM events WHERE seq = $1::bigint", seqs);
    char *data = db_str("SELECT data::text FROM events WHERE seq = $1::bigint", seqs);
    char *charger = db_str("SELECT coalesce(charger_id, '') FROM events WHERE seq = $1::bigint", seqs);
    api_check_str(j, "id", id);
    api_check_int(j, "seq", seq);
    api_check_str(j, "type", type);
    const char *created = cJSON_GetStringValue(cJSON_GetObjectItem(j, "createdAt"));
    if (!created || created[strlen(created) - 1] != 'Z')
        fail_msg("event %lld: createdAt %s", (long long)seq, created ? created : "(none)");
    if (*charger)
        api_check_str(j, "chargerId", charger);
    else
        api_check_null(j, "chargerId");
    cJSON *want = cJSON_Parse(data);
    if (!cJSON_Compare(cJSON_GetObjectItem(j, "data"), want, true))
        fail_msg("event %lld: data %s, stored %s", (long long)seq, ev.data, data);
    cJSON_Delete(want);
    cJSON_Delete(j);
    free(id);
    free(data);
    free(charger);
}

/* No event is waiting: checked by committing a sentinel that must come next. */
static void expect_nothing_before_sentinel(struct sse *s, const char *charger)
{
    int64_t sentinel = emit("charger.updated", charger, "{\"sentinel\":true}");
    expect_event(s, sentinel, "charger.updated");
}

static void pg_ctl(const char *cmd)
{
    const char *argv[] = { "scripts/pg.sh", cmd, it_env("OCPPGW_TEST_PGDIR"), NULL };
    struct proc_result res;
    proc_run(argv, NULL, 90000, &res);
    if (res.status != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", res.err);
        proc_result_free(&res);
        fail_msg("scripts/pg.sh %s failed: %s", cmd, msg);
    }
    proc_result_free(&res);
}

/* ------------------------------------------------------------------ every event type */

/*
 * The stream's reader: a stream opened for each case before its cause, with
 * no filter but the type a stream must name (IT_EV_NAMED_ONLY, left out of
 * a stream without `type`). Every frame that comes is kept, parsed; find
 * hands back a copy of the one the run waits for.
 */
struct case_stream {
    struct sse *s;
    cJSON *got;                     /* every event read, in order */
};
static struct case_stream CS;

/* Takes the frames the socket holds: each frame's id and event lines must be its JSON's seq and type. */
static void case_stream_read(struct case_stream *cs)
{
    struct sse_event ev;
    while (sse_next(cs->s, &ev, 0)) {
        cJSON *j = cJSON_Parse(ev.data);
        if (!j)
            fail_msg("stream: the data of event %lld is not JSON: %s", (long long)ev.id, ev.data);
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
        const char *type = js(j, "type");
        if (!cJSON_IsNumber(seq) || (int64_t)seq->valuedouble != ev.id || !type || strcmp(type, ev.type) != 0)
            fail_msg("stream: a frame with id %lld and event %s carries %s", (long long)ev.id, ev.type, ev.data);
        cJSON_AddItemToArray(cs->got, j);
    }
    if (sse_ended(cs->s, NULL))
        fail_msg("stream: ended after %d events", cJSON_GetArraySize(cs->got));
}

static cJSON *stream_find(void *ctx, const struct it_ev_run *run)
{
    struct case_stream *cs = ctx;
    case_stream_read(cs);
    const cJSON *e;
    cJSON_ArrayForEach(e, cs->got)
        if (it_ev_matches(run, e))
            return cJSON_Duplicate(e, true);
    return NULL;
}

static void test_event_stream_case(void **state)
{
    const struct it_ev_case *c = *state;
    const char *path = strcmp(c->type, IT_EV_NAMED_ONLY) == 0 ? "/v1/events/stream?type=" IT_EV_NAMED_ONLY
                                                              : "/v1/events/stream";
    CS.s = open_stream(gw_port(W.gw), admin_key, path, NULL);
    CS.got = cJSON_CreateArray();
    struct it_ev_env env = { .port = gw_port(W.gw), .key = admin_key, .sim = W.sim, .prefix = "ies" };
    struct it_ev_reader reader = { .find = stream_find, .ctx = &CS };
    it_ev_run_case(c, &env, &reader);
}

/* ------------------------------------------------------------------ tests */

static void test_live_delivery(void **state)
{
    (void)state;
    int port = gw_port(W.gw);
    int64_t before = emit("charger.updated", "ES-live", "{\"n\":0}");
    struct sse *s = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-live", NULL);
    const char *te = sse_header(s, "transfer-encoding");
    assert_non_null(te);
    assert_string_equal(te, "chunked");
    assert_non_null(sse_header(s, "x-request-id"));
    int64_t a = emit("charger.updated", "ES-live", "{\"n\":1,\"s\":\"line\\nbreak\"}");
    int64_t b = emit("session.started", "ES-live", "{\"n\":2}");
    assert_true(a > before);
    expect_event(s, a, "charger.updated");      /* not `before`: committed before connecting */
    expect_event(s, b, "session.started");
    sse_close(s);

    /* HTTP/1.0: no chunks, the body runs until the connection closes */
    struct sse_opts o = { .http10 = true };
    s = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-live", &o);
    assert_null(sse_header(s, "transfer-encoding"));
    int64_t c = emit("session.stopped", "ES-live", "{\"n\":3}");
    expect_event(s, c, "session.stopped");
    sse_close(s);
}

/* Resume from the 50th of 450 stored events: three replay pages, then live, with events committed meanwhile. */
static void resume_case(const char *charger, bool header)
{
    int port = gw_port(W.gw);
    char *gen = it_strf("SELECT count(ocppgw_event('charger.updated', '%s', now(), jsonb_build_object('n', g)))"
                        " FROM generate_series(1, 450) g", charger);
    db_int(gen);
    free(gen);
    int64_t other = emit("charger.updated", "ES-other", "{}");  /* filtered out in the middle of it */
    (void)other;
    int64_t from = db_int("SELECT seq FROM events WHERE charger_id = $1 ORDER BY seq OFFSET 49 LIMIT 1", charger);
    char *path = it_strf("/v1/events/stream?chargerId=%s%s%lld", charger, header ? "" : "&after=",
                         header ? 0LL : (long long)from);
    if (header) {
        free(path);
        path = it_strf("/v1/events/stream?chargerId=%s&after=1", charger);   /* the header wins */
    }
    char *hdr = it_strf("Last-Event-ID: %lld", (long long)from);
    const char *headers[] = { hdr, NULL };
    struct sse_opts o = { .headers = header ? headers : NULL };
    struct sse *s = open_stream(port, events_key, path, &o);
    /* committed while the replay runs */
    int64_t during[5];
    for (int i = 0; i < 5; i++)
        during[i] = emit("session.updated", charger, "{\"during\":true}");
    char froms[24];
    snprintf(froms, sizeof froms, "%lld", (long long)from);
    int n = (int)db_int("SELECT count(*) FROM events WHERE charger_id = $1 AND seq > $2::bigint", charger, froms);
    assert_int_equal(n, 400 + 5);
    for (int i = 0; i < n; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        int64_t want = db_int("SELECT seq FROM events WHERE charger_id = $1 AND seq > $2::bigint ORDER BY seq"
                              " OFFSET $3::int LIMIT 1", charger, froms, idx);
        struct sse_event ev;
        if (!sse_next(s, &ev, IT_WAIT_MS))
            fail_msg("resume: event %d of %d (seq %lld) never came", i + 1, n, (long long)want);
        if (ev.id != want)
            fail_msg("resume: event %d of %d is seq %lld, expected %lld (gap or duplicate)", i + 1, n,
                     (long long)ev.id, (long long)want);
    }
    assert_true(during[4] > during[0]);
    /* live after the replay, and nothing more in between */
    int64_t live = emit("session.stopped", charger, "{}");
    expect_event(s, live, "session.stopped");
    expect_nothing_before_sentinel(s, charger);
    sse_close(s);
    free(path);
    free(hdr);
}

static void test_resume_last_event_id(void **state)
{
    (void)state;
    resume_case("ES-resume-h", true);
}

static void test_resume_after_parameter(void **state)
{
    (void)state;
    resume_case("ES-resume-q", false);
}

static void test_filters_and_key_restrictions(void **state)
{
    (void)state;
    int port = gw_port(W.gw);
    db_exec("INSERT INTO sites (id, name) VALUES ('ES-site', 'stream site') ON CONFLICT DO NOTHING");
    db_add_charger("ES-f1", NULL, 0);
    db_add_charger("ES-f2", NULL, 0);
    db_exec("UPDATE chargers SET site_id = 'ES-site' WHERE id = 'ES-f2'");

    struct sse *prefix = open_stream(port, events_key, "/v1/events/stream?type=session.*&chargerIds=ES-f1,ES-f2", NULL);
    struct sse *exact = open_stream(port, events_key,
                                    "/v1/events/stream?type=charger.deleted&type=session.stopped"
                                    "&chargerId=ES-f1", NULL);
    struct sse *site = open_stream(port, events_key, "/v1/events/stream?siteId=ES-site", NULL);
    struct sse *limited = open_stream(port, limited_key, "/v1/events/stream", NULL);

    int64_t e1 = emit("session.started", "ES-f1", "{}");
    int64_t e2 = emit("charger.updated", "ES-f1", "{}");
    int64_t e3 = emit("session.stopped", "ES-f2", "{}");
    int64_t e4 = emit("session.stopped", "ES-f1", "{}");
    int64_t e5 = emit("sessionx.started", "ES-f1", "{}");     /* not under "session." */
    int64_t e6 = emit("charger.deleted", "ES-f3", "{}");
    (void)e5;
    (void)e6;
    int64_t e7 = emit("token.created", NULL, "{}");            /* no charger: not for a limited key */
    (void)e7;
    int64_t end1 = emit("charger.deleted", "ES-f1", "{}");
    int64_t end2 = emit("session.updated", "ES-f2", "{}");

    expect_event(prefix, e1, "session.started");
    expect_event(prefix, e3, "session.stopped");
    expect_event(prefix, e4, "session.stopped");
    expect_event(prefix, end2, "session.updated");

    expect_event(exact, e4, "session.stopped");
    expect_event(exact, end1, "charger.deleted");

    expect_event(site, e3, "session.stopped");
    expect_event(site, end2, "session.updated");

    /* the collection, asked the same, answers the same events */
    static const struct {
        const char *query;
        int n;
    } same[] = {
        { "type=session.*&chargerIds=ES-f1,ES-f2", 4 },
        { "type=charger.deleted&type=session.stopped&chargerId=ES-f1", 2 },
        { "siteId=ES-site", 2 },
    };
    int64_t want[][4] = { { e1, e3, e4, end2 }, { e4, end1 }, { e3, end2 } };
    for (size_t q = 0; q < sizeof same / sizeof same[0]; q++) {
        char *path = it_strf("/v1/events?%s&after=%lld", same[q].query, (long long)(e1 - 1));
        struct api_resp *resp = api_get(port, events_key, path);
        const cJSON *data = api_data(api_expect(resp, 200));
        if (cJSON_GetArraySize(data) != same[q].n)
            fail_msg("GET %s: %d events, the stream had %d", path, cJSON_GetArraySize(data), same[q].n);
        for (int i = 0; i < same[q].n; i++) {
            int64_t seq = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(data, i), "seq"));
            if (seq != want[q][i])
                fail_msg("GET %s: event %d is seq %lld, the stream's was %lld", path, i, (long long)seq,
                         (long long)want[q][i]);
        }
        api_free(resp);
        free(path);
    }

    /* limited to ES-f1: its events only, whatever the type */
    expect_event(limited, e1, "session.started");
    expect_event(limited, e2, "charger.updated");
    expect_event(limited, e4, "session.stopped");
    expect_event(limited, e5, "sessionx.started");
    expect_event(limited, end1, "charger.deleted");
    sse_close(prefix);
    sse_close(exact);
    sse_close(site);
    /* asking for another charger with a limited key: nothing of it */
    sse_close(limited);
    limited = open_stream(port, limited_key, "/v1/events/stream?chargerIds=ES-f2,ES-f1", NULL);
    int64_t f2 = emit("session.started", "ES-f2", "{}");
    int64_t f1 = emit("session.started", "ES-f1", "{}");
    (void)f2;
    expect_event(limited, f1, "session.started");
    sse_close(limited);

    /* refusals, as any route's */
    struct sse *r = sse_open(port, chargers_key, "/v1/events/stream", NULL);
    assert_int_equal(sse_status(r), 403);
    sse_close(r);
    r = sse_open(port, NULL, "/v1/events/stream", NULL);
    assert_int_equal(sse_status(r), 401);
    sse_close(r);
    static const struct api_bad bad[] = {
        { "type=Session.*", "type" }, { "type=session.", "type" }, { "type=*", "type" },
        { "after=-1", "after" }, { "after=x", "after" }, { "siteId=", "siteId" },
        { "chargerId=", "chargerId" }, { "since=1", "since" },
    };
    api_expect_bad_queries(port, events_key, "/v1/events/stream", bad, API_COUNT(bad));
    const char *h[] = { "Last-Event-ID: abc", NULL };
    struct sse_opts o = { .headers = h };
    r = sse_open(port, events_key, "/v1/events/stream", &o);
    assert_int_equal(sse_status(r), 400);
    assert_non_null(strstr(sse_body(r), "Last-Event-ID"));
    sse_close(r);
}

/*
 * Keepalive comments, on a stream that outlives every lws timeout of a
 * request (timeout_secs 10 s here): 12 of them at one a second. It resumes
 * (?after=), so it is never parked on a query first (a parked request gets
 * a longer lws timeout).
 */
static void test_keepalive_comments(void **state)
{
    (void)state;
    int64_t max = db_int("SELECT coalesce(max(seq), 0) FROM events");
    char *path = it_strf("/v1/events/stream?chargerId=ES-quiet&after=%lld", (long long)max);
    struct sse *s = open_stream(gw_port(W.gw), events_key, path, NULL);
    free(path);
    int64_t end = it_now_ms() + 60000;
    while (sse_comments(s) < 12 && it_now_ms() < end) {
        struct pollfd p = { .fd = sse_fd(s), .events = POLLIN };
        if (poll(&p, 1, 200) > 0 && !sse_pump(s))
            break;
    }
    bool clean;
    if (sse_ended(s, &clean))
        fail_msg("the stream ended after %d keepalive comments", sse_comments(s));
    if (sse_comments(s) < 12)
        fail_msg("%d keepalive comments in 60 s (events.stream_keepalive = 1)", sse_comments(s));
    assert_int_equal((int)sse_pending(s), 0);
    sse_close(s);
}

/*
 * A stream whose client never reads is cut once events.stream_buffer (64 KiB
 * here) is full and it reads nothing; another stream gets every event.
 */
static void test_stuck_reader_is_cut(void **state)
{
    (void)state;
    int port = gw_port(W.gw);
    struct sse_opts small = { .rcvbuf = 4096 };
    struct sse *stuck = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-big", &small);
    struct sse *good = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-big", NULL);
    /* 12 MB of events: more than the kernel's socket buffers and the bound together */
    int64_t first = 0, last = 0, got = 0;
    struct sse_event ev;
    for (int batch = 0; batch < 12; batch++) {
        db_int("SELECT count(ocppgw_event('charger.updated', 'ES-big', now(),"
               " jsonb_build_object('pad', repeat('x', 24000)))) FROM generate_series(1, 40)");
        last = db_int("SELECT max(seq) FROM events WHERE charger_id = 'ES-big'");
        if (!first)
            first = db_int("SELECT min(seq) FROM events WHERE charger_id = 'ES-big'");
        /* the good reader keeps up */
        while (sse_next(good, &ev, 200))
            got = ev.id;
    }
    while (got < last && sse_next(good, &ev, IT_WAIT_MS))
        got = ev.id;
    if (got != last)
        fail_msg("the reading stream stopped at seq %lld of %lld", (long long)got, (long long)last);
    /*
     * The stuck one is cut once it has read nothing for a while with its
     * buffer full: wait for that without reading it (reading would make it
     * a reader again), then read: it must end (not cleanly: no last chunk).
     */
    for (int64_t until = it_now_ms() + IT_WAIT_MS;
         !gw_log_contains(W.gw, "cut: its client reads nothing") && it_now_ms() < until;)
        poll(NULL, 0, 100);
    if (!sse_wait_end(stuck, 30000))
        fail_msg("a stream that never read is still open");
    bool clean = true;
    assert_true(sse_ended(stuck, &clean));
    assert_false(clean);
    assert_true(gw_log_contains(W.gw, "cut: its client reads nothing"));
    /* the gateway serves on */
    assert_int_equal(http_get(port, "/healthz", NULL), 200);
    sse_close(stuck);
    sse_close(good);
}

static int open_gw2(const char *name)
{
    struct gw_opts o = { .name = name, .ini = INI };
    W.gw2 = gw_start(&o);
    return gw_port(W.gw2);
}

/* Two gateways on one database: each serves its own streams from the shared table. */
static void test_two_gateways_and_clean_shutdown(void **state)
{
    (void)state;
    int p2 = open_gw2("it_event_stream_2");
    api_key_wait_known(p2, events_key);
    struct sse *a = open_stream(gw_port(W.gw), events_key, "/v1/events/stream?chargerId=ES-two", NULL);
    struct sse *b = open_stream(p2, events_key, "/v1/events/stream?chargerId=ES-two", NULL);
    int64_t e = emit("charger.updated", "ES-two", "{}");
    expect_event(a, e, "charger.updated");
    expect_event(b, e, "charger.updated");
    /* shutdown ends b's stream with the last chunk */
    assert_int_equal(gw_stop(W.gw2), 0);
    if (!sse_wait_end(b, IT_WAIT_MS))
        fail_msg("the stream did not end at shutdown");
    bool clean = false;
    assert_true(sse_ended(b, &clean));
    assert_true(clean);
    sse_close(a);
    sse_close(b);
}

/* PostgreSQL stops and starts under open streams: they stay open and miss nothing after. */
static void test_postgres_restart_no_gap(void **state)
{
    (void)state;
    int port = gw_port(W.gw);
    struct sse *s = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-pg", NULL);
    struct sse *resumed = NULL;
    int64_t e1 = emit("charger.updated", "ES-pg", "{\"n\":1}");
    expect_event(s, e1, "charger.updated");
    pg_ctl("stop");
    db_disconnect();
    /* the stream stays open: keepalives go on */
    int comments = sse_comments(s);
    int64_t end = it_now_ms() + IT_WAIT_MS;
    while (sse_comments(s) < comments + 2 && it_now_ms() < end) {
        struct pollfd p = { .fd = sse_fd(s), .events = POLLIN };
        if (poll(&p, 1, 200) > 0)
            sse_pump(s);
    }
    assert_true(sse_comments(s) >= comments + 2);
    pg_ctl("start");
    /* committed at once, before the gateway is likely to listen again: its notification is lost */
    int64_t e2 = emit("charger.updated", "ES-pg", "{\"n\":2}");
    expect_event(s, e2, "charger.updated");
    int64_t e3 = emit("session.started", "ES-pg", "{\"n\":3}");
    expect_event(s, e3, "session.started");
    /* and a stream resuming from before the restart replays both */
    char *h = it_strf("Last-Event-ID: %lld", (long long)e1);
    const char *hs[] = { h, NULL };
    struct sse_opts o = { .headers = hs };
    resumed = open_stream(port, events_key, "/v1/events/stream?chargerId=ES-pg", &o);
    expect_event(resumed, e2, "charger.updated");
    expect_event(resumed, e3, "session.started");
    free(h);
    sse_close(resumed);
    sse_close(s);
}

/* A thousand streams on one gateway: one event reaches every one of them. */
static void test_thousand_streams(void **state)
{
    (void)state;
    enum { N = 1000 };
    int port = gw_port(W.gw);
    static struct sse *s[N];
    int64_t t0 = it_now_ms();
    for (int i = 0; i < N; i++)
        s[i] = open_stream(port, events_key, "/v1/events/stream?type=charger.*", NULL);
    int64_t opened = it_now_ms();
    int64_t e = emit("charger.updated", "ES-many", "{}");
    static bool got[N];
    memset(got, 0, sizeof got);
    int have = 0;
    int64_t end = it_now_ms() + 60000;
    static struct pollfd p[N];
    while (have < N && it_now_ms() < end) {
        for (int i = 0; i < N; i++)
            p[i] = (struct pollfd){ .fd = got[i] ? -1 : sse_fd(s[i]), .events = POLLIN };
        if (poll(p, N, 200) <= 0)
            continue;
        for (int i = 0; i < N; i++) {
            if (got[i] || !(p[i].revents & (POLLIN | POLLHUP)))
                continue;
            sse_pump(s[i]);
            struct sse_event ev;
            while (!got[i] && sse_pending(s[i]) && sse_next(s[i], &ev, 0)) {
                if (ev.id == e) {
                    got[i] = true;
                    have++;
                }
            }
        }
    }
    print_message("1000 streams: opened in %lld ms, the event reached %d of them in %lld ms\n",
                  (long long)(opened - t0), have, (long long)(it_now_ms() - opened));
    if (have != N)
        fail_msg("the event reached %d of %d streams", have, N);
    for (int i = 0; i < N; i++)
        sse_close(s[i]);
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    admin_key = api_key_create("it_event_stream admin", "admin");
    events_key = api_key_create("it_event_stream events", "events:read");
    chargers_key = api_key_create("it_event_stream chargers", "chargers:read");
    limited_key = api_key_create_limited("it_event_stream limited", "events:read", "ES-f1");
    struct gw_opts o = { .name = "it_event_stream", .ini = INI };
    W.gw = gw_start(&o);
    api_key_wait_known(gw_port(W.gw), limited_key);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin_key);
    free(events_key);
    free(chargers_key);
    free(limited_key);
    return it_group_teardown(state);
}

/* A failed test must not leave the database stopped for the next one. */
static int test_teardown(void **state)
{
    const char *argv[] = { "scripts/pg.sh", "start", getenv("OCPPGW_TEST_PGDIR"), NULL };
    if (argv[2]) {
        struct proc_result res;
        proc_run(argv, NULL, 90000, &res);
        proc_result_free(&res);
    }
    return it_test_teardown(state);
}

static int case_teardown(void **state)
{
    sse_close(CS.s);
    cJSON_Delete(CS.got);
    CS = (struct case_stream){ 0 };
    return it_test_teardown(state);     /* a case never stops the database */
}

int main(void)
{
    if (getenv("IT_ONLY"))
        cmocka_set_test_filter(getenv("IT_ONLY"));
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, test_teardown)
    static const struct CMUnitTest tests[] = {
        T(test_live_delivery),
        T(test_resume_last_event_id),
        T(test_resume_after_parameter),
        T(test_filters_and_key_restrictions),
        T(test_keepalive_comments),
        T(test_stuck_reader_is_cut),
        T(test_two_gateways_and_clean_shutdown),
        T(test_postgres_restart_no_gap),
        T(test_thousand_streams),
    };
#undef T
    return it_ev_run_group("it_event_stream", "test_event_stream", test_event_stream_case, it_test_setup,
                           case_teardown, tests, sizeof tests / sizeof tests[0], group_setup, group_teardown);
}
