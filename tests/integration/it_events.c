/*
 * Integration: events (../shared/spec/events.md), the transactional outbox
 * (sql/011, sql/012) read through GET /v1/events and GET /v1/events/{id}.
 *
 * - Every event type: the table of support/event_cases.c, one test per
 *   case, read back through GET /v1/events (type, chargerId, siteId,
 *   occurredAt, data against the OpenAPI schemas and, key by key, against
 *   the resource's GET at that moment); the other read paths (stream,
 *   webhooks) run the same table with their own reader.
 * - A changed data shape is caught: a planted drift of one doc function
 *   makes the comparison fail.
 * - Writes that are no events make none (heartbeats, a repeated status, a
 *   PATCH that changes nothing); the CLI and plain SQL emit like REST;
 *   session.updated at most once per interval; meter_values.received only
 *   when wanted.
 * - A rolled-back change leaves no event (top level and savepoint).
 * - seq in commit order: writers on several connections, slowed inside
 *   their commit, while readers (SQL and GET /v1/events?after=<seq>) poll:
 *   every read is a prefix of the final sequence, no gap ever seen.
 * - Filters, paging by cursor and by seq, 400s naming the parameter, the
 *   single read, keys limited to chargers or sites (lists and 403/404).
 * - Retention: a gateway with events.retention deletes what is older, in
 *   batches, only while no other gateway holds the claim.
 *
 * Charger ids, tags and key names start with "iev".
 */
#include "it.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "event_cases.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM api_keys WHERE name LIKE 'iev%'");
    admin = api_group_start("it_events", "iev-admin");
    return 0;
}

static struct it_ev_env env(const char *prefix)
{
    return (struct it_ev_env){ .port = PORT, .key = admin, .sim = W.sim, .prefix = prefix };
}

/* ---------------------------------------------------------------- the reader: GET /v1/events */

static cJSON *events_get(const char *query)
{
    char *path = it_strf("/v1/events?perPage=500%s%s", *query ? "&" : "", query);
    cJSON *all = api_walk(PORT, admin, path, 100, NULL);
    free(path);
    return all;
}

static cJSON *rest_find(void *ctx, const struct it_ev_run *run)
{
    (void)ctx;
    char *q = run->c->no_charger ? it_strf("type=%s&after=%lld", run->c->type, (long long)run->after_seq)
                                 : it_strf("type=%s&chargerId=%s&after=%lld", run->c->type, run->charger,
                                           (long long)run->after_seq);
    cJSON *all = events_get(q);
    free(q);
    cJSON *found = NULL;
    const cJSON *e;
    cJSON_ArrayForEach(e, all) {
        if (it_ev_matches(run, e)) {
            found = cJSON_Duplicate(e, true);
            break;
        }
    }
    cJSON_Delete(all);
    return found;
}

static void test_event_case(void **state)
{
    const struct it_ev_case *c = *state;
    struct it_ev_env e = env("iev");
    struct it_ev_reader reader = { .find = rest_find };
    it_ev_run_case(c, &e, &reader);
}

/* ---------------------------------------------------------------- helpers */

/* Events after seq with that query (caller deletes). */
static cJSON *events_after(int64_t after, const char *query)
{
    char *q = it_strf("after=%lld%s%s", (long long)after, *query ? "&" : "", query);
    cJSON *all = events_get(q);
    free(q);
    return all;
}

static int count_type(const cJSON *items, const char *type)
{
    return api_count_with(items, "type", type);
}

/* Waits until the query after seq lists n events of type (at least), servicing W.sim. */
struct wait_events {
    int64_t after;
    const char *query, *type;
    int n;
};

static bool events_there(void *arg)
{
    struct wait_events *w = arg;
    cJSON *all = events_after(w->after, w->query);
    bool ok = count_type(all, w->type) >= w->n;
    cJSON_Delete(all);
    return ok;
}

