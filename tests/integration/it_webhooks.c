/*
 * Integration: webhook endpoints and their deliveries (events.md,
 * "Webhooks"), through the REST API and a real receiver
 * (support/receiver.c) that checks Standard Webhooks signatures the way an
 * integrator's would. Events are emitted with SQL (ocppgw_event, committed
 * like the store's) so the tests do not depend on which component emits
 * which type.
 *
 * The file's gateway runs with webhooks.allow_private = true (the receiver
 * is on 127.0.0.1), webhooks.timeout = 2 and a retry schedule of 1 s steps
 * (webhooks.retry_schedule, the test knob), so retries come within seconds;
 * one test runs a second gateway without allow_private. Charger ids start
 * with "wh-"; every test starts with no endpoint.
 *
 * First, every event type: the table of support/event_cases.c, one test
 * per case ("test_event_webhook <case>"), the charger or REST call made and
 * its event read back from the body of a delivery to an endpoint
 * subscribed to "*" and meter_values.received, on a receiver of its own
 * that verifies each signature with the endpoint's secret and refuses
 * (401) what does not verify; the runner then checks the body like the
 * collection's event (it_events.c). Those charger ids and tags start with
 * "iwh".
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calls.h"
#include "db.h"
#include "event_cases.h"
#include "event_types.h"
#include "fixture.h"
#include "gw.h"
#include "receiver.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define FAST "[rest]\nrate_per_second = 1000000\nrate_burst = 10000000\n" \
             "[webhooks]\ntimeout = 2\nretry_schedule = 1,1,1,1,1,1,1,1,1,1,1,1\n"
#define INI FAST "allow_private = true\n"

static char *admin;
static struct rcv *R;
static struct rcv *CR;          /* the event cases' receiver */

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM webhook_endpoints");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'wh-%'");
    admin = api_key_create("wh-admin", "admin");
    struct gw_opts o = { .name = "it_webhooks", .ini = INI };
    W.gw = gw_start(&o);
    R = rcv_start();
    CR = rcv_start();
    rcv_reject_unverified(CR, true);
    return 0;
}

static int group_teardown(void **state)
{
    rcv_free(CR);
    rcv_free(R);
    free(admin);
    return it_group_teardown(state);
}

/* Every test: no endpoint, a receiver that answers 200 and listens. */
static int setup(void **state)
{
    db_exec("DELETE FROM webhook_endpoints");
    rcv_up(R);
    rcv_answer(R, 200, NULL);
    rcv_answer_charger(R, NULL, 0);
    rcv_hang(R, false);
    /* a delivery the previous test left in flight lands before this one starts */
    for (int n = -1; n != rcv_count(R);) {
        n = rcv_count(R);
        usleep(300000);
    }
    rcv_reset(R);
    rcv_secrets(R, NULL, NULL);
    return it_test_setup(state);
}

/* ---------------------------------------------------------------- helpers */

struct ep {
    char id[40];
    char secret[80];
};

/* POST /v1/webhook-endpoints with key (admin when NULL) and body; fails unless 201. */
static struct ep create_with(const char *key, const char *body)
{
    struct api_resp *r = api_post(PORT, key ? key : admin, "/v1/webhook-endpoints", body);
    const cJSON *o = api_expect(r, 201);
    api_check_schema(o, "WebhookEndpointCreated");
    struct ep e;
    snprintf(e.id, sizeof e.id, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(e.secret, sizeof e.secret, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "secret")));
    api_free(r);
    return e;
}

/* An endpoint on the receiver for these types (a JSON array), its secret given to the receiver. */
static struct ep create(const char *types)
{
    char *url = rcv_url(R, "/hook");
    char *body = it_strf("{\"url\":\"%s\",\"types\":%s}", url, types);
    struct ep e = create_with(NULL, body);
    rcv_secrets(R, e.secret, NULL);
    free(body);
    free(url);
    return e;
}

/* A committed event of that type and charger; its id (caller frees). */
static char *emit(const char *type, const char *charger)
{
    char *id = db_str("SELECT ocppgw_event($1, $2, now(), jsonb_build_object('n', 1, 'charger', $2::text))::text",
                      type, charger);
    if (!id)
        fail_msg("event %s of %s was not stored", type, charger);
    return id;
}

static int64_t deliveries(const char *endpoint, const char *cond)
{
    char *sql = it_strf("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1::uuid AND %s", cond);
    int64_t n = db_int(sql, endpoint);
    free(sql);
    return n;
}