static void wait_events(int64_t after, const char *query, const char *type, int n)
{
    struct wait_events w = { after, query, type, n };
    if (!wait_until(W.sim, events_there, &w, IT_WAIT_MS))
        fail_msg("no %d %s events after seq %lld (%s)", n, type, (long long)after, query);
}

/* ---------------------------------------------------------------- drift */

/*
 * The comparison is what keeps the SQL docs and the REST column tables
 * together: with one member dropped from ocppgw_token_doc (a planted
 * drift), a token's event no longer agrees with its GET.
 */
static void test_drift_is_caught(void **state)
{
    (void)state;
    char *def = db_str("SELECT pg_get_functiondef('ocppgw_token_doc(tokens)'::regprocedure)");
    db_exec("CREATE OR REPLACE FUNCTION ocppgw_token_doc(t tokens) RETURNS jsonb LANGUAGE sql STABLE AS $$"
            " SELECT jsonb_build_object('idTag', t.id_tag, 'status', t.status,"
            " 'expiryDate', ocppgw_iso(t.expiry_date), 'parentIdTag', t.parent_id_tag,"
            " 'createdAt', ocppgw_iso(t.created_at), 'updatedAt', ocppgw_iso(t.updated_at)) $$");
    int64_t after = it_ev_last_seq();
    db_exec("DELETE FROM tokens WHERE id_tag = 'ievdrift'");
    struct api_resp *r = api_post(PORT, admin, "/v1/tokens", "{\"idTag\":\"ievdrift\",\"name\":\"n\"}");
    api_expect(r, 201);
    api_free(r);
    db_exec(def);
    free(def);
    wait_events(after, "type=token.created", "token.created", 1);
    cJSON *all = events_after(after, "type=token.created");
    const cJSON *e = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
    r = api_get(PORT, admin, "/v1/tokens/ievdrift");
    const cJSON *got = api_expect(r, 200);
    char why[512] = "";
    if (it_ev_same_as_get(cJSON_GetObjectItemCaseSensitive(e, "data"), got, NULL, why, sizeof why))
        fail_msg("a token event without \"name\" passed the comparison with GET");
    if (!strstr(why, "name"))
        fail_msg("the difference found does not name \"name\": %s", why);
    api_free(r);
    cJSON_Delete(all);
}

/* ---------------------------------------------------------------- what is not an event */

static void test_non_events_emit_nothing(void **state)
{
    (void)state;
    const char *id = "iev-quiet";
    db_add_charger(id, NULL, 0);
    struct sim_charger *c = it_connect_when_known(W.sim, id, NULL);
    it_boot(c);
    cJSON_Delete(it_ok(c, "StatusNotification", "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Available\"}"));
    char q[64];
    snprintf(q, sizeof q, "chargerId=%s", id);
    wait_events(0, q, "connector.status_changed", 1);
    int64_t after = it_ev_last_seq();
    char *seen0 = db_str("SELECT ocppgw_us(last_seen_at)::text FROM chargers WHERE id = $1", id);

    /* heartbeats (last_seen_at), the same status again, a PATCH that changes nothing */
    for (int i = 0; i < 3; i++)
        assert_true(it_heartbeat_ok(c));
    cJSON_Delete(it_ok(c, "StatusNotification", "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Available\"}"));
    struct api_resp *r = api_patch(PORT, admin, "/v1/chargers/iev-quiet", "{\"securityProfile\":0}");
    api_expect(r, 200);
    api_free(r);
    /* then a real change, written after them on the same store: once it is there, they were not events */
    cJSON_Delete(it_ok(c, "StatusNotification", "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Preparing\"}"));
    wait_events(after, q, "connector.status_changed", 1);
    if (db_wait_int(IT_WAIT_MS, 1, "SELECT (ocppgw_us(last_seen_at) > $2::bigint)::int FROM chargers"
                                   " WHERE id = $1", id, seen0) != 1)
        fail_msg("heartbeats never stored");
    free(seen0);
    cJSON *all = events_after(after, q);
    char *text = cJSON_PrintUnformatted(all);
    if (cJSON_GetArraySize(all) != 1 || count_type(all, "connector.status_changed") != 1)
        fail_msg("only the status change should be an event: %s", text);
    free(text);
    cJSON_Delete(all);
    sim_disconnect(c);
}

/* The CLI (`ocppgw charger add`, through store_admin) and plain SQL emit as REST does. */
static void test_cli_and_sql_emit(void **state)
{
    (void)state;
    int64_t after = it_ev_last_seq();
    db_add_charger("iev-cli", NULL, 0);     /* the CLI, then an UPDATE of security_profile */
    db_exec("UPDATE chargers SET name = 'by psql' WHERE id = 'iev-cli'");
    wait_events(after, "chargerId=iev-cli", "charger.updated", 1);
    cJSON *all = events_after(after, "chargerId=iev-cli");
    if (count_type(all, "charger.created") != 1)
        fail_msg("`ocppgw charger add` made no charger.created");
    const cJSON *last = cJSON_GetArrayItem(all, cJSON_GetArraySize(all) - 1);
    api_check_str(last, "type", "charger.updated");
    api_check_str(cJSON_GetObjectItemCaseSensitive(last, "data"), "name", "by psql");
    cJSON_Delete(all);
}

static void test_session_updated_at_most_once_per_interval(void **state)
{
    (void)state;
    const char *id = "iev-progress";
    db_add_charger(id, NULL, 0);
    db_add_token("ievprogress", "Accepted", NULL, NULL);
    struct sim_charger *c = it_connect_when_known(W.sim, id, NULL);
    char t0[40], t1[40], t2[40];
    it_iso_time(t0, -90);
    it_iso_time(t1, -60);
    it_iso_time(t2, -30);
    int32_t tx = it_start_accepted(c, 1, "ievprogress", 0, t0);
    int64_t after = it_ev_last_seq();
    const char *ts[] = { t1, t2 };
    for (int i = 0; i < 2; i++) {
        char *mv = it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                           "\"sampledValue\":[{\"value\":\"%d\"}]}]}", tx, ts[i], 100 * (i + 1));
        cJSON_Delete(it_ok(c, "MeterValues", mv));     /* answered after its commit */
        free(mv);
    }
    cJSON *all = events_after(after, "chargerId=iev-progress&type=session.updated,meter_values.received");
    char *text = cJSON_PrintUnformatted(all);
    if (count_type(all, "session.updated") != 1)
        fail_msg("two MeterValues within events.session_update_interval: want one session.updated: %s", text);
    /* meter_values.received is not wanted by default: not stored */
    if (count_type(all, "meter_values.received") != 0)
        fail_msg("meter_values.received stored while nobody wants it: %s", text);
    api_check_int(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(all, 0), "data"), "energy", 100);
    free(text);
    cJSON_Delete(all);
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- transactions */

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void test_rollback_leaves_no_event(void **state)
{
    (void)state;
    db_exec("DELETE FROM tokens WHERE id_tag LIKE 'ievrb%'");
    int64_t after = it_ev_last_seq();
    PGconn *c = connect_db();
    /* a whole transaction rolled back */
    exec_ok(c, "BEGIN; INSERT INTO tokens (id_tag) VALUES ('ievrb1');"
               " SELECT ocppgw_event('token.created', NULL, NULL, '{\"idTag\": \"ievrb1\"}'); ROLLBACK");
    /* a savepoint rolled back inside a transaction that commits something else */
    exec_ok(c, "BEGIN; SAVEPOINT s; INSERT INTO tokens (id_tag) VALUES ('ievrb2'); ROLLBACK TO SAVEPOINT s;"
               " INSERT INTO tokens (id_tag) VALUES ('ievrb3'); COMMIT");
    /* the same connection again: nothing left staged from before */
    exec_ok(c, "BEGIN; INSERT INTO tokens (id_tag) VALUES ('ievrb4'); COMMIT");
    PQfinish(c);
    cJSON *all = events_after(after, "type=token.created");
    char *text = cJSON_PrintUnformatted(all);
    if (api_count_with(all, "type", "token.created") != 2)
        fail_msg("want the events of ievrb3 and ievrb4 only: %s", text);
    const cJSON *e;
    int i = 0;
    const char *want[] = { "ievrb3", "ievrb4" };
    cJSON_ArrayForEach(e, all) {
        const char *tag = js(cJSON_GetObjectItemCaseSensitive(e, "data"), "idTag");
        if (!tag || strcmp(tag, want[i++]) != 0)
            fail_msg("rolled-back work has an event: %s", text);
    }
    free(text);
    cJSON_Delete(all);
}