static int64_t wait_deliveries(const char *endpoint, const char *cond, int64_t want)
{
    char *sql = it_strf("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1::uuid AND %s", cond);
    int64_t n = db_wait_int(IT_WAIT_MS, want, sql, endpoint);
    free(sql);
    return n;
}

static void expect_ok(int n)
{
    if (!rcv_wait_ok(R, n, IT_WAIT_MS))
        fail_msg("the receiver got %d signed 2xx deliveries (%d requests), expected %d", rcv_count_ok(R),
                 rcv_count(R), n);
}

/* ---------------------------------------------------------------- every event type */

/*
 * One endpoint on CR for all cases, made by the first and again by a case
 * that finds it gone (every other test's setup deletes the endpoints), its
 * secret given to CR.
 */
static char case_endpoint[40];

static int case_setup(void **state)
{
    if (!case_endpoint[0] || db_int("SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid", case_endpoint) != 1) {
        char *url = rcv_url(CR, "/cases");
        char *body = it_strf("{\"url\":\"%s\",\"types\":[\"*\",\"" IT_EV_NAMED_ONLY "\"]}", url);
        struct ep e = create_with(NULL, body);
        rcv_secrets(CR, e.secret, NULL);
        snprintf(case_endpoint, sizeof case_endpoint, "%s", e.id);
        free(body);
        free(url);
    }
    rcv_reset(CR);
    return it_test_setup(state);
}

/*
 * The body of the delivery the run waits for, once it came: webhook-id the
 * event's id, the headers events.md names. Any delivery CR refused (the
 * endpoint's secret does not verify it, its timestamp is off) fails the
 * case at once: a refused event also holds back its charger's later ones.
 */
static cJSON *webhook_find(void *ctx, const struct it_ev_run *run)
{
    struct rcv *r = ctx;
    struct rcv_hit h;
    for (int i = 0; rcv_hit(r, i, &h); i++) {
        if (h.answered != 200)
            fail_msg("%s: the receiver refused (%d) the delivery of %s (%s) signed \"%s\" at %lld: the endpoint's"
                     " secret does not verify it, or its timestamp is off", run->c->name, h.answered, h.type,
                     h.charger, h.signature, (long long)h.ts);
        cJSON *b = cJSON_Parse(h.body);
        if (!b || !it_ev_matches(run, b)) {
            cJSON_Delete(b);
            rcv_hit_clear(&h);
            continue;
        }
        const char *id = js(b, "id");
        if (!id || strcmp(h.id, id) != 0)
            fail_msg("%s: webhook-id %s, the event's id %s", run->c->name, h.id, id ? id : "(none)");
        if (strcmp(h.content_type, "application/json") != 0 || strncmp(h.user_agent, "ocppgw/", 7) != 0)
            fail_msg("%s: content-type %s, user-agent %s", run->c->name, h.content_type, h.user_agent);
        rcv_hit_clear(&h);
        return b;
    }
    return NULL;
}

static void test_event_webhook_case(void **state)
{
    const struct it_ev_case *c = *state;
    struct it_ev_env env = { .port = PORT, .key = admin, .sim = W.sim, .prefix = "iwh" };
    struct it_ev_reader reader = { .find = webhook_find, .ctx = CR, .schema = "WebhookEvent" };
    it_ev_run_case(c, &env, &reader);
}

/* ---------------------------------------------------------------- CRUD and the secret */