/* ---------------------------------------------------------------- commit order */

#define WRITERS 4
#define WRITES 120

struct writer {
    int n;
    bool failed;
    char error[256];
    int done;                       /* set (atomically) when it has finished */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    PGconn *c = PQconnectdb(it_env("OCPPGW_TEST_DB"));
    if (PQstatus(c) != CONNECTION_OK) {
        w->failed = true;
        snprintf(w->error, sizeof w->error, "%s", PQerrorMessage(c));
        PQfinish(c);
        __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    for (int i = 0; i < WRITES && !w->failed; i++) {
        char sql[512];
        int k = 1 + (i + w->n) % 3;     /* one to three events per transaction */
        snprintf(sql, sizeof sql,
                 "BEGIN; SELECT ocppgw_event('charger.updated', 'iev-order-%d', NULL, '{}') FROM generate_series(1, %d);"
                 " COMMIT", w->n, k);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            w->failed = true;
            snprintf(w->error, sizeof w->error, "%s", PQerrorMessage(c));
        }
        PQclear(r);
    }
    PQfinish(c);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* seqs after base as a reader sees them now: [count, s1, s2, ...] into out (max n); returns the count */
static int read_seqs(PGconn *c, int64_t base, int64_t *out, int max)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT seq FROM events WHERE seq > %lld ORDER BY seq", (long long)base);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s", PQerrorMessage(c));
    int n = PQntuples(r);
    for (int i = 0; i < n && i < max; i++)
        out[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    PQclear(r);
    return n < max ? n : max;
}

/*
 * Readers must never see seq N+1 before N. The fan-out hook, which runs in
 * the outbox's move after seq is drawn and before the commit, is slowed
 * (a random 0-5 ms) so that commits overlap; with the commit lock they
 * still become visible in seq order. Every read is checked to be
 * contiguous from base (a prefix of the final sequence, which is
 * contiguous too); a REST reader following after=<last seq seen> meets
 * every event once, in order.
 */