static void test_crud_secret_shown_once_and_replay_null(void **state)
{
    (void)state;
    char *audit_mark = db_str("SELECT coalesce(max(id), 0)::text FROM audit_log");     /* the event cases' came before */
    char *url = rcv_url(R, "/crud");
    char *body = it_strf("{\"url\":\"%s\",\"types\":[\"session.*\",\"connector.status_changed\"],"
                         "\"description\":\"billing\"}", url);
    const char *hdrs[] = { "Idempotency-Key: wh-crud-1", NULL };
    struct api_req q = { .method = "POST", .path = "/v1/webhook-endpoints", .key = admin, .body = body,
                         .headers = hdrs };
    struct api_resp *r = api_send(PORT, &q);
    const cJSON *o = api_expect(r, 201);
    api_check_schema(o, "WebhookEndpointCreated");
    const char *secret = cJSON_GetStringValue(cJSON_GetObjectItem(o, "secret"));
    assert_non_null(secret);
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    assert_int_equal(strlen(secret), 6 + 44);
    char id[40];
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    char *loc = it_strf("/v1/webhook-endpoints/%s", id);
    assert_string_equal(api_header(r, "Location"), loc);
    api_check_str(o, "description", "billing");
    api_check_bool(o, "enabled", true);
    char *secret_copy = strdup(secret);
    api_free(r);

    /* the same request again: the same endpoint, its secret null, nothing made twice */
    r = api_send(PORT, &q);
    o = api_expect(r, 201);
    api_check_str(o, "id", id);
    api_check_null(o, "secret");
    assert_string_equal(api_header(r, "Idempotent-Replayed"), "true");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM webhook_endpoints"), 1);
    /* the record never kept it, nor did the audit log or the gateway's log */
    assert_int_equal(db_int("SELECT count(*) FROM idempotency_keys WHERE response_body LIKE '%whsec_%'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE detail::text LIKE '%whsec_%'"), 0);
    assert_false(gw_log_contains(W.gw, secret_copy + 6));

    /* never shown again */
    r = api_get(PORT, admin, loc);
    o = api_expect(r, 200);
    api_check_schema(o, "WebhookEndpoint");
    assert_null(cJSON_GetObjectItem(o, "secret"));
    api_free(r);
    r = api_get(PORT, admin, "/v1/webhook-endpoints");
    o = api_expect(r, 200);
    api_check_schema(o, "WebhookEndpointList");
    assert_int_equal(api_count_with(api_data(o), "id", id), 1);
    assert_false(strstr(r->body, "whsec_"));
    api_free(r);

    r = api_patch(PORT, admin, loc, "{\"types\":[\"*\"],\"description\":null}");
    o = api_expect(r, 200);
    api_check_schema(o, "WebhookEndpoint");
    api_check_null(o, "description");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "types"), 0)), "*");
    api_free(r);

    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE action = 'webhook_endpoint.create' AND result = 'ok'"
                            " AND id > $1::bigint", audit_mark), 1);     /* the replay wrote none */
    r = api_delete(PORT, admin, loc);
    api_expect(r, 204);
    api_free(r);
    r = api_get(PORT, admin, loc);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_get(PORT, admin, "/v1/webhook-endpoints/not-a-uuid");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(audit_mark);
    free(secret_copy);
    free(loc);
    free(body);
    free(url);
}

static void test_invalid_bodies_are_422(void **state)
{
    (void)state;
    static const struct api_bad cases[] = {
        { "{\"url\":\"ftp://h/x\",\"types\":[\"*\"]}", "url" },
        { "{\"url\":\"file:///etc/passwd\",\"types\":[\"*\"]}", "url" },
        { "{\"url\":\"http://\",\"types\":[\"*\"]}", "url" },
        { "{\"url\":\"http://a b/\",\"types\":[\"*\"]}", "url" },
        { "{\"types\":[\"*\"]}", "url" },
        { "{\"url\":\"https://h/x\",\"types\":[]}", "types" },
        { "{\"url\":\"https://h/x\",\"types\":[\"session.stoped\"]}", "types" },
        { "{\"url\":\"https://h/x\",\"types\":[\"meter_values.*\"]}", "types" },
        { "{\"url\":\"https://h/x\"}", "types" },
        { "{\"url\":\"https://h/x\",\"types\":[\"*\"],\"enabled\":\"yes\"}", "enabled" },
        { "{\"url\":\"https://h/x\",\"types\":[\"*\"],\"secret\":\"mine\"}", "secret" },
    };
    api_expect_bad_bodies(PORT, admin, "POST", "/v1/webhook-endpoints", cases, API_COUNT(cases));
    assert_int_equal(db_int("SELECT count(*) FROM webhook_endpoints"), 0);
}

static void test_restricted_key(void **state)
{
    (void)state;
    char *k = api_key_create_limited("wh-limited", "webhooks:write", "wh-A,wh-B");
    api_key_wait_known(PORT, k);
    char *url = rcv_url(R, "/limited");
    /* no chargers named: the key's */
    char *body = it_strf("{\"url\":\"%s\",\"types\":[\"*\"]}", url);
    struct api_resp *r = api_post(PORT, k, "/v1/webhook-endpoints", body);
    const cJSON *o = api_expect(r, 201);
    const cJSON *ids = cJSON_GetObjectItem(o, "chargerIds");
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(ids, 0)), "wh-A");
    char id[40];
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    rcv_secrets(R, cJSON_GetStringValue(cJSON_GetObjectItem(o, "secret")), NULL);
    api_free(r);
    free(body);
    /* a charger outside the key: 403 */
    body = it_strf("{\"url\":\"%s\",\"types\":[\"*\"],\"chargerIds\":[\"wh-A\",\"wh-C\"]}", url);
    r = api_post(PORT, k, "/v1/webhook-endpoints", body);
    api_expect_error_naming(r, 403, "ACCESS_FORBIDDEN", "wh-C");
    api_free(r);
    free(body);
    /* the admin's endpoints are not the limited key's to see */
    struct ep mine = create("[\"*\"]");
    char *path = it_strf("/v1/webhook-endpoints/%s", mine.id);
    r = api_get(PORT, k, path);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_delete(PORT, k, path);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_get(PORT, k, "/v1/webhook-endpoints");
    o = api_expect(r, 200);
    assert_int_equal(cJSON_GetArraySize(api_data(o)), 1);
    api_free(r);
    free(path);
    /* the limited key's endpoint only ever gets its chargers' events, even with the filter widened */
    path = it_strf("/v1/webhook-endpoints/%s", id);
    r = api_patch(PORT, admin, path, "{\"chargerIds\":null}");
    api_expect(r, 200);
    api_free(r);
    free(emit("charger.updated", "wh-C"));
    free(emit("charger.updated", "wh-A"));
    assert_int_equal(deliveries(id, "charger_id = 'wh-C'"), 0);
    assert_int_equal(deliveries(id, "charger_id = 'wh-A'"), 1);
    assert_int_equal(deliveries(mine.id, "true"), 2);
    free(path);
    free(url);
    free(k);
}

/* ---------------------------------------------------------------- delivery */

static void test_delivery_is_signed_and_is_the_event(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    char *other = emit("session.started", "wh-A");        /* not subscribed */
    char *id = emit("charger.updated", "wh-A");
    expect_ok(1);
    struct rcv_hit h;
    assert_true(rcv_hit(R, 0, &h));
    assert_string_equal(h.id, id);                         /* webhook-id = the event id */
    assert_int_equal(h.nsigs, 1);
    assert_int_equal(h.valid, 1);
    assert_int_equal(strncmp(h.user_agent, "ocppgw/", 7), 0);
    assert_string_equal(h.content_type, "application/json");
    int64_t now = (int64_t)time(NULL);
    assert_true(h.ts > now - 120 && h.ts < now + 120);
    assert_string_equal(h.type, "charger.updated");
    assert_string_equal(h.charger, "wh-A");
    /* the body is the stored event */
    assert_int_equal(h.seq, db_int("SELECT seq FROM events WHERE id = $1::uuid", id));
    cJSON *b = cJSON_Parse(h.body);
    api_check_str(b, "id", id);
    api_check_int(cJSON_GetObjectItem(b, "data"), "n", 1);
    api_check_null(b, "siteId");
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(b, "createdAt")));
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(b, "occurredAt")));
    api_check_schema(b, "WebhookEvent");
    /* exactly what GET /v1/events/{id} answers */
    char *path = it_strf("/v1/events/%s", id);
    struct api_resp *r = api_get(PORT, admin, path);
    const cJSON *got = api_expect(r, 200);
    if (!cJSON_Compare(got, b, true))
        fail_msg("delivered %s\nGET answers %s", h.body, r->body);
    api_free(r);
    free(path);
    cJSON_Delete(b);
    rcv_hit_clear(&h);
    assert_int_equal(wait_deliveries(e.id, "state = 'delivered' AND status_code = 200 AND attempt = 1", 1), 1);
    assert_int_equal(deliveries(e.id, "true"), 1);
    usleep(300000);
    assert_int_equal(rcv_count(R), 1);                     /* session.started never came */
    free(other);
    free(id);
}