static void test_seq_visible_in_commit_order(void **state)
{
    (void)state;
    char *hook = db_str("SELECT pg_get_functiondef('ocppgw_events_committed(bigint, bigint)'::regprocedure)");
    db_exec("CREATE OR REPLACE FUNCTION ocppgw_events_committed(p_from bigint, p_to bigint) RETURNS void"
            " LANGUAGE sql AS $$ SELECT pg_sleep(random() * 0.005) $$");
    int64_t base = it_ev_last_seq();
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ .n = i };
        if (pthread_create(&th[i], NULL, writer_main, &w[i]) != 0)
            fail_msg("pthread_create");
    }
    enum { MAX = WRITERS * WRITES * 3 + 1000 };
    int64_t *seen = calloc(MAX, sizeof *seen);
    PGconn *c = connect_db();
    int reads = 0, longest = 0;
    int64_t rest_last = base;
    int rest_seen = 0;
    for (;;) {
        int running = 0;
        for (int i = 0; i < WRITERS; i++)
            running += !__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE);
        /* SQL: a prefix every time */
        int n = read_seqs(c, base, seen, MAX);
        for (int i = 0; i < n; i++)
            if (seen[i] != base + 1 + i)
                fail_msg("read %d sees seq %lld at position %d, want %lld: a later commit was visible before"
                         " an earlier seq", reads, (long long)seen[i], i, (long long)(base + 1 + i));
        if (n > longest)
            longest = n;
        reads++;
        /* REST: resume from the last seq seen, no gap */
        cJSON *page = events_after(rest_last, "");
        const cJSON *e;
        cJSON_ArrayForEach(e, page) {
            int64_t s = ji(e, "seq");
            if (s != rest_last + 1)
                fail_msg("GET /v1/events?after=%lld: seq %lld follows %lld", (long long)rest_last, (long long)s,
                         (long long)rest_last);
            rest_last = s;
            rest_seen++;
        }
        cJSON_Delete(page);
        if (!running)
            break;
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failed)
            fail_msg("writer %d: %s", i, w[i].error);
    }
    db_exec(hook);
    free(hook);
    int total = read_seqs(c, base, seen, MAX);
    for (int i = 0; i < total; i++)
        if (seen[i] != base + 1 + i)
            fail_msg("final sequence has a gap at %lld", (long long)seen[i]);
    int want = 0;
    for (int i = 0; i < WRITERS; i++)
        for (int k = 0; k < WRITES; k++)
            want += 1 + (k + i) % 3;
    if (total < want)
        fail_msg("%d events after base, want at least %d", total, want);
    cJSON *rest = events_after(rest_last, "");
    rest_seen += cJSON_GetArraySize(rest);
    cJSON_Delete(rest);
    if (rest_seen != total)
        fail_msg("the REST reader met %d events, the table has %d", rest_seen, total);
    print_message("%d reads while %d writers committed %d events\n", reads, WRITERS, total);
    PQfinish(c);
    free(seen);
}

/* ---------------------------------------------------------------- reading */

/* The items of this test's chargers and token (other tests' late writes may interleave). Caller deletes. */
static cJSON *mine(cJSON *all, const char *const *chargers, const char *tag)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, all) {
        const char *c = js(e, "chargerId"), *t = js(cJSON_GetObjectItemCaseSensitive(e, "data"), "idTag");
        bool keep = c ? false : (t && tag && strcmp(t, tag) == 0);
        for (size_t i = 0; c && chargers[i]; i++)
            keep |= strcmp(c, chargers[i]) == 0;
        if (keep)
            cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
    }
    cJSON_Delete(all);
    return out;
}

static const char *const filter_chargers[] = { "iev-fa", "iev-fb", NULL };