static void test_rotate_signs_with_both_secrets_for_a_day(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    char *path = it_strf("/v1/webhook-endpoints/%s/rotate-secret", e.id);
    const char *hdrs[] = { "Idempotency-Key: wh-rotate-1", NULL };
    struct api_req q = { .method = "POST", .path = path, .key = admin, .headers = hdrs };
    struct api_resp *r = api_send(PORT, &q);
    const cJSON *o = api_expect(r, 200);
    api_check_schema(o, "WebhookEndpointCreated");
    char fresh[80];
    snprintf(fresh, sizeof fresh, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "secret")));
    assert_string_not_equal(fresh, e.secret);
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(o, "previousSecretExpiresAt")));
    api_free(r);
    r = api_send(PORT, &q);                                 /* replayed: no second rotation, no secret */
    o = api_expect(r, 200);
    api_check_null(o, "secret");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid"
                            " AND previous_secret_until BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'",
                            e.id), 1);

    rcv_secrets(R, fresh, e.secret);
    free(emit("charger.updated", "wh-A"));
    expect_ok(1);
    struct rcv_hit h;
    assert_true(rcv_hit(R, 0, &h));
    assert_int_equal(h.nsigs, 2);
    assert_int_equal(h.valid, 3);                          /* the new secret and the old one */
    rcv_hit_clear(&h);

    /* a day later the old one signs no more */
    db_exec("UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second' WHERE id = $1::uuid",
            e.id);
    free(emit("charger.updated", "wh-A"));
    expect_ok(2);
    assert_true(rcv_hit(R, 1, &h));
    assert_int_equal(h.nsigs, 1);
    assert_int_equal(h.valid, 1);
    rcv_hit_clear(&h);
    free(path);
}

/* The seqs of charger's 2xx deliveries at the receiver are strictly increasing; returns how many. */
static int check_order(const char *charger)
{
    int n = 0;
    int64_t last = -1;
    struct rcv_hit h;
    for (int i = 0; rcv_hit(R, i, &h); i++) {
        if (strcmp(h.charger, charger) == 0 && h.answered == 200) {
            if (h.seq <= last)
                fail_msg("%s: seq %lld delivered after %lld", charger, (long long)h.seq, (long long)last);
            last = h.seq;
            n++;
        }
        rcv_hit_clear(&h);
    }
    return n;
}

static void test_receiver_down_then_up_in_order_per_charger(void **state)
{
    (void)state;
    struct ep e = create("[\"*\"]");
    rcv_down(R);
    for (int i = 0; i < 3; i++) {
        free(emit("charger.updated", "wh-A"));
        free(emit("charger.updated", "wh-B"));
    }
    /* each lane's head is retried; the events behind it wait, untried */
    assert_int_equal(wait_deliveries(e.id, "attempt >= 2", 2), 2);
    assert_int_equal(deliveries(e.id, "attempt >= 2 AND event_seq IN (SELECT min(event_seq) FROM webhook_deliveries"
                                      " WHERE endpoint_id = $1::uuid GROUP BY charger_id)"), 2);
    assert_int_equal(deliveries(e.id, "attempt = 0"), 4);
    assert_int_equal(deliveries(e.id, "error LIKE '%onnect%'"), 2);
    rcv_up(R);
    expect_ok(6);
    assert_int_equal(wait_deliveries(e.id, "state = 'delivered'", 6), 6);
    assert_int_equal(check_order("wh-A"), 3);
    assert_int_equal(check_order("wh-B"), 3);
    assert_int_equal(rcv_distinct_ok(R), 6);

    /* one charger's failing event does not hold the others back */
    rcv_reset(R);
    rcv_answer_charger(R, "wh-A", 500);
    free(emit("charger.updated", "wh-A"));
    free(emit("charger.updated", "wh-B"));
    free(emit("charger.booted", "wh-B"));
    expect_ok(2);
    assert_true(wait_deliveries(e.id, "charger_id = 'wh-A' AND state = 'pending' AND status_code = 500", 1) == 1);
    rcv_answer_charger(R, NULL, 0);
    expect_ok(3);
    assert_int_equal(wait_deliveries(e.id, "state = 'delivered'", 9), 9);
}

static void test_gone_disables_the_endpoint(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    rcv_answer(R, 410, NULL);
    /* two events of one charger in one commit: the second waits behind the first */
    db_exec("SELECT ocppgw_event('charger.updated', 'wh-A', now(), '{}'::jsonb),"
            " ocppgw_event('charger.booted', 'wh-A', now(), '{}'::jsonb)");
    assert_int_equal(db_wait_int(IT_WAIT_MS, 0, "SELECT enabled::int FROM webhook_endpoints WHERE id = $1::uuid", e.id),
                     0);
    assert_int_equal(wait_deliveries(e.id, "state = 'failed'", 2), 2);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE action = 'webhook_endpoint.disable'"
                                                " AND resource = $1 AND detail->>'reason' LIKE '%410%'", e.id), 1);
    char *path = it_strf("/v1/webhook-endpoints/%s", e.id);
    struct api_resp *r = api_get(PORT, admin, path);
    const cJSON *o = api_expect(r, 200);
    api_check_bool(o, "enabled", false);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(o, "disabledReason")), "410"));
    api_free(r);
    assert_int_equal(rcv_count(R), 1);                     /* the second was never sent */
    free(emit("charger.updated", "wh-A"));
    assert_int_equal(deliveries(e.id, "true"), 2);
    /* enabling starts afresh */
    r = api_patch(PORT, admin, path, "{\"enabled\":true}");
    o = api_expect(r, 200);
    api_check_null(o, "disabledReason");
    api_free(r);
    free(path);
}

/* webhooks.disable_after (5 days): an endpoint whose attempts all failed that long is disabled at the next failure */
static void test_days_of_failures_disable_the_endpoint(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    rcv_answer(R, 500, NULL);
    free(emit("charger.updated", "wh-A"));
    assert_int_equal(wait_deliveries(e.id, "attempt >= 1 AND status_code = 500", 1), 1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid"
                                                " AND failing_since IS NOT NULL AND enabled", e.id), 1);
    /* five days pass with nothing but failures */
    db_exec("UPDATE webhook_endpoints SET failing_since = now() - interval '5 days 1 minute' WHERE id = $1::uuid",
            e.id);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 0, "SELECT enabled::int FROM webhook_endpoints WHERE id = $1::uuid", e.id),
                     0);
    assert_int_equal(db_int("SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid"
                            " AND disabled_reason LIKE 'every delivery failed for 432000 s'", e.id), 1);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM audit_log WHERE action = 'webhook_endpoint.disable'"
                                                " AND resource = $1", e.id), 1);
    assert_int_equal(wait_deliveries(e.id, "state = 'failed'", 1), 1);

    /* a success in between starts the count again */
    struct ep f = create("[\"charger.*\"]");
    rcv_answer(R, 200, NULL);
    db_exec("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1::uuid", f.id);
    free(emit("charger.updated", "wh-A"));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM webhook_endpoints WHERE id = $1::uuid"
                                                " AND failing_since IS NULL AND enabled", f.id), 1);
}

static void test_retry_after_and_failed_after_the_schedule(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    rcv_answer(R, 503, "0");
    free(emit("charger.updated", "wh-A"));
    /* 12 retries of 1 s: failed after the 13th attempt, with the last status and body */
    assert_int_equal(db_wait_int(40000, 1, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1::uuid"
                                           " AND state = 'failed'", e.id), 1);
    assert_int_equal(deliveries(e.id, "attempt = 13 AND status_code = 503 AND response_body = 'received'"
                                      " AND error = 'HTTP 503'"), 1);
    assert_int_equal(rcv_count(R), 13);
}

/* ---------------------------------------------------------------- deliveries log, redeliver, test */

static void test_deliveries_log_and_redeliver(void **state)
{
    (void)state;
    struct ep e = create("[\"charger.*\"]");
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = emit("charger.updated", "wh-A");
    expect_ok(3);
    assert_int_equal(wait_deliveries(e.id, "state = 'delivered'", 3), 3);
    char *path = it_strf("/v1/webhook-endpoints/%s/deliveries", e.id);
    struct api_resp *r = api_get(PORT, admin, path);
    const cJSON *o = api_expect(r, 200);
    api_check_schema(o, "WebhookDeliveryList");
    const cJSON *first = cJSON_GetArrayItem(api_data(o), 0);
    api_check_str(first, "eventId", ids[2]);               /* newest first */
    api_check_str(first, "state", "delivered");
    api_check_int(first, "statusCode", 200);
    api_check_int(first, "attempt", 1);
    api_check_str(first, "type", "charger.updated");
    api_check_null(first, "nextAttemptAt");
    api_free(r);
    char *paged = it_strf("%s?perPage=1", path);
    cJSON *all = api_walk(PORT, admin, paged, 10, NULL);
    assert_int_equal(cJSON_GetArraySize(all), 3);
    cJSON_Delete(all);
    char *failed = it_strf("%s?state=failed", path);
    r = api_get(PORT, admin, failed);
    assert_int_equal(cJSON_GetArraySize(api_data(api_expect(r, 200))), 0);
    api_free(r);

    /* again, now */
    char *re = it_strf("/v1/events/%s/redeliver", ids[0]);
    char *body = it_strf("{\"endpointId\":\"%s\"}", e.id);
    r = api_post(PORT, admin, re, body);
    o = api_expect(r, 202);
    api_check_schema(o, "WebhookDelivery");
    api_check_str(o, "eventId", ids[0]);
    api_check_str(o, "state", "pending");
    api_free(r);
    expect_ok(4);
    struct rcv_hit h;
    assert_true(rcv_hit(R, 3, &h));
    assert_string_equal(h.id, ids[0]);
    rcv_hit_clear(&h);
    char *by_event = it_strf("%s?eventId=%s", path, ids[0]);
    assert_int_equal(db_wait_int(IT_WAIT_MS, 2, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1::uuid"
                                                " AND state = 'delivered' AND event_seq = (SELECT seq FROM events"
                                                " WHERE id = $2::uuid)", e.id, ids[0]), 2);
    r = api_get(PORT, admin, by_event);
    assert_int_equal(cJSON_GetArraySize(api_data(api_expect(r, 200))), 2);
    api_free(r);
    /* unknown event, unknown endpoint, no endpoint */
    r = api_post(PORT, admin, "/v1/events/01000000-0000-7000-8000-000000000000/redeliver", body);
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "eventId");
    api_free(r);
    r = api_post(PORT, admin, re, "{\"endpointId\":\"01000000-0000-7000-8000-000000000000\"}");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "endpointId");
    api_free(r);
    r = api_post(PORT, admin, re, "{}");
    api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", "endpointId");
    api_free(r);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
    free(by_event);
    free(re);
    free(body);
    free(failed);
    free(paged);
    free(path);
}