static void test_filters_paging_and_errors(void **state)
{
    (void)state;
    /* two chargers on two sites, a few events each */
    db_add_charger("iev-fa", NULL, 0);
    db_add_charger("iev-fb", NULL, 0);
    int64_t after = it_ev_last_seq();
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('iev-sa') WHERE id = 'iev-fa'");
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('iev-sb') WHERE id = 'iev-fb'");
    db_exec("UPDATE chargers SET name = 'a2' WHERE id = 'iev-fa'");
    db_exec("DELETE FROM tokens WHERE id_tag = 'ievfilter'");
    db_exec("INSERT INTO tokens (id_tag) VALUES ('ievfilter')");

    cJSON *all = mine(events_after(after, ""), filter_chargers, "ievfilter");
    assert_int_equal(cJSON_GetArraySize(all), 4);
    const cJSON *e;
    int64_t prev = after;
    cJSON_ArrayForEach(e, all) {
        api_check_schema(e, "Event");
        if (ji(e, "seq") <= prev)
            fail_msg("not oldest first by seq");
        prev = ji(e, "seq");
    }
    cJSON_Delete(all);

    struct { const char *q; int n; } cases[] = {
        { "chargerId=iev-fa", 2 },
        { "chargerIds=iev-fa,iev-fb", 3 },
        { "chargerIds[]=iev-fb", 1 },
        { "siteId=iev-sa", 2 },
        { "type=charger.*", 3 },
        { "type=token.*", 1 },
        { "type=charger.updated&chargerId=iev-fb", 1 },
        { "type=token.created,charger.deleted", 1 },
        { "type[]=token.created&type[]=charger.updated", 4 },
        { "from=2000-01-01T00:00:00Z", 4 },
        { "to=2000-01-01T00:00:00Z", 0 },
        { "from=2999-01-01T00:00:00Z", 0 },
        { "to=2999-01-01T00:00:00Z", 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *got = mine(events_after(after, cases[i].q), filter_chargers, "ievfilter");
        if (cJSON_GetArraySize(got) != cases[i].n) {
            char *t = cJSON_PrintUnformatted(got);
            fail_msg("?%s: %d events, want %d: %s", cases[i].q, cJSON_GetArraySize(got), cases[i].n, t);
        }
        cJSON_Delete(got);
    }

    /* from/to in the middle: the second and third event by createdAt */
    all = mine(events_after(after, ""), filter_chargers, "ievfilter");
    const char *t2 = js(cJSON_GetArrayItem(all, 1), "createdAt");
    const char *t4 = js(cJSON_GetArrayItem(all, 3), "createdAt");
    char *q = it_strf("from=%s&to=%s", t2, t4);
    cJSON *mid = mine(events_after(after, q), filter_chargers, "ievfilter");
    free(q);
    if (cJSON_GetArraySize(mid) < 1 || ji(cJSON_GetArrayItem(mid, 0), "seq") != ji(cJSON_GetArrayItem(all, 1), "seq"))
        fail_msg("from=<createdAt of the second> does not start at the second");
    cJSON_ArrayForEach(e, mid)
        if (ji(e, "seq") >= ji(cJSON_GetArrayItem(all, 3), "seq"))
            fail_msg("to=<createdAt of the fourth> lists the fourth");
    cJSON_Delete(mid);

    /* cursor pages of one, forwards (every event of the two chargers once) and back */
    int pages = 0;
    cJSON *walked = api_walk(PORT, admin, "/v1/events?perPage=1&chargerIds=iev-fa,iev-fb", 20, &pages);
    int64_t total = db_int("SELECT count(*) FROM events WHERE charger_id IN ('iev-fa', 'iev-fb')");
    assert_int_equal(cJSON_GetArraySize(walked), total);
    assert_int_equal(pages, total);
    prev = 0;
    cJSON_ArrayForEach(e, walked) {
        if (ji(e, "seq") <= prev)
            fail_msg("a cursor walk went back");
        prev = ji(e, "seq");
    }
    cJSON_Delete(walked);
    char *path;
    path = it_strf("/v1/events?perPage=2&chargerIds=iev-fa,iev-fb&after=%lld", (long long)after);
    struct api_resp *r = api_get(PORT, admin, path);
    free(path);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(api_expect(r, 200), "meta");
    char *next = it_strf("/v1/events?perPage=2&chargerIds=iev-fa,iev-fb&after=%s", js(meta, "after"));
    api_free(r);
    r = api_get(PORT, admin, next);
    free(next);
    const cJSON *p2 = api_expect(r, 200);
    assert_int_equal(cJSON_GetArraySize(api_data(p2)), 1);
    assert_int_equal(ji(cJSON_GetArrayItem(api_data(p2), 0), "seq"), ji(cJSON_GetArrayItem(all, 2), "seq"));
    char *back = it_strf("/v1/events?perPage=2&chargerIds=iev-fa,iev-fb&before=%s",
                         js(cJSON_GetObjectItemCaseSensitive(p2, "meta"), "before"));
    api_free(r);
    r = api_get(PORT, admin, back);
    free(back);
    const cJSON *p1 = api_expect(r, 200);
    assert_int_equal(cJSON_GetArraySize(api_data(p1)), 2);
    assert_int_equal(ji(cJSON_GetArrayItem(api_data(p1), 0), "seq"), ji(cJSON_GetArrayItem(all, 0), "seq"));
    assert_int_equal(ji(cJSON_GetArrayItem(api_data(p1), 1), "seq"), ji(cJSON_GetArrayItem(all, 1), "seq"));
    api_free(r);

    /* the single read is the list's item */
    const cJSON *first = cJSON_GetArrayItem(all, 0);
    path = it_strf("/v1/events/%s", js(first, "id"));
    r = api_get(PORT, admin, path);
    free(path);
    const cJSON *one = api_expect(r, 200);
    api_check_schema(one, "Event");
    if (!cJSON_Compare(one, first, true))
        fail_msg("GET /v1/events/{id} differs from the list's item");
    api_free(r);
    cJSON_Delete(all);

    r = api_get(PORT, admin, "/v1/events/01900000-0000-7000-8000-000000000000");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_get(PORT, admin, "/v1/events/not-a-uuid");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);

    static const struct api_bad bad[] = {
        { "type=session.strated", "type" },
        { "type=meter_values.*", "type" },
        { "type=*", "type" },
        { "type=", "type" },
        { "from=yesterday", "from" },
        { "to=2026-01-01", "to" },
        { "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to" },
        { "perPage=0", "perPage" },
        { "perPage=501", "perPage" },
        { "after=nonsense", "after" },
        { "after=1&before=2", "before" },
        { "sort=createdAt", "sort" },
        { "order=up", "order" },
        { "chargerId=", "chargerId" },
        { "siteId=", "siteId" },
        { "color=blue", "color" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/events", bad, API_COUNT(bad));
}

static void test_limited_keys(void **state)
{
    (void)state;
    db_add_charger("iev-ka", NULL, 0);
    db_add_charger("iev-kb", NULL, 0);
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('iev-ks') WHERE id = 'iev-kb'");
    int64_t after = it_ev_last_seq();
    db_exec("UPDATE chargers SET name = 'ka' WHERE id = 'iev-ka'");
    db_exec("UPDATE chargers SET name = 'kb' WHERE id = 'iev-kb'");
    db_exec("DELETE FROM tokens WHERE id_tag = 'ievkey'");
    db_exec("INSERT INTO tokens (id_tag) VALUES ('ievkey')");
    static const char *const key_chargers[] = { "iev-ka", "iev-kb", NULL };
    cJSON *all = mine(events_after(after, ""), key_chargers, "ievkey");
    assert_int_equal(cJSON_GetArraySize(all), 3);
    const char *id_a = js(cJSON_GetArrayItem(all, 0), "id");
    const char *id_b = js(cJSON_GetArrayItem(all, 1), "id");
    const char *id_t = js(cJSON_GetArrayItem(all, 2), "id");

    char *by_charger = api_key_create_limited("iev-key-a", "events:read", "iev-ka");
    char *by_site = api_key_create_limited("iev-key-s", "events:read", "iev-none");
    db_exec("UPDATE api_keys SET charger_ids = NULL, site_ids = '{iev-ks}' WHERE name = 'iev-key-s'");
    api_key_wait_known(PORT, by_charger);
    api_key_wait_known(PORT, by_site);

    struct { const char *key; const char *sees, *hidden; } who[] = {
        { by_charger, id_a, id_b },
        { by_site, id_b, id_a },
    };
    for (size_t i = 0; i < 2; i++) {
        char *path = it_strf("/v1/events?perPage=500&after=%lld", (long long)after);
        cJSON *seen = mine(api_walk(PORT, who[i].key, path, 10, NULL), key_chargers, "ievkey");
        free(path);
        if (cJSON_GetArraySize(seen) != 1 || strcmp(js(cJSON_GetArrayItem(seen, 0), "id"), who[i].sees) != 0) {
            char *t = cJSON_PrintUnformatted(seen);
            fail_msg("key %zu lists %s, want only its charger's event", i, t);
        }
        cJSON_Delete(seen);
        /* even when asking for the other charger by name */
        path = it_strf("/v1/events?after=%lld&chargerIds=iev-ka,iev-kb&type=charger.updated", (long long)after);
        seen = api_walk(PORT, who[i].key, path, 10, NULL);
        free(path);
        assert_int_equal(cJSON_GetArraySize(seen), 1);
        cJSON_Delete(seen);

        path = it_strf("/v1/events/%s", who[i].sees);
        struct api_resp *r = api_get(PORT, who[i].key, path);
        api_expect(r, 200);
        api_free(r);
        free(path);
        const char *other[] = { who[i].hidden, id_t };
        for (int k = 0; k < 2; k++) {
            path = it_strf("/v1/events/%s", other[k]);
            r = api_get(PORT, who[i].key, path);
            api_expect_error(r, 403, "ACCESS_FORBIDDEN");
            api_free(r);
            free(path);
        }
        r = api_get(PORT, who[i].key, "/v1/events/01900000-0000-7000-8000-000000000000");
        api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
        api_free(r);
    }
    /* another scope is not enough */
    char *sessions_only = api_key_create("iev-key-sessions", "sessions:read");
    api_key_wait_known(PORT, sessions_only);
    struct api_resp *r = api_get(PORT, sessions_only, "/v1/events");
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    free(sessions_only);
    free(by_charger);
    free(by_site);
    cJSON_Delete(all);
}

/* ---------------------------------------------------------------- retention */

static bool events_left(void *arg)
{
    const int64_t *want = arg;
    return db_int("SELECT count(*) FROM events WHERE charger_id = 'iev-old'") == *want;
}

/*
 * A second gateway with events.retention = 1 hour: 25,000 events two hours
 * old (more than two batches) all go, the ones of a minute ago stay; while
 * another process holds the claim, none goes.
 */
static void test_retention(void **state)
{
    (void)state;
    db_exec("DELETE FROM events WHERE charger_id = 'iev-old'");
    db_exec("INSERT INTO events (seq, id, type, created_at, charger_id, data)"
            " SELECT nextval('events_seq'), gen_random_uuid(), 'charger.updated', now() - interval '2 hours',"
            " 'iev-old', '{}' FROM generate_series(1, 25000)");
    db_exec("INSERT INTO events (seq, id, type, created_at, charger_id, data)"
            " SELECT nextval('events_seq'), gen_random_uuid(), 'charger.updated', now() - interval '1 minute',"
            " 'iev-old', '{}' FROM generate_series(1, 3)");
    /* another gateway is at it: this one must leave them alone */
    PGconn *holder = connect_db();
    exec_ok(holder, "SELECT pg_advisory_lock(7468201201)");
    struct gw_opts o = { .name = "it_events_retention", .ini = "[events]\nretention = 3600\n" };
    W.gw2 = gw_start(&o);
    it_pause(NULL, 3000);           /* its first run comes on its first tick with the store up */
    if (db_int("SELECT count(*) FROM events WHERE charger_id = 'iev-old'") != 25003)
        fail_msg("events deleted while another gateway held the claim");
    /* started again with the claim free: its first run deletes a batch, the backlog follows at once */
    assert_int_equal(gw_stop(W.gw2), 0);
    exec_ok(holder, "SELECT pg_advisory_unlock(7468201201)");
    PQfinish(holder);
    gw_restart(W.gw2);
    int64_t want = 3;
    if (!wait_until(NULL, events_left, &want, IT_WAIT_MS))
        fail_msg("%lld events left, want the 3 recent ones",
                 (long long)db_int("SELECT count(*) FROM events WHERE charger_id = 'iev-old'"));
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE charger_id = 'iev-old'"
                            " AND created_at > now() - interval '10 minutes'"), 3);
}

int main(void)
{
    static const struct CMUnitTest others[] = {
        cmocka_unit_test_setup_teardown(test_drift_is_caught, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_non_events_emit_nothing, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_cli_and_sql_emit, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_session_updated_at_most_once_per_interval, it_test_setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_no_event, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_seq_visible_in_commit_order, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_filters_paging_and_errors, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_limited_keys, it_test_setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_retention, it_test_setup, it_test_teardown),
    };
    return it_ev_run_group("it_events", "test_event", test_event_case, it_test_setup, it_test_teardown, others,
                           sizeof others / sizeof others[0], group_setup, api_group_teardown);
}