static void test_test_delivery_answers_the_result(void **state)
{
    (void)state;
    struct ep e = create("[\"session.*\"]");
    char *path = it_strf("/v1/webhook-endpoints/%s/test", e.id);
    struct api_resp *r = api_post(PORT, admin, path, NULL);
    const cJSON *o = api_expect(r, 200);
    api_check_schema(o, "WebhookTestResult");
    api_check_bool(o, "delivered", true);
    api_check_int(o, "statusCode", 200);
    api_check_str(o, "responseBody", "received");
    api_check_null(o, "error");
    char event_id[40];
    snprintf(event_id, sizeof event_id, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "eventId")));
    api_free(r);
    struct rcv_hit h;
    assert_true(rcv_hit(R, 0, &h));
    assert_string_equal(h.type, "webhook.test");
    assert_string_equal(h.id, event_id);
    assert_int_equal(h.valid, 1);
    assert_int_equal(h.seq, 0);
    rcv_hit_clear(&h);

    rcv_answer(R, 500, NULL);
    r = api_post(PORT, admin, path, NULL);
    o = api_expect(r, 200);
    api_check_bool(o, "delivered", false);
    api_check_int(o, "statusCode", 500);
    api_check_str(o, "error", "HTTP 500");
    api_free(r);
    rcv_down(R);
    r = api_post(PORT, admin, path, NULL);
    o = api_expect(r, 200);
    api_check_bool(o, "delivered", false);
    api_check_null(o, "statusCode");
    api_free(r);
    assert_int_equal(db_int("SELECT count(*) FROM events WHERE type = 'webhook.test'"), 0);
    r = api_post(PORT, admin, "/v1/webhook-endpoints/01000000-0000-7000-8000-000000000000/test", NULL);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    free(path);
}

/* ---------------------------------------------------------------- meter values, matching */

static void test_meter_values_stored_only_while_named(void **state)
{
    (void)state;
    const char *sql = "SELECT count(*) FROM (SELECT ocppgw_event('meter_values.received', 'wh-M', now(), '{}'::jsonb) x) s"
                      " WHERE x IS NOT NULL";
    assert_int_equal(db_int(sql), 0);
    struct ep all = create("[\"*\"]");
    assert_int_equal(db_int(sql), 0);                      /* no wildcard asks for them */
    struct ep mv = create("[\"meter_values.received\"]");
    assert_int_equal(db_int(sql), 1);
    assert_int_equal(deliveries(mv.id, "true"), 1);
    assert_int_equal(deliveries(all.id, "true"), 0);
    char *path = it_strf("/v1/webhook-endpoints/%s", mv.id);
    struct api_resp *r = api_patch(PORT, admin, path, "{\"enabled\":false}");
    api_check_str(api_expect(r, 200), "disabledReason", "disabled through the API");
    api_free(r);
    assert_int_equal(db_int(sql), 0);
    free(path);
}

static void test_sql_matching_is_the_c_rule(void **state)
{
    (void)state;
    static const char *const patterns[] = { "*", "session.*", "charger.*", "meter_values.received", "token.created",
                                            "connector.*", "security.event", "command.*" };
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++)
        for (size_t t = 0; event_types[t]; t++) {
            char *arr = it_strf("{%s}", patterns[p]);
            int64_t sql = db_int("SELECT ocppgw_webhook_type_matches($1::text[], $2)::int", arr, event_types[t]);
            if (sql != event_type_matches(patterns[p], event_types[t]))
                fail_msg("%s vs %s: SQL %lld, C %d", patterns[p], event_types[t], (long long)sql,
                         event_type_matches(patterns[p], event_types[t]));
            free(arr);
        }
}

/* ---------------------------------------------------------------- safety, crashes */

static void test_private_destination_refused_without_allow_private(void **state)
{
    (void)state;
    gw_stop(W.gw);                                          /* only the strict gateway delivers */
    struct gw_opts o = { .name = "it_webhooks_strict", .ini = FAST };
    W.gw2 = gw_start(&o);
    char *url = rcv_url(R, "/private");
    char *body = it_strf("{\"url\":\"%s\",\"types\":[\"*\"]}", url);
    struct api_resp *r = api_post(gw_port(W.gw2), admin, "/v1/webhook-endpoints", body);
    const cJSON *c = api_expect(r, 201);
    char id[40];
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "id")));
    rcv_secrets(R, cJSON_GetStringValue(cJSON_GetObjectItem(c, "secret")), NULL);
    api_free(r);
    free(emit("charger.updated", "wh-A"));
    assert_int_equal(wait_deliveries(id, "attempt >= 1 AND error LIKE '%refused: 127.0.0.1 is a loopback address%'", 1),
                     1);
    char *test = it_strf("/v1/webhook-endpoints/%s/test", id);
    r = api_post(gw_port(W.gw2), admin, test, NULL);
    c = api_expect(r, 200);
    api_check_bool(c, "delivered", false);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(c, "error")), "loopback"));
    api_free(r);
    assert_int_equal(rcv_count(R), 0);
    assert_int_equal(gw_free(W.gw2), 0);
    W.gw2 = NULL;
    gw_restart(W.gw);
    /* the permissive gateway delivers it */
    expect_ok(1);
    free(test);
    free(body);
    free(url);
}

static void test_kill9_with_deliveries_pending_loses_none(void **state)
{
    (void)state;
    struct ep e = create("[\"*\"]");
    rcv_hang(R, true);                                      /* in flight, never answered */
    static const char *const chargers[] = { "wh-K1", "wh-K2", "wh-K3", "wh-K4", "wh-K5" };
    for (int i = 0; i < 20; i++)
        free(emit("charger.updated", chargers[i % 5]));
    assert_int_equal(wait_deliveries(e.id, "claimed_by IS NOT NULL", 5), 5);
    gw_kill9(W.gw);
    rcv_hang(R, false);
    rcv_down(R);                                            /* drop the held connections */
    rcv_up(R);
    gw_restart(W.gw);
    /* the leases run out (timeout + 5 s) and the restarted gateway delivers everything */
    if (!rcv_wait_ok(R, 20, 60000))
        fail_msg("%d of 20 delivered after the restart", rcv_distinct_ok(R));
    int64_t until = it_now_ms() + IT_WAIT_MS;
    while (rcv_distinct_ok(R) < 20 && it_now_ms() < until)
        usleep(50000);
    assert_int_equal(rcv_distinct_ok(R), 20);
    assert_int_equal(wait_deliveries(e.id, "state = 'delivered'", 20), 20);
    for (int i = 0; i < 5; i++)
        check_order(chargers[i]);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud_secret_shown_once_and_replay_null, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_bodies_are_422, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_restricted_key, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_delivery_is_signed_and_is_the_event, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_signs_with_both_secrets_for_a_day, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_receiver_down_then_up_in_order_per_charger, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_gone_disables_the_endpoint, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_days_of_failures_disable_the_endpoint, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_and_failed_after_the_schedule, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_deliveries_log_and_redeliver, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_test_delivery_answers_the_result, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_meter_values_stored_only_while_named, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_sql_matching_is_the_c_rule, setup, it_test_teardown),
        cmocka_unit_test_setup_teardown(test_private_destination_refused_without_allow_private, setup,
                                        it_test_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_with_deliveries_pending_loses_none, setup, it_test_teardown),
    };
    /* IT_FILTER=test_gone* runs only the matching tests (a planted bug's check) */
    if (getenv("IT_FILTER"))
        cmocka_set_test_filter(getenv("IT_FILTER"));
    return it_ev_run_group("it_webhooks", "test_event_webhook", test_event_webhook_case, case_setup,
                           it_test_teardown, tests, sizeof tests / sizeof tests[0], group_setup, group_teardown);
}
