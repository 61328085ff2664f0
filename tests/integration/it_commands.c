/*
 * Integration: commands, REST to OCPP and back (issue 4,
 * docs/commands-design.md), checked the way an integrator would: the real
 * gateway on a real PostgreSQL, libcurl as the REST client and the C
 * simulator as the charger, answering with the ready-made responder of
 * tests/sim/answers.c behind a recorder that keeps every CALL the charger
 * got and what it answered.
 *
 * Covered: each of the 19 gateway-initiated actions end to end through
 * POST /v1/chargers/{id}/commands/{action} (the charger gets exactly that
 * CALL, the 200 body is its answer, the command is readable by id and
 * listed, the same from memory and from the table); every row of the
 * error table, late answers and a shutdown with a command in flight; the
 * per-charger queue (one CALL outstanding, in order); asynchronous mode;
 * remote start returning its session, stop (twice: one CALL),
 * configuration, Idempotency-Key, the command list, the audit log and
 * /metrics. Answers are also checked against docs/openapi.json.
 *
 * A synchronous command holds its HTTP request open until the charger
 * answers, and the simulator answers only while it is serviced on this
 * thread (sim.h), so requests go out through a curl multi handle and the
 * simulator is serviced between transfers (send_all). Nothing asserts on
 * time: waits are bounded polls.
 *
 * The file's gateway has ocpp.call_timeout = 2 s and ocpp.call_queue = 2;
 * the shutdown test starts a second one (W.gw2) that it stops.
 * Charger ids, idTags and key names start with "icm-"; SQL-made sessions
 * use transaction ids 7500xxxx.
 */
#include "it.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "recorder.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)
#define CALL_TIMEOUT_S 2
#define QUEUE_MAX 2
#define REQUEST_TIMEOUT_MS 30000
#define TAG "icm-tag"

static char *admin;             /* every scope */
static char *reader;            /* chargers:read, sessions:read: no commands:write */
static char *limited;           /* commands:write, limited to charger icm-other */

/* ------------------------------------------------------------------ the charger's side */

static struct sim_charger *plug(const char *id)
{
    return it_connect_booted(W.sim, id, NULL);
}

/* ------------------------------------------------------------------ REST with the charger serviced */

struct xfer {
    CURL *h;
    struct curl_slist *list;
    struct strbuf body, hdrs;
    CURLcode rc;
    bool done;
    char url[4096];
    char auth[1024];
};

static void xfer_init(struct xfer *x, int port, const struct api_req *q)
{
    memset(x, 0, sizeof *x);
    snprintf(x->url, sizeof x->url, "http://127.0.0.1:%d%s", port, q->path);
    if (q->key) {
        snprintf(x->auth, sizeof x->auth, "Authorization: Bearer %s", q->key);
        x->list = curl_slist_append(x->list, x->auth);
    }
    for (const char *const *h = q->headers; h && *h; h++)
        x->list = curl_slist_append(x->list, *h);
    if (q->body)
        x->list = curl_slist_append(x->list, "Content-Type: application/json");
    x->list = curl_slist_append(x->list, "Expect:");
    x->h = curl_easy_init();
    if (!x->h)
        abort();
    curl_easy_setopt(x->h, CURLOPT_URL, x->url);
    curl_easy_setopt(x->h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->list);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, it_curl_write);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, it_curl_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, &x->hdrs);
    if (q->body) {
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->body));
        curl_easy_setopt(x->h, CURLOPT_COPYPOSTFIELDS, q->body);
    }
    if (strcmp(q->method, "GET") != 0 || q->body)
        curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, q->method);
}

/* The answer as support/rest.h's struct api_resp (api_free()s it). */
static struct api_resp *xfer_finish(struct xfer *x, const struct api_req *q)
{
    struct api_resp *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    snprintf(r->what, sizeof r->what, "%s %s", q->method, q->path);
    r->status = -1;
    if (x->done && x->rc == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
    }
    curl_easy_cleanup(x->h);
    curl_slist_free_all(x->list);
    if (r->status == -1 && x->body.len == 0) {
        /* say why in the messages that show the body */
        const char *why = x->done ? curl_easy_strerror(x->rc) : "never finished";
        strbuf_printf(&x->body, "(no HTTP answer: %s)", why);
        r->body = strbuf_take(&x->body);
        r->body_len = 0;
        r->headers = strbuf_take(&x->hdrs);
        api_record_answer(q->method, q->path, r);
        return r;
    }
    r->body_len = x->body.len;
    r->body = strbuf_take(&x->body);
    r->headers = strbuf_take(&x->hdrs);
    r->json = r->body_len ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    api_record_answer(q->method, q->path, r);
    return r;
}

/* Where requests go and what runs while they are in flight. */
struct sending {
    int port;
    struct sim *sim;                /* serviced between transfers (may be NULL) */
    void (*step)(void *arg);        /* called every round (may be NULL) */
    void *arg;
};

/*
 * Sends the n requests at once and services the simulator until every
 * answer is in (or REQUEST_TIMEOUT_MS: status -1). out[i] receives the
 * answer to qs[i] (caller api_free()s).
 */
static void send_all_on(const struct sending *how, const struct api_req *qs, size_t n, struct api_resp **out)
{
    struct xfer *x = calloc(n, sizeof *x);
    CURLM *m = curl_multi_init();
    if (!x || !m)
        abort();
    for (size_t i = 0; i < n; i++) {
        xfer_init(&x[i], how->port, &qs[i]);
        curl_multi_add_handle(m, x[i].h);
    }
    for (int running = 1;;) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (size_t i = 0; i < n; i++) {
                if (x[i].h == msg->easy_handle) {
                    x[i].done = true;
                    x[i].rc = msg->data.result;
                }
            }
        }
        if (!running)
            break;
        curl_multi_poll(m, NULL, 0, 5, NULL);
        if (how->sim)
            sim_service(how->sim, 5);
        if (how->step)
            how->step(how->arg);
    }
    for (size_t i = 0; i < n; i++) {
        curl_multi_remove_handle(m, x[i].h);
        out[i] = xfer_finish(&x[i], &qs[i]);
    }
    curl_multi_cleanup(m);
    free(x);
}

/* send_all_on the file's gateway, servicing W.sim. */
static void send_all(const struct api_req *qs, size_t n, struct api_resp **out)
{
    struct sending how = { .port = PORT, .sim = W.sim };
    send_all_on(&how, qs, n, out);
}

static struct api_resp *send1(const struct api_req *q)
{
    struct api_resp *r;
    send_all(q, 1, &r);
    return r;
}

static struct api_resp *request(const char *method, const char *key, const char *path, const char *body,
                                const char *const *headers)
{
    struct api_req q = { .method = method, .path = path, .key = key, .body = body, .headers = headers };
    return send1(&q);
}

static struct api_resp *get(const char *path)
{
    return request("GET", admin, path, NULL, NULL);
}

static struct api_resp *post(const char *path, const char *body)
{
    return request("POST", admin, path, body, NULL);
}

/* POST /v1/chargers/{charger}/commands/{action} with the admin key, synchronously. */
static struct api_resp *command(const char *charger, const char *action, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/chargers/%s/commands/%s", charger, action);
    return post(path, body);
}

static const char *const ASYNC[] = { "Prefer: respond-async", NULL };

/* The same with Prefer: respond-async. */
static struct api_resp *command_async(const char *charger, const char *action, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/chargers/%s/commands/%s", charger, action);
    return request("POST", admin, path, body, ASYNC);
}

/* ------------------------------------------------------------------ checks */

/* Compact text of a JSON value for messages (static buffer). */
static const char *text_of(const cJSON *v)
{
    static char s[1200];
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(s, sizeof s, "%s", t ? t : "(absent)");
    free(t);
    return s;
}

/* Fails unless got is the JSON of want_text (members in any order). */
static void check_json(const cJSON *got, const char *want_text, const char *what)
{
    char w[1200];
    snprintf(w, sizeof w, "%s", want_text);     /* want_text may be text_of()'s buffer */
    cJSON *want = cJSON_Parse(w);
    if (!want)
        fail_msg("%s: the expected value is not JSON: %s", what, w);
    bool same = got && cJSON_Compare(got, want, true);
    cJSON_Delete(want);
    if (!same)
        fail_msg("%s: got %s, expected %s", what, text_of(got), w);
}

/* Fails unless text is the JSON of want_text. */
static void check_json_text(const char *text, const char *want_text, const char *what)
{
    cJSON *got = cJSON_Parse(text ? text : "");
    if (!got)
        fail_msg("%s: not JSON: %s", what, text ? text : "(null)");
    check_json(got, want_text, what);
    cJSON_Delete(got);
}

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A member that must be a string; fails naming it otherwise. Borrowed. */
static const char *str_member(const cJSON *o, const char *key)
{
    const char *s = js(o, key);
    if (!s)
        fail_msg("\"%s\" should be a string in %s", key, text_of(o));
    return s;
}

/* An ISO 8601 UTC time member ("2026-11-21T10:00:00.123Z") as ms since the epoch. */
static int64_t time_member(const cJSON *o, const char *key)
{
    const char *s = js(o, key);
    int y, mo, d, h, mi, sec;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        fail_msg("\"%s\" should be a time in %s", key, text_of(o));
    int ms = 0;
    const char *frac = strchr(s, '.');
    if (frac)
        for (int i = 1, scale = 100; i <= 3 && frac[i] >= '0' && frac[i] <= '9'; i++, scale /= 10)
            ms += (frac[i] - '0') * scale;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                     .tm_sec = sec };
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The command id of a command route's answer: X-Command-Id, named by Content-Location too. */
static void command_id_of(const struct api_resp *r, char out[64])
{
    const char *id = api_header(r, "X-Command-Id");
    if (!id || strlen(id) != 36)
        fail_msg("%s: X-Command-Id is \"%s\", not a command id; headers: %s", r->what, id ? id : "(absent)",
                 r->headers);
    snprintf(out, 64, "%s", id);
    char want[96];
    snprintf(want, sizeof want, "/v1/commands/%s", out);
    const char *loc = api_header(r, "Content-Location");
    if (!loc || strcmp(loc, want) != 0)
        fail_msg("%s: Content-Location is \"%s\", expected %s", r->what, loc ? loc : "(absent)", want);
}

/* The error body's context member (borrowed). */
static const cJSON *context_of(const struct api_resp *r)
{
    return member(r->json, "context");
}

static bool ended(const cJSON *cmd)
{
    const char *st = js(cmd, "status");
    return st && (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0);
}

/* GET /v1/commands/{id} until the command has ended; its resource (caller deletes). */
static cJSON *command_final(const char *id)
{
    char path[96], last[700] = "(no answer)";
    snprintf(path, sizeof path, "/v1/commands/%s", id);
    for (int64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct api_resp *r = get(path);
        snprintf(last, sizeof last, "HTTP %d %s", r->status, r->body);
        if (r->status == 200 && ended(r->json)) {
            api_check_schema(r->json, "Command");
            cJSON *c = cJSON_Duplicate(r->json, true);
            api_free(r);
            return c;
        }
        api_free(r);
        if (it_now_ms() >= end)
            break;
        it_pause(W.sim, 50);
    }
    fail_msg("GET %s: the command never ended; last answer %s", path, last);
    return NULL;
}

/* GET /v1/chargers/{charger}/commands until it lists the ended command id; that item (caller deletes). */
static cJSON *listed_command(const char *charger, const char *id)
{
    char path[160], last[700] = "(no answer)";
    snprintf(path, sizeof path, "/v1/chargers/%s/commands?perPage=100", charger);
    for (int64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct api_resp *r = get(path);
        snprintf(last, sizeof last, "HTTP %d %s", r->status, r->body);
        if (r->status == 200) {
            api_check_schema(r->json, "CommandList");
            const cJSON *item;
            cJSON_ArrayForEach(item, api_data(r->json)) {
                const char *iid = js(item, "id");
                if (iid && strcmp(iid, id) == 0 && ended(item)) {
                    cJSON *c = cJSON_Duplicate(item, true);
                    api_free(r);
                    return c;
                }
            }
        }
        api_free(r);
        if (it_now_ms() >= end)
            break;
        it_pause(W.sim, 50);
    }
    fail_msg("GET %s never listed command %s as ended; last answer %s", path, id, last);
    return NULL;
}

/* A GET answer's body once ok(body) holds (bounded poll); caller deletes. */
static cJSON *get_until(const char *path, bool (*ok)(const cJSON *body), const char *what)
{
    char last[700] = "(no answer)";
    for (int64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct api_resp *r = get(path);
        snprintf(last, sizeof last, "HTTP %d %s", r->status, r->body);
        if (r->status == 200 && r->json && ok(r->json)) {
            cJSON *c = cJSON_Duplicate(r->json, true);
            api_free(r);
            return c;
        }
        api_free(r);
        if (it_now_ms() >= end)
            break;
        it_pause(W.sim, 50);
    }
    fail_msg("GET %s: never %s; last answer %s", path, what, last);
    return NULL;
}

static bool session_completed(const cJSON *s)
{
    const char *st = js(s, "status");
    return st && strcmp(st, "completed") == 0;
}

/*
 * The end of every "nothing was sent" check. Waiting a while and counting
 * CALLs would miss a wrong CALL sent after the wait; instead a marker
 * command goes out (ClearCache, answered Accepted), and the CALLs the
 * charger got must then be exactly `before` (actions, comma-separated; ""
 * for none) followed by the marker. The gateway sends a charger's CALLs one
 * at a time in the order it took them, so a CALL that the earlier requests
 * caused reaches the charger before the marker, however late it goes out.
 */
static void expect_calls_then_marker(const char *charger, const char *before)
{
    struct api_resp *r = command(charger, "ClearCache", "{}");
    api_check_str(api_expect(r, 200), "status", "Accepted");
    api_free(r);
    char want[512], got[1024];
    snprintf(want, sizeof want, "%s%sClearCache", before, *before ? "," : "");
    it_rec_actions(charger, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("charger %s got the CALLs [%s]; expected [%s] (the last one the marker)", charger, got, want);
}

/* ------------------------------------------------------------------ group */

static const char *const chargers[] = {
    "icm-err", "icm-off", "icm-off2", "icm-cerr", "icm-inv", "icm-sil", "icm-disc", "icm-disc2",
    "icm-full", "icm-auth", "icm-other", "icm-q", "icm-list", "icm-lag", "icm-async", "icm-async2", "icm-rs",
    "icm-rs-any", "icm-rs-nowait", "icm-rs-fault", "icm-rs-rej", "icm-stop", "icm-stop-done",
    "icm-stop-twice", "icm-stop-rej", "icm-cfg", "icm-cfg-bad", "icm-idem", "icm-idem2", "icm-idem3",
    "icm-idem4", "icm-idem5", "icm-late", "icm-shut", "icm-audit",
};

static char reserve_payload[256], firmware_payload[256];

/* A valid 1.6 request of each of the 19 gateway-initiated actions. */
static struct it_action_case action_cases[] = {
    { "CancelReservation", "{\"reservationId\":7}" },
    { "ChangeAvailability", "{\"connectorId\":0,\"type\":\"Inoperative\"}" },
    { "ChangeConfiguration", "{\"key\":\"HeartbeatInterval\",\"value\":\"120\"}" },
    { "ClearCache", "{}" },
    { "ClearChargingProfile",
      "{\"id\":11,\"connectorId\":1,\"chargingProfilePurpose\":\"TxDefaultProfile\",\"stackLevel\":0}" },
    { "DataTransfer", "{\"vendorId\":\"com.example.icm\",\"messageId\":\"echo\",\"data\":\"hello charger\"}" },
    { "GetCompositeSchedule", "{\"connectorId\":1,\"duration\":3600,\"chargingRateUnit\":\"W\"}" },
    { "GetConfiguration", "{\"key\":[\"HeartbeatInterval\",\"NoSuchKey\"]}" },
    { "GetDiagnostics", "{\"location\":\"ftp://diag.example.com/upload/\",\"retries\":2,\"retryInterval\":30}" },
    { "GetLocalListVersion", "{}" },
    { "RemoteStartTransaction", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}" },
    { "RemoteStopTransaction", "{\"transactionId\":424242}" },
    { "ReserveNow", reserve_payload },
    { "Reset", "{\"type\":\"Soft\"}" },
    { "SendLocalList",
      "{\"listVersion\":7,\"updateType\":\"Full\",\"localAuthorizationList\":"
      "[{\"idTag\":\"" TAG "\",\"idTagInfo\":{\"status\":\"Accepted\"}}]}" },
    { "SetChargingProfile",
      "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":11,\"stackLevel\":0,"
      "\"chargingProfilePurpose\":\"TxDefaultProfile\",\"chargingProfileKind\":\"Relative\","
      "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":"
      "[{\"startPeriod\":0,\"limit\":16.5,\"numberPhases\":3}]}}}" },
    { "TriggerMessage", "{\"requestedMessage\":\"StatusNotification\",\"connectorId\":1}" },
    { "UnlockConnector", "{\"connectorId\":1}" },
    { "UpdateFirmware", firmware_payload },
};
#define N_ACTIONS (sizeof action_cases / sizeof action_cases[0])

static void action_charger(const char *action, char out[64])
{
    snprintf(out, 64, "icm-a-%s", action);
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'icm-%'");
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'icm-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'icm-%'");
    for (size_t i = 0; i < sizeof chargers / sizeof chargers[0]; i++)
        db_add_charger(chargers[i], NULL, 0);
    for (size_t i = 0; i < N_ACTIONS; i++) {
        char id[64];
        action_charger(action_cases[i].action, id);
        db_add_charger(id, NULL, 0);
    }
    db_add_token(TAG, "Accepted", NULL, NULL);
    admin = api_key_create("icm-admin", "admin");
    reader = api_key_create("icm-reader", "chargers:read,sessions:read");
    limited = api_key_create_limited("icm-limited", "commands:write", "icm-other");
    /* keys exist before the gateway starts: it loads them */
    struct gw_opts o = {
        .name = "it_commands",
        .ini = API_UNLIMITED_INI "[ocpp]\ncall_timeout = 2\ncall_queue = 2\n",
    };
    W.gw = gw_start(&o);
    return 0;
}

static int group_teardown(void **state)
{
    free(admin);
    free(reader);
    free(limited);
    admin = reader = limited = NULL;
    return it_group_teardown(state);
}

/* ================================================================== the 19 actions */

static void test_action(void **state)
{
    const struct it_action_case *k = *state;
    char id[64];
    action_charger(k->action, id);
    struct sim_charger *c = plug(id);

    char path[256], rid[96], rid_hdr[128];
    snprintf(path, sizeof path, "/v1/chargers/%s/commands/%s", id, k->action);
    snprintf(rid, sizeof rid, "icm-req-%s", k->action);
    snprintf(rid_hdr, sizeof rid_hdr, "X-Request-Id: %s", rid);
    const char *const hdrs[] = { rid_hdr, NULL };
    struct api_resp *r = request("POST", admin, path, k->payload, hdrs);
    const cJSON *body = api_expect(r, 200);

    /* the charger got exactly that CALL, once */
    assert_int_equal(sim_calls_received(c), 1);
    assert_int_equal(sim_calls_received_action(c, k->action), 1);
    assert_int_equal(it_rec.n, 1);
    assert_string_equal(it_rec.calls[0].action, k->action);
    check_json_text(it_rec.calls[0].request, k->payload, "the payload the charger got");
    assert_int_equal(it_rec.calls[0].kind, SIM_REPLY_RESULT);
    /* and the body is its answer */
    check_json(body, it_rec.calls[0].answer, "the 200 body");
    char *answer = strdup(it_rec.calls[0].answer);
    char cid[64];
    command_id_of(r, cid);
    api_free(r);

    /* the command, by id */
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "id", cid);
    api_check_str(cmd, "chargerId", id);
    api_check_str(cmd, "action", k->action);
    api_check_str(cmd, "status", "completed");
    api_check_str(cmd, "outcome", "answered");
    check_json(member(cmd, "payload"), k->payload, "the command's payload");
    check_json(member(cmd, "response"), answer, "the command's response");
    cJSON *ans = cJSON_Parse(answer);
    if (js(ans, "status"))
        api_check_str(cmd, "responseStatus", js(ans, "status"));
    else
        api_check_null(cmd, "responseStatus");
    cJSON_Delete(ans);
    api_check_null(cmd, "error");
    api_check_int(cmd, "apiKeyId", api_key_id(admin));
    int64_t created = time_member(cmd, "createdAt"), sent = time_member(cmd, "sentAt");
    int64_t answered = time_member(cmd, "answeredAt"), completed = time_member(cmd, "completedAt");
    if (!(created <= sent && sent <= answered && answered <= completed))
        fail_msg("times out of order in %s", text_of(cmd));
    api_check_int(cmd, "latencyMs", answered - sent);
    api_check_str(cmd, "requestId", rid);

    /* and in the charger's list, stored as it was in memory */
    cJSON *item = listed_command(id, cid);
    api_check_str(item, "action", k->action);
    api_check_str(item, "status", "completed");
    api_check_str(item, "outcome", "answered");
    check_json(member(item, "payload"), k->payload, "the listed command's payload");
    check_json(member(item, "response"), answer, "the listed command's response");
    check_json(item, text_of(cmd), "the listed command against GET /v1/commands/{id}");
    cJSON_Delete(item);
    cJSON_Delete(cmd);
    free(answer);
}

/* ================================================================== errors */

static void test_unknown_charger_is_404(void **state)
{
    (void)state;
    struct api_resp *r = command("icm-nobody", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "icm-nobody");
    api_free(r);
    r = post("/v1/chargers/icm-nobody/remote-start", "{\"idTag\":\"" TAG "\"}");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "icm-nobody");
    api_free(r);
    r = get("/v1/chargers/icm-nobody/configuration");
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "icm-nobody");
    api_free(r);
    r = get("/v1/chargers/icm-nobody/commands");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    /* a command id nobody made */
    r = get("/v1/commands/01234567-89ab-7def-8123-456789abcdef");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = get("/v1/commands/not-a-command");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

static void test_unknown_action_is_404_and_nothing_is_sent(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-err");
    static const char *const names[] = {
        "Frobnicate", "Heartbeat", "BootNotification", "StartTransaction", "StatusNotification",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct api_resp *r = command("icm-err", names[i], "{}");
        api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", names[i]);
        api_free(r);
    }
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-err", "");
}

static void test_invalid_payload_is_422_naming_the_field(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-err");
    static const struct {
        const char *action, *payload, *field;
    } cases[] = {
        { "Reset", "{\"type\":\"Medium\"}", "type" },
        { "Reset", "{}", "type" },
        { "Reset", "{\"type\":\"Soft\",\"extra\":true}", "extra" },
        { "ChangeAvailability", "{\"connectorId\":\"one\",\"type\":\"Operative\"}", "connectorId" },
        { "ChangeAvailability", "{\"connectorId\":1}", "type" },
        { "RemoteStartTransaction", "{\"connectorId\":1}", "idTag" },
        { "RemoteStartTransaction", "{\"idTag\":\"icm-this-tag-is-too-long\"}", "idTag" },
        { "RemoteStopTransaction", "{\"transactionId\":\"12\"}", "transactionId" },
        { "GetConfiguration", "{\"key\":\"HeartbeatInterval\"}", "key" },
        { "ChangeConfiguration", "{\"key\":\"HeartbeatInterval\"}", "value" },
        { "UnlockConnector", "{}", "connectorId" },
        { "TriggerMessage", "{\"requestedMessage\":\"Coffee\"}", "requestedMessage" },
        { "SetChargingProfile",
          "{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":1,\"stackLevel\":0,"
          "\"chargingProfilePurpose\":\"TxDefaultProfile\",\"chargingProfileKind\":\"Relative\","
          "\"chargingSchedule\":{\"chargingRateUnit\":\"X\",\"chargingSchedulePeriod\":"
          "[{\"startPeriod\":0,\"limit\":16}]}}}",
          "chargingRateUnit" },
        { "UpdateFirmware", "{\"location\":\"https://fw.example.com/x.bin\",\"retrieveDate\":\"tomorrow\"}",
          "retrieveDate" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_resp *r = command("icm-err", cases[i].action, cases[i].payload);
        api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", cases[i].field);
        api_free(r);
    }
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-err", "");
}

static void test_body_not_an_object_is_422_and_malformed_json_400(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-err");
    static const char *const not_objects[] = { "[{\"type\":\"Soft\"}]", "\"Soft\"", "42", "null" };
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        struct api_resp *r = command("icm-err", "Reset", not_objects[i]);
        api_expect_error(r, 422, "UNPROCESSABLE_ENTITY");
        api_free(r);
    }
    static const char *const malformed[] = { "{\"type\":", "{type: Soft}", "{\"type\":\"Soft\"" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        struct api_resp *r = command("icm-err", "Reset", malformed[i]);
        api_expect_error(r, 400, "BAD_REQUEST");
        api_free(r);
    }
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-err", "");
}

/* A JSON value followed by more bytes is not a JSON document (RFC 8259): 400, nothing sent. */
static void test_trailing_bytes_after_the_json_are_400(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-err");
    static const char *const trailing[] = { "{\"type\":\"Soft\"} x", "{\"type\":\"Soft\"}{\"type\":\"Hard\"}" };
    for (size_t i = 0; i < sizeof trailing / sizeof trailing[0]; i++) {
        struct api_resp *r = command("icm-err", "Reset", trailing[i]);
        if (r->status != 400)
            fail_msg("body %s: HTTP %d %s, expected 400 BAD_REQUEST (and nothing sent; the charger got %d CALLs)",
                     trailing[i], r->status, r->body, sim_calls_received(c));
        api_expect_error(r, 400, "BAD_REQUEST");
        api_free(r);
    }
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-err", "");
}

static bool offline_answer(void *arg)
{
    (void)arg;
    struct api_resp *r = command("icm-off2", "Reset", "{\"type\":\"Soft\"}");
    bool off = r->status == 409;
    api_free(r);
    return off;
}

static void test_offline_charger_is_409(void **state)
{
    (void)state;
    /* registered, never connected */
    struct api_resp *r = command("icm-off", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error_naming(r, 409, "CHARGING_CHARGEPOINT_OFFLINE", "icm-off");
    api_free(r);
    r = post("/v1/chargers/icm-off/remote-start", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    api_expect_error_naming(r, 409, "CHARGING_CHARGEPOINT_OFFLINE", "icm-off");
    api_free(r);
    r = get("/v1/chargers/icm-off/configuration");
    api_expect_error_naming(r, 409, "CHARGING_CHARGEPOINT_OFFLINE", "icm-off");
    api_free(r);
    r = request("PATCH", admin, "/v1/chargers/icm-off/configuration", "{\"HeartbeatInterval\":60}", NULL);
    api_expect_error_naming(r, 409, "CHARGING_CHARGEPOINT_OFFLINE", "icm-off");
    api_free(r);

    /* connected, then gone: answered while here, 409 once the gateway saw it leave */
    struct sim_charger *c = plug("icm-off2");
    r = command("icm-off2", "Reset", "{\"type\":\"Soft\"}");
    api_expect(r, 200);
    api_free(r);
    sim_disconnect(c);
    if (!wait_until(W.sim, offline_answer, NULL, IT_WAIT_MS))
        fail_msg("a charger that disconnected is still not answered 409");
    r = command("icm-off2", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error_naming(r, 409, "CHARGING_CHARGEPOINT_OFFLINE", "icm-off2");
    api_free(r);
}

static void test_callerror_is_502_with_the_chargers_code(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-cerr");
    it_rec.ans.behaviour = SIM_ANSWER_CALLERROR;
    snprintf(it_rec.ans.callerror_code, sizeof it_rec.ans.callerror_code, "InternalError");
    struct api_resp *r = command("icm-cerr", "Reset", "{\"type\":\"Hard\"}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    const cJSON *ctx = context_of(r);
    api_check_str(ctx, "errorCode", "InternalError");
    api_check_str(ctx, "chargerId", "icm-cerr");
    assert_non_null(js(ctx, "errorDescription"));
    char cid[64];
    command_id_of(r, cid);
    api_check_str(ctx, "commandId", cid);
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 1);

    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "callError");
    const cJSON *err = member(cmd, "error");
    api_check_str(err, "code", "InternalError");
    api_check_null(cmd, "response");
    cJSON_Delete(cmd);

    /* another code is passed on as given */
    snprintf(it_rec.ans.callerror_code, sizeof it_rec.ans.callerror_code, "NotSupported");
    r = command("icm-cerr", "UnlockConnector", "{\"connectorId\":1}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_check_str(context_of(r), "errorCode", "NotSupported");
    api_free(r);
}

static void test_invalid_answer_is_502(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-inv");
    it_rec.ans.behaviour = SIM_ANSWER_INVALID;
    struct api_resp *r = command("icm-inv", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    const char *reason = js(context_of(r), "reason");
    if (!reason || !*reason)
        fail_msg("502 for an invalid answer without a reason: %s", r->body);
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 1);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "invalidAnswer");
    const cJSON *err = member(cmd, "error");
    if (!cJSON_IsObject(err) || !js(err, "description"))
        fail_msg("an invalid answer's command has no error description: %s", text_of(cmd));
    cJSON_Delete(cmd);

    /* an answer of the wrong shape, through the configuration route */
    r = get("/v1/chargers/icm-inv/configuration");
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_free(r);
    /* and UpdateFirmware.conf allows no property at all */
    r = command("icm-inv", "UpdateFirmware", firmware_payload);
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_free(r);
}

static void test_silence_is_504_and_the_queue_moves_on(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-sil");
    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    struct api_resp *r = command("icm-sil", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 504, "CHARGER_TIMEOUT");
    const cJSON *ctx = context_of(r);
    api_check_int(ctx, "timeoutSeconds", CALL_TIMEOUT_S);
    api_check_str(ctx, "chargerId", "icm-sil");
    char cid[64];
    command_id_of(r, cid);
    api_check_str(ctx, "commandId", cid);
    api_free(r);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "timeout");
    api_check_null(cmd, "answeredAt");
    api_check_null(cmd, "latencyMs");
    cJSON_Delete(cmd);

    /* the charger is still there and the next command goes out */
    it_rec.ans.behaviour = SIM_ANSWER_ACCEPT;
    r = command("icm-sil", "Reset", "{\"type\":\"Soft\"}");
    check_json(api_expect(r, 200), "{\"status\":\"Accepted\"}", "the answer after a timeout");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 2);
}

static void test_disconnect_mid_call_is_502_disconnected(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-disc");
    it_rec.ans.behaviour = SIM_ANSWER_DISCONNECT;
    struct api_resp *r = command("icm-disc", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_check_str(context_of(r), "reason", "disconnected");
    api_check_str(r->json, "readableMessage", "The charger disconnected before answering; it may have acted.");
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 1);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "disconnected");
    cJSON_Delete(cmd);
    /* and the charger is offline now */
    r = command("icm-disc", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_OFFLINE");
    api_free(r);
}

/* The one in flight fails as disconnected (502), the one queued behind it never went out (409). */
static void test_disconnect_fails_the_queue_too(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-disc2");
    it_rec.ans.behaviour = SIM_ANSWER_DISCONNECT;
    it_rec.ans.delay_ms = 500;
    struct api_req q[2] = {
        { .method = "POST", .path = "/v1/chargers/icm-disc2/commands/Reset", .key = admin,
          .body = "{\"type\":\"Soft\"}" },
        { .method = "POST", .path = "/v1/chargers/icm-disc2/commands/ClearCache", .key = admin, .body = "{}" },
    };
    struct api_resp *r[2];
    send_all(q, 2, r);
    int bad_gateway = 0, offline = 0;
    for (int i = 0; i < 2; i++) {
        if (r[i]->status == 502) {
            api_expect_error(r[i], 502, "BAD_GATEWAY");
            api_check_str(context_of(r[i]), "reason", "disconnected");
            bad_gateway++;
        } else {
            api_expect_error(r[i], 409, "CHARGING_CHARGEPOINT_OFFLINE");
            offline++;
        }
    }
    api_free(r[0]);
    api_free(r[1]);
    assert_int_equal(bad_gateway, 1);
    assert_int_equal(offline, 1);
    assert_int_equal(sim_calls_received(c), 1);
}

static bool got_three_calls(void *arg)
{
    return sim_calls_received(arg) >= 3;
}

static void test_queue_full_is_503(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-full");
    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    /* one in flight (never answered), QUEUE_MAX behind it */
    for (int i = 0; i < 1 + QUEUE_MAX; i++) {
        struct api_resp *r = command_async("icm-full", "Reset", "{\"type\":\"Soft\"}");
        api_expect(r, 202);
        api_free(r);
    }
    struct api_resp *r = command("icm-full", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 503, "SERVICE_UNAVAILABLE");
    api_check_int(context_of(r), "queueMax", QUEUE_MAX);
    api_check_str(context_of(r), "chargerId", "icm-full");
    api_free(r);
    r = command_async("icm-full", "ClearCache", "{}");
    api_expect_error(r, 503, "SERVICE_UNAVAILABLE");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 1);
    /* the silent one times out, the two queued go out and are answered; the refused two never do */
    it_rec.ans.behaviour = SIM_ANSWER_ACCEPT;
    if (!wait_until(W.sim, got_three_calls, c, IT_WAIT_MS))
        fail_msg("the queued commands never went out: the charger got %d CALLs", sim_calls_received(c));
    expect_calls_then_marker("icm-full", "Reset,Reset,Reset");
}

static void test_rejected_remote_start_is_422_failed_to_start(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-rs-rej");
    sim_answers_set(&it_rec.ans, "RemoteStartTransaction", SIM_ANSWER_REJECT);
    struct api_resp *r = post("/v1/chargers/icm-rs-rej/remote-start", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    api_expect_error(r, 422, "CHARGING_FAILED_TO_START");
    api_check_str(context_of(r), "status", "Rejected");
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    /* the generic route says the same */
    r = command("icm-rs-rej", "RemoteStartTransaction", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    api_expect_error(r, 422, "CHARGING_FAILED_TO_START");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 2);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "completed");
    api_check_str(cmd, "outcome", "answered");
    api_check_str(cmd, "responseStatus", "Rejected");
    api_check_null(cmd, "sessionId");
    cJSON_Delete(cmd);
    struct sim_answers_stats st;
    sim_answers_get_stats(c, &st);
    assert_int_equal(st.starts_sent, 0);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'icm-rs-rej'"), 0);
}

/* ------------------------------------------------------------------ power limit (load management) */

static struct api_resp *put_limit(const char *charger, const char *body)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/chargers/%s/power-limit", charger);
    return request("PUT", admin, path, body, NULL);
}

static const char *const LIMIT_16 =
    "{\"connectorId\":0,\"csChargingProfiles\":{\"chargingProfileId\":9000,\"stackLevel\":1,"
    "\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"chargingProfileKind\":\"Relative\","
    "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":16}]}}}";

static void test_power_limit_applied_and_cleared(void **state)
{
    (void)state;
    db_add_charger("icm-pl-on", NULL, 0);
    struct sim_charger *c = plug("icm-pl-on");
    struct api_resp *r = put_limit("icm-pl-on", "{\"maxCurrent\":16}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "PowerLimitResult");
    assert_true(member(b, "maxCurrent")->valuedouble == 16);
    api_check_bool(b, "applied", true);
    api_check_str(b, "status", "Accepted");
    api_check_str(b, "outcome", "answered");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str_member(b, "commandId"));
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "SetChargingProfile"), 1);
    check_json_text(it_rec_last("SetChargingProfile")->request, LIMIT_16, "the ChargePointMaxProfile");
    assert_int_equal(db_int("SELECT (power_limit * 10)::int FROM chargers WHERE id = 'icm-pl-on'"), 160);
    r = get("/v1/chargers/icm-pl-on");
    b = api_expect(r, 200);
    api_check_schema(b, "Charger");
    assert_true(member(b, "powerLimit")->valuedouble == 16);
    api_free(r);
    /* listed with the charger's commands, asked by the API */
    cJSON *item = listed_command("icm-pl-on", cid);
    api_check_str(item, "action", "SetChargingProfile");
    api_check_str(item, "origin", "api");
    api_check_str(item, "responseStatus", "Accepted");
    cJSON_Delete(item);

    /* null clears it: ClearChargingProfile of the purpose at the gateway's stack level */
    r = put_limit("icm-pl-on", "{\"maxCurrent\":null}");
    b = api_expect(r, 200);
    api_check_schema(b, "PowerLimitResult");
    api_check_null(b, "maxCurrent");
    api_check_bool(b, "applied", true);
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "ClearChargingProfile"), 1);
    check_json_text(it_rec_last("ClearChargingProfile")->request,
                    "{\"connectorId\":0,\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"stackLevel\":1}",
                    "the ClearChargingProfile");
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icm-pl-on' AND power_limit IS NULL"), 1);
    r = get("/v1/chargers/icm-pl-on");
    api_check_null(api_expect(r, 200), "powerLimit");
    api_free(r);
    /* sent once each: the row's NOTIFY, read after (or before) the write's own row, sends nothing more */
    it_pause(W.sim, 3500);   /* past the grace period (2 s) and a tick (1 s) */
    assert_int_equal(sim_calls_received_action(c, "SetChargingProfile"), 1);
    assert_int_equal(sim_calls_received_action(c, "ClearChargingProfile"), 1);
}

static void test_power_limit_rejected_is_stored_not_applied(void **state)
{
    (void)state;
    db_add_charger("icm-pl-rej", NULL, 0);
    struct sim_charger *c = plug("icm-pl-rej");
    sim_answers_set(&it_rec.ans, "SetChargingProfile", SIM_ANSWER_REJECT);
    struct api_resp *r = put_limit("icm-pl-rej", "{\"maxCurrent\":10.5}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "PowerLimitResult");
    assert_true(member(b, "maxCurrent")->valuedouble == 10.5);
    api_check_bool(b, "applied", false);
    api_check_str(b, "status", "Rejected");
    assert_true(cJSON_IsString(member(b, "commandId")));
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "SetChargingProfile"), 1);
    assert_int_equal(db_int("SELECT (power_limit * 10)::int FROM chargers WHERE id = 'icm-pl-rej'"), 105);
}

static bool limit_sent(void *arg)
{
    return sim_calls_received_action(arg, "SetChargingProfile") > 0;
}

static void test_power_limit_offline_then_sent_at_boot(void **state)
{
    (void)state;
    db_add_charger("icm-pl-off", NULL, 0);
    struct api_resp *r = put_limit("icm-pl-off", "{\"maxCurrent\":12.5}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "PowerLimitResult");
    api_check_bool(b, "applied", false);
    api_check_null(b, "commandId");
    api_check_null(b, "status");
    api_free(r);
    assert_int_equal(db_int("SELECT (power_limit * 10)::int FROM chargers WHERE id = 'icm-pl-off'"), 125);
    assert_int_equal(db_int("SELECT count(*) FROM commands WHERE charger_id = 'icm-pl-off'"), 0);

    struct sim_charger *c = plug("icm-pl-off");
    if (!wait_until(W.sim, limit_sent, c, IT_WAIT_MS))
        fail_msg("the stored power limit was not sent after the boot");
    const char *want =
        "{\"connectorId\":0,\"csChargingProfiles\":{\"chargingProfileId\":9000,\"stackLevel\":1,"
        "\"chargingProfilePurpose\":\"ChargePointMaxProfile\",\"chargingProfileKind\":\"Relative\","
        "\"chargingSchedule\":{\"chargingRateUnit\":\"A\",\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":12.5}]}}}";
    check_json_text(it_rec_last("SetChargingProfile")->request, want, "the power limit at boot");
    /* the gateway's own command, listed with origin "gateway" */
    char *id = NULL;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !id && it_now_ms() < end;) {
        id = db_str("SELECT id::text FROM commands WHERE charger_id = 'icm-pl-off' AND state = 'completed'");
        if (!id)
            it_pause(W.sim, 50);
    }
    if (!id)
        fail_msg("the boot's SetChargingProfile was not stored");
    cJSON *item = listed_command("icm-pl-off", id);
    api_check_str(item, "origin", "gateway");
    api_check_str(item, "action", "SetChargingProfile");
    api_check_null(item, "apiKeyId");
    cJSON_Delete(item);
    free(id);
}

/*
 * The charger is connected to another gateway on the same database: this
 * one stores the limit and answers applied false; that one learns the
 * change (NOTIFY) and sends it (origin "gateway") after its grace period.
 */
static void test_power_limit_reaches_a_charger_on_another_gateway(void **state)
{
    (void)state;
    db_add_charger("icm-pl-far", NULL, 0);
    struct gw_opts go = { .name = "it_commands-2", .ini = API_UNLIMITED_INI };
    W.gw2 = gw_start(&go);
    W.sim2 = it_sim(gw_port(W.gw2));
    sim_set_default_responder(W.sim2, it_rec_responder, NULL);
    struct sim_charger *c = it_connect_booted(W.sim2, "icm-pl-far", NULL);
    struct api_resp *r = put_limit("icm-pl-far", "{\"maxCurrent\":20}");
    const cJSON *b = api_expect(r, 200);
    api_check_bool(b, "applied", false);
    api_check_null(b, "commandId");
    api_free(r);
    if (!wait_until(W.sim2, limit_sent, c, IT_WAIT_MS))
        fail_msg("the other gateway did not send the power limit set through this one");
    assert_non_null(strstr(it_rec_last("SetChargingProfile")->request, "\"limit\":20"));
    char *origin = NULL;
    for (int64_t end = it_now_ms() + IT_WAIT_MS; !origin && it_now_ms() < end;) {
        origin = db_str("SELECT origin FROM commands WHERE charger_id = 'icm-pl-far' AND state = 'completed'");
        if (!origin)
            it_pause(W.sim2, 50);
    }
    assert_non_null(origin);
    assert_string_equal(origin, "gateway");
    free(origin);
    it_pause(W.sim2, 3500);
    assert_int_equal(sim_calls_received_action(c, "SetChargingProfile"), 1);
}

static void test_power_limit_invalid_is_422(void **state)
{
    (void)state;
    db_add_charger("icm-pl-bad", NULL, 0);
    static const struct api_bad cases[] = {
        { "{\"maxCurrent\":-1}", "maxCurrent" },
        { "{\"maxCurrent\":1000.1}", "maxCurrent" },
        { "{\"maxCurrent\":16.05}", "maxCurrent" },
        { "{\"maxCurrent\":\"16\"}", "maxCurrent" },
        { "{}", "maxCurrent" },
        { "{\"maxCurrent\":16,\"minCurrent\":6}", "minCurrent" },
    };
    api_expect_bad_bodies(PORT, admin, "PUT", "/v1/chargers/icm-pl-bad/power-limit", cases, API_COUNT(cases));
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icm-pl-bad' AND power_limit IS NULL"), 1);
    struct api_resp *r = put_limit("icm-pl-nobody", "{\"maxCurrent\":16}");
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    /* a key without chargers:write may not */
    struct api_req q = { .method = "PUT", .path = "/v1/chargers/icm-pl-bad/power-limit", .key = reader,
                         .body = "{\"maxCurrent\":16}" };
    r = send1(&q);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/* ------------------------------------------------------------------ who may */

static void test_missing_credentials_is_401(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-auth");
    struct api_resp *r = request("POST", NULL, "/v1/chargers/icm-auth/commands/Reset", "{\"type\":\"Soft\"}", NULL);
    api_expect_error(r, 401, "UNAUTHORIZED");
    api_free(r);
    r = request("POST", NULL, "/v1/chargers/icm-auth/remote-start", "{\"idTag\":\"" TAG "\"}", NULL);
    api_expect_error(r, 401, "UNAUTHORIZED");
    api_free(r);
    r = request("POST", "ogw_not-a-key-anybody-made-000000000000000000000", "/v1/chargers/icm-auth/commands/Reset",
                "{\"type\":\"Soft\"}", NULL);
    api_expect_error(r, 401, "INVALID_ACCESS_TOKEN");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-auth", "");
}

static void test_key_without_commands_write_is_403(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-auth");
    struct api_resp *r = request("POST", reader, "/v1/chargers/icm-auth/commands/Reset", "{\"type\":\"Soft\"}",
                                 NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = request("POST", reader, "/v1/chargers/icm-auth/remote-start", "{\"idTag\":\"" TAG "\"}", NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = request("POST", reader, "/v1/sessions/1/stop", NULL, NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = request("PATCH", reader, "/v1/chargers/icm-auth/configuration", "{\"HeartbeatInterval\":60}", NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = request("GET", reader, "/v1/chargers/icm-auth/commands", NULL, NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-auth", "");
}

static void test_key_limited_to_other_chargers_is_403(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-auth");
    struct sim_charger *other = plug("icm-other");
    struct api_resp *r = request("POST", limited, "/v1/chargers/icm-auth/commands/Reset", "{\"type\":\"Soft\"}",
                                 NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    r = request("POST", limited, "/v1/chargers/icm-auth/remote-start", "{\"idTag\":\"" TAG "\"}", NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-auth", "");

    /* the same key works on its own charger, and sees that command but not another charger's */
    r = request("POST", limited, "/v1/chargers/icm-other/commands/Reset", "{\"type\":\"Soft\"}", NULL);
    api_expect(r, 200);
    char mine[64];
    command_id_of(r, mine);
    api_free(r);
    assert_int_equal(sim_calls_received_action(other, "Reset"), 1);
    char path[96];
    snprintf(path, sizeof path, "/v1/commands/%s", mine);
    r = request("GET", limited, path, NULL, NULL);
    api_expect(r, 200);
    api_free(r);

    r = command("icm-auth", "ClearCache", "{}");
    api_expect(r, 200);
    char theirs[64];
    command_id_of(r, theirs);
    api_free(r);
    snprintf(path, sizeof path, "/v1/commands/%s", theirs);
    r = request("GET", limited, path, NULL, NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/* ================================================================== the queue */

static void test_commands_to_one_charger_are_serialized(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-q");
    it_rec.ans.delay_ms = 300;           /* each answer takes a while: a second CALL would overlap */
    static const struct it_action_case seq[1 + QUEUE_MAX] = {
        { "ClearCache", "{}" },
        { "Reset", "{\"type\":\"Hard\"}" },
        { "GetLocalListVersion", "{}" },
    };
    char ids[1 + QUEUE_MAX][64];
    for (int i = 0; i < 1 + QUEUE_MAX; i++) {
        struct api_resp *r = command_async("icm-q", seq[i].action, seq[i].payload);
        api_expect(r, 202);
        snprintf(ids[i], sizeof ids[i], "%s", str_member(r->json, "id"));
        api_free(r);
    }
    cJSON *cmd[1 + QUEUE_MAX];
    for (int i = 0; i < 1 + QUEUE_MAX; i++) {
        cmd[i] = command_final(ids[i]);
        api_check_str(cmd[i], "status", "completed");
        api_check_str(cmd[i], "outcome", "answered");
        api_check_str(cmd[i], "action", seq[i].action);
    }
    /* never two CALLs outstanding, and sent in the order asked */
    assert_int_equal(sim_calls_outstanding_max(c), 1);
    assert_int_equal(it_rec.n, 1 + QUEUE_MAX);
    for (int i = 0; i < 1 + QUEUE_MAX; i++)
        assert_string_equal(it_rec.calls[i].action, seq[i].action);
    for (int i = 1; i < 1 + QUEUE_MAX; i++) {
        int64_t sent = time_member(cmd[i], "sentAt"), prev_answered = time_member(cmd[i - 1], "answeredAt");
        if (sent < prev_answered)
            fail_msg("command %d was sent before command %d was answered: %s then %s", i, i - 1,
                     js(cmd[i - 1], "answeredAt"), js(cmd[i], "sentAt"));
    }
    for (int i = 0; i < 1 + QUEUE_MAX; i++)
        cJSON_Delete(cmd[i]);
}

/* Synchronous requests in parallel are serialized on the wire just the same. */
static void test_parallel_sync_commands_are_serialized(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-q");
    it_rec.ans.delay_ms = 300;
    struct api_req q[3] = {
        { .method = "POST", .path = "/v1/chargers/icm-q/commands/ClearCache", .key = admin, .body = "{}" },
        { .method = "POST", .path = "/v1/chargers/icm-q/commands/GetLocalListVersion", .key = admin, .body = "{}" },
        { .method = "POST", .path = "/v1/chargers/icm-q/commands/UnlockConnector", .key = admin,
          .body = "{\"connectorId\":1}" },
    };
    struct api_resp *r[3];
    send_all(q, 3, r);
    check_json(api_expect(r[0], 200), "{\"status\":\"Accepted\"}", "ClearCache");
    check_json(api_expect(r[1], 200), "{\"listVersion\":0}", "GetLocalListVersion");
    check_json(api_expect(r[2], 200), "{\"status\":\"Unlocked\"}", "UnlockConnector");
    for (int i = 0; i < 3; i++)
        api_free(r[i]);
    assert_int_equal(sim_calls_received(c), 3);
    assert_int_equal(sim_calls_outstanding_max(c), 1);
}

/* ================================================================== the command list */

static void test_command_list_newest_first_with_filters(void **state)
{
    (void)state;
    plug("icm-list");
    struct api_resp *r = command("icm-list", "Reset", "{\"type\":\"Soft\"}");
    api_expect(r, 200);
    char first[64];
    command_id_of(r, first);
    api_free(r);
    it_rec.ans.behaviour = SIM_ANSWER_CALLERROR;
    r = command("icm-list", "ClearCache", "{}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    char second[64];
    command_id_of(r, second);
    api_free(r);
    cJSON_Delete(listed_command("icm-list", first));
    cJSON_Delete(listed_command("icm-list", second));

    r = get("/v1/chargers/icm-list/commands");
    const cJSON *data = api_data(api_expect(r, 200));
    assert_int_equal(cJSON_GetArraySize(data), 2);
    api_check_str(cJSON_GetArrayItem(data, 0), "id", second);
    api_check_str(cJSON_GetArrayItem(data, 1), "id", first);
    api_free(r);
    static const struct {
        const char *query, *id;
    } filters[] = {
        { "action=Reset", NULL }, { "action=ClearCache", NULL }, { "outcome=answered", NULL },
        { "outcome=callError", NULL }, { "status=completed", NULL }, { "status=failed", NULL },
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        char path[160];
        snprintf(path, sizeof path, "/v1/chargers/icm-list/commands?%s", filters[i].query);
        r = get(path);
        data = api_data(api_expect(r, 200));
        if (cJSON_GetArraySize(data) != 1)
            fail_msg("GET %s: %d items, expected 1: %s", path, cJSON_GetArraySize(data), r->body);
        /* even rows ask for the Reset, odd ones for the ClearCache */
        api_check_str(cJSON_GetArrayItem(data, 0), "id", i % 2 == 0 ? first : second);
        api_free(r);
    }
    r = get("/v1/chargers/icm-list/commands?outcome=maybe");
    api_expect_error_naming(r, 400, "BAD_REQUEST", "outcome");
    api_free(r);
    /* a key limited to another charger sees none of them */
    r = request("GET", limited, "/v1/chargers/icm-list/commands", NULL, NULL);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/*
 * Rows are written behind: while the ended command's last write waits (the
 * test holds its row locked), the charger's list shows it as the core has
 * it, the same as GET /v1/commands/{id}, not as the older row (issue 10:
 * the list said queued while the single read said failed).
 */
static void test_command_list_agrees_with_the_single_read(void **state)
{
    (void)state;
    plug("icm-lag");
    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    struct api_resp *r = command_async("icm-lag", "Reset", "{\"type\":\"Soft\"}");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str_member(api_expect(r, 202), "id"));
    api_free(r);
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM commands WHERE id = $1::uuid", cid);
    db_exec("BEGIN");
    char *row_state = db_str("SELECT state FROM commands WHERE id = $1::uuid FOR UPDATE", cid);
    if (!row_state || strcmp(row_state, "failed") == 0) {
        db_exec("ROLLBACK");
        fail_msg("the row of %s is %s before the call timed out", cid, row_state ? row_state : "(none)");
    }
    cJSON *single = command_final(cid); /* the timeout, from the core: the row cannot follow yet */
    char path[160];
    snprintf(path, sizeof path, "/v1/chargers/icm-lag/commands?perPage=100");
    r = get(path);
    /* filtered by the row's old state: no longer listed under it */
    char *by_old = it_strf("/v1/chargers/icm-lag/commands?perPage=100&status=%s", row_state);
    struct api_resp *old = get(by_old);
    free(row_state);
    row_state = db_str("SELECT state FROM commands WHERE id = $1::uuid", cid);
    db_exec("ROLLBACK"); /* before any check: a failure must not leave the writer blocked */
    if (old->status != 200 || strstr(old->body, cid) ||
        ji(cJSON_GetObjectItem(old->json, "meta"), "itemCount") != cJSON_GetArraySize(api_data(old->json)))
        fail_msg("GET %s lists the ended command %s under its old state: %s", by_old, cid, old->body);
    api_free(old);
    free(by_old);
    const cJSON *item, *found = NULL;
    cJSON_ArrayForEach(item, api_data(api_expect(r, 200))) {
        const char *iid = js(item, "id");
        if (iid && strcmp(iid, cid) == 0)
            found = item;
    }
    if (!found)
        fail_msg("GET %s does not list %s: %s", path, cid, r->body);
    api_check_str(found, "status", js(single, "status"));
    api_check_str(found, "outcome", js(single, "outcome"));
    api_check_str(found, "completedAt", js(single, "completedAt"));
    if (!row_state || strcmp(row_state, "failed") == 0)
        fail_msg("the row of %s was written while locked (%s): the test proved nothing", cid,
                 row_state ? row_state : "(none)");
    free(row_state);
    api_free(r);
    cJSON_Delete(single);
    /* the row catches up */
    db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM commands WHERE id = $1::uuid AND state = 'failed'", cid);
}

/* ================================================================== asynchronous mode */

static void test_async_is_202_then_the_same_outcome(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-async");
    struct api_resp *r = command_async("icm-async", "Reset", "{\"type\":\"Soft\"}");
    const cJSON *b = api_expect(r, 202);
    const char *loc = api_header(r, "Location");
    const char *pref = api_header(r, "Preference-Applied");
    if (!pref || strcmp(pref, "respond-async") != 0)
        fail_msg("Preference-Applied is \"%s\", expected respond-async", pref ? pref : "(absent)");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str_member(b, "id"));
    char want[96];
    snprintf(want, sizeof want, "/v1/commands/%s", cid);
    if (!loc || strcmp(loc, want) != 0)
        fail_msg("Location is \"%s\", expected %s", loc ? loc : "(absent)", want);
    api_check_schema(b, "Command");
    api_check_str(b, "action", "Reset");
    api_check_str(b, "chargerId", "icm-async");
    check_json(member(b, "payload"), "{\"type\":\"Soft\"}", "the queued command's payload");
    const char *st = str_member(b, "status");
    if (strcmp(st, "queued") != 0 && strcmp(st, "sent") != 0)
        fail_msg("a command answered 202 is \"%s\", expected queued or sent", st);
    api_check_null(b, "outcome");
    api_check_null(b, "response");
    api_free(r);

    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "completed");
    api_check_str(cmd, "outcome", "answered");
    check_json(member(cmd, "response"), it_rec_last("Reset")->answer, "the async command's response");

    /* the same command in synchronous mode answers that response as its body */
    r = command("icm-async", "Reset", "{\"type\":\"Soft\"}");
    check_json(api_expect(r, 200), text_of(member(cmd, "response")), "the synchronous answer");
    api_free(r);
    cJSON_Delete(cmd);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 2);
}

static void test_async_failure_is_recorded_like_sync(void **state)
{
    (void)state;
    plug("icm-async2");
    it_rec.ans.behaviour = SIM_ANSWER_CALLERROR;
    snprintf(it_rec.ans.callerror_code, sizeof it_rec.ans.callerror_code, "SecurityError");
    struct api_resp *r = command_async("icm-async2", "ChangeAvailability",
                                       "{\"connectorId\":1,\"type\":\"Operative\"}");
    api_expect(r, 202);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str_member(r->json, "id"));
    api_free(r);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "callError");
    api_check_str(member(cmd, "error"), "code", "SecurityError");
    cJSON_Delete(cmd);
    r = command("icm-async2", "ChangeAvailability", "{\"connectorId\":1,\"type\":\"Operative\"}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    api_check_str(context_of(r), "errorCode", "SecurityError");
    api_free(r);

    /* a remote start in asynchronous mode: the command ends with its session */
    it_rec.ans.behaviour = SIM_ANSWER_ACCEPT;
    r = request("POST", admin, "/v1/chargers/icm-async2/remote-start", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}",
                ASYNC);
    api_expect(r, 202);
    api_check_str(r->json, "action", "RemoteStartTransaction");
    snprintf(cid, sizeof cid, "%s", str_member(r->json, "id"));
    api_free(r);
    cmd = command_final(cid);
    api_check_str(cmd, "status", "completed");
    api_check_str(cmd, "outcome", "answered");
    api_check_str(cmd, "responseStatus", "Accepted");
    if (!cJSON_IsNumber(member(cmd, "sessionId")) || !cJSON_IsNumber(member(cmd, "transactionId")))
        fail_msg("an asynchronous remote start ended without its session: %s", text_of(cmd));
    int64_t sid = ji(cmd, "sessionId");
    cJSON_Delete(cmd);
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    r = get(path);
    api_check_str(api_expect(r, 200), "chargerId", "icm-async2");
    api_free(r);

    /* a silent charger: 202 at once, then the command times out */
    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    r = command_async("icm-async2", "Reset", "{\"type\":\"Soft\"}");
    api_expect(r, 202);
    snprintf(cid, sizeof cid, "%s", str_member(r->json, "id"));
    api_free(r);
    cmd = command_final(cid);
    api_check_str(cmd, "status", "failed");
    api_check_str(cmd, "outcome", "timeout");
    cJSON_Delete(cmd);
}

/* ================================================================== remote start and stop */

/* POST remote-start on charger (connector 1, TAG), expecting 200 Accepted with a session; its ids. */
static void remote_start(const char *charger, int64_t *session_id, int64_t *tx_id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/chargers/%s/remote-start", charger);
    struct api_resp *r = post(path, "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "SessionCommandResult");
    api_check_str(b, "status", "Accepted");
    if (!cJSON_IsNumber(member(b, "sessionId")) || !cJSON_IsNumber(member(b, "transactionId")))
        fail_msg("remote start of %s: no sessionId / transactionId in %s", charger, r->body);
    *session_id = ji(b, "sessionId");
    *tx_id = ji(b, "transactionId");
    api_free(r);
}

static bool start_answered(void *arg)
{
    return sim_answers_last_transaction_id(arg) != 0;
}

static void test_remote_start_returns_the_session(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-rs");
    struct api_resp *r = post("/v1/chargers/icm-rs/remote-start", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "SessionCommandResult");
    api_check_str(b, "status", "Accepted");
    const char *body_cid = str_member(b, "commandId");
    if (!cJSON_IsNumber(member(b, "sessionId")) || !cJSON_IsNumber(member(b, "transactionId")))
        fail_msg("remote start answered without sessionId / transactionId: %s", r->body);
    int64_t sid = ji(b, "sessionId"), tx = ji(b, "transactionId");
    char cid[64];
    command_id_of(r, cid);
    assert_string_equal(body_cid, cid);
    api_free(r);

    /* the charger got the remote start and started the transaction the answer names */
    const struct it_rec_call *k = it_rec_last("RemoteStartTransaction");
    check_json_text(k->request, "{\"connectorId\":1,\"idTag\":\"" TAG "\"}", "the RemoteStartTransaction payload");
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
    if (!wait_until(W.sim, start_answered, c, IT_WAIT_MS))
        fail_msg("the simulator's StartTransaction was never answered");
    assert_int_equal(sim_answers_last_transaction_id(c), tx);

    /* that session, active, of this charger and tag */
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    r = get(path);
    const cJSON *s = api_expect(r, 200);
    api_check_int(s, "id", sid);
    api_check_str(s, "chargerId", "icm-rs");
    api_check_int(s, "connectorId", 1);
    api_check_str(s, "idTag", TAG);
    api_check_int(s, "transactionId", tx);
    api_check_str(s, "status", "active");
    api_free(r);

    /* the command knows its session */
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "completed");
    api_check_str(cmd, "outcome", "answered");
    api_check_int(cmd, "sessionId", sid);
    api_check_int(cmd, "transactionId", tx);
    cJSON_Delete(cmd);
}

/* Without connectorId the charger picks one; the session of that charger and tag is found. */
static void test_remote_start_without_connector(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-rs-any");
    struct api_resp *r = post("/v1/chargers/icm-rs-any/remote-start", "{\"idTag\":\"" TAG "\"}");
    const cJSON *b = api_expect(r, 200);
    api_check_str(b, "status", "Accepted");
    if (!cJSON_IsNumber(member(b, "sessionId")))
        fail_msg("remote start without connectorId answered without its session: %s", r->body);
    int64_t sid = ji(b, "sessionId");
    api_free(r);
    check_json_text(it_rec_last("RemoteStartTransaction")->request, "{\"idTag\":\"" TAG "\"}",
                    "the RemoteStartTransaction payload");
    assert_int_equal(sim_calls_received(c), 1);
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    r = get(path);
    b = api_expect(r, 200);
    api_check_str(b, "chargerId", "icm-rs-any");
    api_check_str(b, "idTag", TAG);
    api_free(r);
}

static void test_remote_start_without_start_transaction_has_null_session(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-rs-nowait");
    it_rec.ans.followups = false;        /* accepts, never sends StartTransaction */
    struct api_resp *r = post("/v1/chargers/icm-rs-nowait/remote-start?wait=1",
                              "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "SessionCommandResult");
    api_check_str(b, "status", "Accepted");
    api_check_null(b, "sessionId");
    api_check_null(b, "transactionId");
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "status", "completed");
    api_check_null(cmd, "sessionId");
    cJSON_Delete(cmd);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'icm-rs-nowait'"), 0);

    /* a bad wait is refused before anything is sent */
    static const char *const waits[] = { "61", "-1", "soon", "" };
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/chargers/icm-rs-nowait/remote-start?wait=%s", waits[i]);
        r = post(path, "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
        api_expect_error_naming(r, 400, "BAD_REQUEST", "wait");
        api_free(r);
    }
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
}

static void test_remote_start_on_faulted_connector_is_409(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-rs-fault");
    char ts[32], *p;
    it_iso_time(ts, 0);
    p = it_strf("{\"connectorId\":1,\"errorCode\":\"GroundFailure\",\"status\":\"Faulted\","
                "\"timestamp\":\"%s\"}", ts);
    cJSON_Delete(it_ok(c, "StatusNotification", p));
    free(p);
    struct api_resp *r = post("/v1/chargers/icm-rs-fault/remote-start", "{\"connectorId\":1,\"idTag\":\"" TAG "\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_NOT_AVAILABLE");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-rs-fault", "");

    /* available again: the start goes out */
    p = it_strf("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Available\",\"timestamp\":\"%s\"}", ts);
    cJSON_Delete(it_ok(c, "StatusNotification", p));
    free(p);
    int64_t sid, tx;
    remote_start("icm-rs-fault", &sid, &tx);
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
}

static void test_stop_active_session(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-stop");
    int64_t sid, tx;
    remote_start("icm-stop", &sid, &tx);
    if (!wait_until(W.sim, start_answered, c, IT_WAIT_MS))
        fail_msg("the simulator's StartTransaction was never answered");

    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld/stop", (long long)sid);
    struct api_resp *r = post(path, NULL);
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "SessionCommandResult");
    api_check_str(b, "status", "Accepted");
    api_check_int(b, "sessionId", sid);
    api_check_int(b, "transactionId", tx);
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    char want[64];
    snprintf(want, sizeof want, "{\"transactionId\":%lld}", (long long)tx);
    check_json_text(it_rec_last("RemoteStopTransaction")->request, want, "the RemoteStopTransaction payload");

    /* the charger's StopTransaction ends it */
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    cJSON *s = get_until(path, session_completed, "completed");
    api_check_str(s, "stopReason", "Remote");
    cJSON_Delete(s);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "action", "RemoteStopTransaction");
    api_check_str(cmd, "outcome", "answered");
    api_check_int(cmd, "sessionId", sid);
    cJSON_Delete(cmd);

    /* a second stop now: the session as it ended, nothing sent */
    snprintf(path, sizeof path, "/v1/sessions/%lld/stop", (long long)sid);
    r = post(path, NULL);
    b = api_expect(r, 200);
    api_check_schema(b, "Session");
    api_check_int(b, "id", sid);
    api_check_str(b, "status", "completed");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "RemoteStopTransaction"), 1);
    expect_calls_then_marker("icm-stop", "RemoteStartTransaction,RemoteStopTransaction");
}

static void test_stop_of_completed_session_sends_nothing(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-stop-done");
    char *sid = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
                       " start_time, end_time, meter_start, meter_stop, energy_wh) VALUES (75000001, 'icm-stop-done',"
                       " 1, $1, 'Accepted', 'completed', now() - interval '2 hours', now() - interval '1 hour',"
                       " 1000, 5000, 4000) RETURNING id", TAG);
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%s/stop", sid);
    struct api_resp *r = post(path, NULL);
    const cJSON *b = api_expect(r, 200);
    api_check_int(b, "id", strtoll(sid, NULL, 10));
    api_check_str(b, "status", "completed");
    api_check_int(b, "transactionId", 75000001);
    api_check_schema(b, "Session");
    api_free(r);
    /* {} is accepted as no body */
    r = post(path, "{}");
    api_expect(r, 200);
    api_free(r);
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-stop-done", "");
    free(sid);
}

static void test_two_concurrent_stops_send_one_remote_stop(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-stop-twice");
    int64_t sid, tx;
    remote_start("icm-stop-twice", &sid, &tx);
    if (!wait_until(W.sim, start_answered, c, IT_WAIT_MS))
        fail_msg("the simulator's StartTransaction was never answered");
    it_rec.ans.delay_ms = 500;           /* the first stop is still in flight when the second comes */
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld/stop", (long long)sid);
    struct api_req q[2] = {
        { .method = "POST", .path = path, .key = admin },
        { .method = "POST", .path = path, .key = admin },
    };
    struct api_resp *r[2];
    send_all(q, 2, r);
    assert_int_equal(it_rec_count("RemoteStopTransaction"), 1);
    for (int i = 0; i < 2; i++) {
        const cJSON *b = api_expect(r[i], 200);
        /* the stop's answer, or the session once it already ended */
        const char *st = str_member(b, "status");
        if (strcmp(st, "Accepted") != 0 && strcmp(st, "completed") != 0)
            fail_msg("a concurrent stop answered %s", r[i]->body);
    }
    /* two stop answers name the one command */
    if (js(r[0]->json, "commandId") && js(r[1]->json, "commandId") &&
        strcmp(js(r[0]->json, "commandId"), js(r[1]->json, "commandId")) != 0)
        fail_msg("two stops of one session made two commands: %s and %s", r[0]->body, r[1]->body);
    api_free(r[0]);
    api_free(r[1]);
    assert_int_equal(sim_calls_received_action(c, "RemoteStopTransaction"), 1);
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    cJSON_Delete(get_until(path, session_completed, "completed"));
    assert_int_equal(sim_calls_received_action(c, "RemoteStopTransaction"), 1);
}

static void test_rejected_remote_stop_is_422_failed_to_stop(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-stop-rej");
    int64_t sid, tx;
    remote_start("icm-stop-rej", &sid, &tx);
    sim_answers_set(&it_rec.ans, "RemoteStopTransaction", SIM_ANSWER_REJECT);
    char path[96];
    snprintf(path, sizeof path, "/v1/sessions/%lld/stop", (long long)sid);
    struct api_resp *r = post(path, NULL);
    api_expect_error(r, 422, "CHARGING_FAILED_TO_STOP");
    api_check_str(context_of(r), "status", "Rejected");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "RemoteStopTransaction"), 1);
    snprintf(path, sizeof path, "/v1/sessions/%lld", (long long)sid);
    r = get(path);
    api_check_str(api_expect(r, 200), "status", "active");
    api_free(r);
}

static void test_stop_of_unknown_session_is_404(void **state)
{
    (void)state;
    struct api_resp *r = post("/v1/sessions/987654321/stop", NULL);
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", "987654321");
    api_free(r);
    r = post("/v1/sessions/abc/stop", NULL);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

/* ================================================================== configuration */

static const cJSON *config_entry(const cJSON *body, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, member(body, "configurationKey"))
        if (js(e, "key") && strcmp(js(e, "key"), key) == 0)
            return e;
    return NULL;
}

static void test_configuration_get(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-cfg");
    struct api_resp *r = get("/v1/chargers/icm-cfg/configuration");
    const cJSON *b = api_expect(r, 200);
    api_check_schema(b, "Configuration");
    const struct it_rec_call *k = it_rec_last("GetConfiguration");
    check_json(b, k->answer, "GET configuration");
    check_json_text(k->request, "{}", "GetConfiguration without keys");
    const cJSON *hb = config_entry(b, "HeartbeatInterval");
    api_check_str(hb, "value", "300");
    api_check_bool(hb, "readonly", false);
    if (cJSON_GetArraySize(member(b, "configurationKey")) < 10)
        fail_msg("the whole configuration has fewer keys than the charger's table: %s", r->body);
    api_free(r);

    r = get("/v1/chargers/icm-cfg/configuration?key=HeartbeatInterval");
    b = api_expect(r, 200);
    check_json_text(it_rec_last("GetConfiguration")->request, "{\"key\":[\"HeartbeatInterval\"]}",
                    "GetConfiguration of one key");
    check_json(b, "{\"configurationKey\":[{\"key\":\"HeartbeatInterval\",\"readonly\":false,\"value\":\"300\"}]}",
               "GET configuration?key=HeartbeatInterval");
    api_free(r);

    r = get("/v1/chargers/icm-cfg/configuration?key=HeartbeatInterval,NoSuchKey");
    b = api_expect(r, 200);
    check_json(b,
               "{\"configurationKey\":[{\"key\":\"HeartbeatInterval\",\"readonly\":false,\"value\":\"300\"}],"
               "\"unknownKey\":[\"NoSuchKey\"]}",
               "GET configuration?key=HeartbeatInterval,NoSuchKey");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "GetConfiguration"), 3);
}

static void test_configuration_patch(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-cfg");
    struct api_resp *r = request("PATCH", admin, "/v1/chargers/icm-cfg/configuration",
                                 "{\"HeartbeatInterval\":120,\"UnknownKey\":\"x\"}", NULL);
    check_json(api_expect(r, 200), "{\"HeartbeatInterval\":\"Accepted\",\"UnknownKey\":\"NotSupported\"}",
               "PATCH configuration");
    api_free(r);
    /* one ChangeConfiguration per key, in body order, the value as a string */
    assert_int_equal(it_rec.n, 2);
    assert_string_equal(it_rec.calls[0].action, "ChangeConfiguration");
    check_json_text(it_rec.calls[0].request, "{\"key\":\"HeartbeatInterval\",\"value\":\"120\"}", "the first key");
    assert_string_equal(it_rec.calls[1].action, "ChangeConfiguration");
    check_json_text(it_rec.calls[1].request, "{\"key\":\"UnknownKey\",\"value\":\"x\"}", "the second key");
    assert_string_equal(sim_answers_config_value(c, "HeartbeatInterval"), "120");

    r = get("/v1/chargers/icm-cfg/configuration?key=HeartbeatInterval");
    api_check_str(config_entry(api_expect(r, 200), "HeartbeatInterval"), "value", "120");
    api_free(r);

    /* booleans and read-only keys, per the charger */
    r = request("PATCH", admin, "/v1/chargers/icm-cfg/configuration",
                "{\"LocalPreAuthorize\":true,\"NumberOfConnectors\":2,\"MeterValueSampleInterval\":\"30\"}", NULL);
    check_json(api_expect(r, 200),
               "{\"LocalPreAuthorize\":\"Accepted\",\"NumberOfConnectors\":\"Rejected\","
               "\"MeterValueSampleInterval\":\"Accepted\"}",
               "PATCH configuration");
    api_free(r);
    check_json_text(it_rec_last("ChangeConfiguration")->request,
                    "{\"key\":\"MeterValueSampleInterval\",\"value\":\"30\"}", "the last key");
    assert_string_equal(sim_answers_config_value(c, "LocalPreAuthorize"), "true");
    assert_string_equal(sim_answers_config_value(c, "NumberOfConnectors"), "1");
}

static void test_configuration_patch_invalid_is_422(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-cfg-bad");
    static const struct api_bad cases[] = {
        { "{}", "body" },
        { "{\"HeartbeatInterval\":{\"seconds\":120}}", "HeartbeatInterval" },
        { "{\"HeartbeatInterval\":[120]}", "HeartbeatInterval" },
        { "{\"HeartbeatInterval\":null}", "HeartbeatInterval" },
        { "{\"HeartbeatInterval\":120,\"WebSocketPingInterval\":{}}", "WebSocketPingInterval" },
        { "{\"ThisKeyNameIsMuchLongerThanTheFiftyCharactersOcppAllows\":1}",
          "ThisKeyNameIsMuchLongerThanTheFiftyCharactersOcppAllows" },
    };
    api_expect_bad_bodies(PORT, admin, "PATCH", "/v1/chargers/icm-cfg-bad/configuration", cases, API_COUNT(cases));
    struct api_resp *r = request("PATCH", admin, "/v1/chargers/icm-cfg-bad/configuration", "[1]", NULL);
    api_expect_error(r, 422, "UNPROCESSABLE_ENTITY");
    api_free(r);
    /* all or nothing: not even the valid key of a body with a bad one went out */
    assert_int_equal(sim_calls_received(c), 0);
    expect_calls_then_marker("icm-cfg-bad", "");
}

/* ================================================================== idempotency */

static void test_idempotent_remote_start_starts_one_session(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-idem");
    static const char *const hdr[] = { "Idempotency-Key: icm-idem-start-1", NULL };
    const char *body = "{\"connectorId\":1,\"idTag\":\"" TAG "\"}";
    struct api_resp *first = request("POST", admin, "/v1/chargers/icm-idem/remote-start", body, hdr);
    const cJSON *b = api_expect(first, 200);
    api_check_str(b, "status", "Accepted");
    if (!cJSON_IsNumber(member(b, "sessionId")))
        fail_msg("the first remote start has no session: %s", first->body);
    if (!wait_until(W.sim, start_answered, c, IT_WAIT_MS))
        fail_msg("the simulator's StartTransaction was never answered");

    struct api_resp *again = request("POST", admin, "/v1/chargers/icm-idem/remote-start", body, hdr);
    api_expect(again, first->status);
    if (strcmp(again->body, first->body) != 0)
        fail_msg("the replay differs: first %s, then %s", first->body, again->body);
    const char *replayed = api_header(again, "Idempotent-Replayed");
    if (!replayed || strcmp(replayed, "true") != 0)
        fail_msg("the replay has Idempotent-Replayed \"%s\"", replayed ? replayed : "(absent)");
    if (api_header(first, "Idempotent-Replayed"))
        fail_msg("the first answer says it is a replay");
    const char *h1 = api_header(first, "X-Command-Id"), *h2 = api_header(again, "X-Command-Id");
    if (!h1 || !h2 || strcmp(h1, h2) != 0)
        fail_msg("the replay names another command: %s, then %s", h1 ? h1 : "(none)", h2 ? h2 : "(none)");
    api_free(first);
    api_free(again);

    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
    expect_calls_then_marker("icm-idem", "RemoteStartTransaction");
    struct sim_answers_stats st;
    sim_answers_get_stats(c, &st);
    assert_int_equal(st.starts_sent, 1);
    struct api_resp *r = get("/v1/sessions?chargerId=icm-idem");
    assert_int_equal(cJSON_GetArraySize(api_data(api_expect(r, 200))), 1);
    api_free(r);
}

static void test_idempotency_key_with_another_body_is_409(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-idem2");
    static const char *const hdr[] = { "Idempotency-Key: icm-idem-reset-1", NULL };
    struct api_resp *r = request("POST", admin, "/v1/chargers/icm-idem2/commands/Reset", "{\"type\":\"Soft\"}", hdr);
    api_expect(r, 200);
    api_free(r);
    r = request("POST", admin, "/v1/chargers/icm-idem2/commands/Reset", "{\"type\":\"Hard\"}", hdr);
    api_expect_error(r, 409, "IDEMPOTENCY_KEY_REUSED");
    api_free(r);
    /* same key, another route */
    r = request("POST", admin, "/v1/chargers/icm-idem2/commands/ClearCache", "{}", hdr);
    api_expect_error(r, 409, "IDEMPOTENCY_KEY_REUSED");
    api_free(r);
    assert_int_equal(sim_calls_received(c), 1);
    expect_calls_then_marker("icm-idem2", "Reset");
}

/* Two tries at once with one key (a client retrying while the first waits): one acts, one 409. */
static void test_concurrent_retries_with_one_key_start_once(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-idem3");
    it_rec.ans.delay_ms = 300;
    const char *hdr[] = { "Idempotency-Key: icm-idem-start-2", NULL };
    struct api_req q[2] = {
        { .method = "POST", .path = "/v1/chargers/icm-idem3/remote-start", .key = admin,
          .body = "{\"connectorId\":1,\"idTag\":\"" TAG "\"}", .headers = hdr },
        { .method = "POST", .path = "/v1/chargers/icm-idem3/remote-start", .key = admin,
          .body = "{\"connectorId\":1,\"idTag\":\"" TAG "\"}", .headers = hdr },
    };
    struct api_resp *r[2];
    send_all(q, 2, r);
    int ok = r[0]->status == 200 ? 0 : 1;
    api_check_str(api_expect(r[ok], 200), "status", "Accepted");
    api_expect_error(r[1 - ok], 409, "IDEMPOTENCY_KEY_REUSED");
    char *body = strdup(r[ok]->body);
    api_free(r[0]);
    api_free(r[1]);
    /* once it is done, the retry is a replay */
    struct api_resp *again = send1(&q[0]);
    api_expect(again, 200);
    if (strcmp(again->body, body) != 0)
        fail_msg("the replay differs: first %s, then %s", body, again->body);
    assert_non_null(api_header(again, "Idempotent-Replayed"));
    api_free(again);
    free(body);
    assert_int_equal(sim_calls_received_action(c, "RemoteStartTransaction"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE charger_id = 'icm-idem3'"), 1);
}

/* A 202 is replayed with its Location; a timeout after the CALL went out is recorded, not retried. */
static void test_idempotent_async_and_timeout_are_replayed(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-idem4");
    const char *hdr[] = { "Idempotency-Key: icm-idem-async-1", "Prefer: respond-async", NULL };
    struct api_resp *first = request("POST", admin, "/v1/chargers/icm-idem4/commands/Reset", "{\"type\":\"Soft\"}",
                                     hdr);
    api_expect(first, 202);
    char loc[128];
    snprintf(loc, sizeof loc, "%s", api_header(first, "Location") ? api_header(first, "Location") : "");
    api_free(first);
    struct api_resp *again = request("POST", admin, "/v1/chargers/icm-idem4/commands/Reset", "{\"type\":\"Soft\"}",
                                     hdr);
    api_expect(again, 202);
    const char *loc2 = api_header(again, "Location");
    if (!loc2 || strcmp(loc2, loc) != 0)
        fail_msg("the replayed 202 has Location \"%s\", the first \"%s\"", loc2 ? loc2 : "(absent)", loc);
    assert_non_null(api_header(again, "Idempotent-Replayed"));
    api_free(again);
    cJSON_Delete(command_final(loc + strlen("/v1/commands/")));
    assert_int_equal(sim_calls_received_action(c, "Reset"), 1);

    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    const char *hdr2[] = { "Idempotency-Key: icm-idem-timeout-1", NULL };
    first = request("POST", admin, "/v1/chargers/icm-idem4/commands/ClearCache", "{}", hdr2);
    api_expect_error(first, 504, "CHARGER_TIMEOUT");
    again = request("POST", admin, "/v1/chargers/icm-idem4/commands/ClearCache", "{}", hdr2);
    api_expect_error(again, 504, "CHARGER_TIMEOUT");
    assert_non_null(api_header(again, "Idempotent-Replayed"));
    if (strcmp(again->body, first->body) != 0)
        fail_msg("the replayed 504 differs: %s, then %s", first->body, again->body);
    api_free(first);
    api_free(again);
    assert_int_equal(sim_calls_received_action(c, "ClearCache"), 1);
}

/* Refused before anything went out (409 offline): the key is free again for the retry. */
static void test_offline_refusal_releases_the_idempotency_key(void **state)
{
    (void)state;
    const char *hdr[] = { "Idempotency-Key: icm-idem-offline-1", NULL };
    struct api_resp *r = request("POST", admin, "/v1/chargers/icm-idem5/commands/Reset", "{\"type\":\"Soft\"}", hdr);
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_OFFLINE");
    api_free(r);
    struct sim_charger *c = plug("icm-idem5");
    r = request("POST", admin, "/v1/chargers/icm-idem5/commands/Reset", "{\"type\":\"Soft\"}", hdr);
    check_json(api_expect(r, 200), "{\"status\":\"Accepted\"}", "the retry once the charger is back");
    if (api_header(r, "Idempotent-Replayed"))
        fail_msg("the retry after a 409 offline was replayed instead of done");
    api_free(r);
    assert_int_equal(sim_calls_received_action(c, "Reset"), 1);
}

/* ================================================================== late answers and shutdown */

/* An answer that comes after the timeout is not taken for the next command's. */
static void test_late_answer_is_not_the_next_commands(void **state)
{
    (void)state;
    struct sim_charger *c = plug("icm-late");
    it_rec.ans.delay_ms = (CALL_TIMEOUT_S + 1) * 1000;
    struct api_resp *r = command("icm-late", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 504, "CHARGER_TIMEOUT");
    api_free(r);
    /* the next one is in flight when the late Reset answer arrives */
    it_rec.ans.delay_ms = 1500;
    r = command("icm-late", "GetLocalListVersion", "{}");
    check_json(api_expect(r, 200), "{\"listVersion\":0}", "the answer to the command after a timeout");
    char cid[64];
    command_id_of(r, cid);
    api_free(r);
    cJSON *cmd = command_final(cid);
    api_check_str(cmd, "outcome", "answered");
    check_json(member(cmd, "response"), "{\"listVersion\":0}", "its response");
    cJSON_Delete(cmd);
    assert_int_equal(sim_calls_received(c), 2);
}

static bool terminated;

static void term_once_sent(void *arg)
{
    (void)arg;
    if (!terminated && it_rec.n >= 1) {
        gw_term(W.gw2);
        terminated = true;
    }
}

/* SIGTERM with a command waiting for its charger: the request is answered, the gateway exits 0. */
static void test_shutdown_with_a_command_in_flight_answers_it(void **state)
{
    (void)state;
    struct gw_opts o = { .name = "it_commands_shutdown", .ini = API_UNLIMITED_INI "[ocpp]\ncall_timeout = 60\n" };
    W.gw2 = gw_start(&o);
    W.sim2 = it_sim(gw_port(W.gw2));
    sim_set_default_responder(W.sim2, it_rec_responder, NULL);
    it_rec.ans.behaviour = SIM_ANSWER_SILENCE;
    it_connect_booted(W.sim2, "icm-shut", NULL);
    terminated = false;
    struct sending how = { .port = gw_port(W.gw2), .sim = W.sim2, .step = term_once_sent };
    struct api_req q = { .method = "POST", .path = "/v1/chargers/icm-shut/commands/Reset", .key = admin,
                         .body = "{\"type\":\"Soft\"}" };
    struct api_resp *r;
    send_all_on(&how, &q, 1, &r);
    assert_true(terminated);
    assert_int_equal(gw_wait(W.gw2, 30000), 0);
    /* the command went out: it is recorded as ended */
    char *outcome = db_str("SELECT state || '/' || coalesce(outcome, '-') FROM commands"
                           " WHERE charger_id = 'icm-shut' ORDER BY created_at DESC LIMIT 1");
    if (!outcome || strncmp(outcome, "failed/", 7) != 0 || strcmp(outcome, "failed/-") == 0)
        fail_msg("the command in flight at shutdown is stored as %s, not ended", outcome ? outcome : "(no row)");
    free(outcome);
    /* and the client waiting for it got an answer: the error table's 503, or the 502 the code
     * gives a command whose CALL had gone out (commit 3441573), never a dropped connection */
    if (r->status == 502)
        api_expect_error(r, 502, "BAD_GATEWAY");
    else
        api_expect_error(r, 503, "SERVICE_UNAVAILABLE");
    /* saying what happened: the gateway shut down, the charger did not answer with an error */
    const char *readable = cJSON_GetStringValue(cJSON_GetObjectItem(r->json, "readableMessage"));
    if (!readable || !strstr(readable, "shut"))
        fail_msg("readableMessage of a command cut by shutdown: %s", readable ? readable : "(none)");
    api_free(r);
}

/* ================================================================== audit and metrics */

static double metric_or_zero(const char *labels)
{
    double v = metrics_get(PORT, "ocppgw_commands_total", labels);
    return v < 0 ? 0 : v;
}

static bool audit_row_there(const cJSON *body)
{
    return cJSON_GetArraySize(api_data(body)) >= 1;
}

static void test_audit_log_and_metrics(void **state)
{
    (void)state;
    plug("icm-audit");
    const char *accepted = "action=\"Reset\",outcome=\"accepted\"";
    const char *call_error = "action=\"Reset\",outcome=\"call_error\"";
    double before = metric_or_zero(accepted), before_err = metric_or_zero(call_error);

    struct api_resp *r = command("icm-audit", "Reset", "{\"type\":\"Soft\"}");
    api_expect(r, 200);
    char cid[64];
    command_id_of(r, cid);
    api_free(r);

    char path[200];
    snprintf(path, sizeof path, "/v1/audit-log?action=command.Reset&resource=%s", cid);
    cJSON *b = get_until(path, audit_row_there, "an audit row for the command");
    const cJSON *rows = api_data(b);
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    const cJSON *row = cJSON_GetArrayItem(rows, 0);
    api_check_str(row, "action", "command.Reset");
    api_check_str(row, "resource", cid);
    api_check_str(row, "result", "answered");
    char actor[48];
    snprintf(actor, sizeof actor, "apikey:%lld", (long long)api_key_id(admin));
    api_check_str(row, "actor", actor);
    api_check_str(member(row, "detail"), "chargerId", "icm-audit");
    cJSON_Delete(b);

    double after = metric_or_zero(accepted);
    if (after != before + 1)
        fail_msg("ocppgw_commands_total{%s}: %g before, %g after one accepted Reset", accepted, before, after);

    it_rec.ans.behaviour = SIM_ANSWER_CALLERROR;
    r = command("icm-audit", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 502, "BAD_GATEWAY");
    command_id_of(r, cid);
    api_free(r);
    double after_err = metric_or_zero(call_error);
    if (after_err != before_err + 1)
        fail_msg("ocppgw_commands_total{%s}: %g before, %g after one CALLERROR", call_error, before_err, after_err);
    snprintf(path, sizeof path, "/v1/audit-log?action=command.Reset&resource=%s", cid);
    b = get_until(path, audit_row_there, "an audit row for the failed command");
    api_check_str(cJSON_GetArrayItem(api_data(b), 0), "result", "callError");
    cJSON_Delete(b);

    /* refusals are audited too: the charger offline */
    db_exec("DELETE FROM audit_log WHERE action = 'command.Reset' AND resource = 'icm-off'");
    r = command("icm-off", "Reset", "{\"type\":\"Soft\"}");
    api_expect_error(r, 409, "CHARGING_CHARGEPOINT_OFFLINE");
    api_free(r);
    b = get_until("/v1/audit-log?action=command.Reset&resource=icm-off", audit_row_there,
                  "an audit row for the refused command");
    api_check_str(cJSON_GetArrayItem(api_data(b), 0), "result", "offline");
    cJSON_Delete(b);

    char *text = NULL;
    assert_int_equal(http_get(PORT, "/metrics", &text), 200);
    bool histogram = metric_has_family(text, "ocppgw_command_answer_seconds", "histogram");
    double answers = metric_value(text, "ocppgw_command_answer_seconds_count", "action=\"Reset\"");
    free(text);
    if (!histogram)
        fail_msg("/metrics has no ocppgw_command_answer_seconds histogram");
    if (answers < 1)
        fail_msg("/metrics counts no Reset answer time");
}

/* ================================================================== main */

int main(void)
{
    char t1[32], t2[32];
    snprintf(reserve_payload, sizeof reserve_payload,
             "{\"connectorId\":1,\"expiryDate\":\"%s\",\"idTag\":\"" TAG "\",\"reservationId\":9}",
             it_iso_time(t1, 3600));
    snprintf(firmware_payload, sizeof firmware_payload,
             "{\"location\":\"https://fw.example.com/icm-2.0.bin\",\"retrieveDate\":\"%s\",\"retries\":2}",
             it_iso_time(t2, 600));

#define T(f) cmocka_unit_test_setup_teardown(f, it_rec_setup, it_rec_teardown)
    static const struct CMUnitTest others[] = {
        T(test_unknown_charger_is_404),
        T(test_unknown_action_is_404_and_nothing_is_sent),
        T(test_invalid_payload_is_422_naming_the_field),
        T(test_body_not_an_object_is_422_and_malformed_json_400),
        T(test_trailing_bytes_after_the_json_are_400),
        T(test_offline_charger_is_409),
        T(test_callerror_is_502_with_the_chargers_code),
        T(test_invalid_answer_is_502),
        T(test_silence_is_504_and_the_queue_moves_on),
        T(test_disconnect_mid_call_is_502_disconnected),
        T(test_disconnect_fails_the_queue_too),
        T(test_queue_full_is_503),
        T(test_rejected_remote_start_is_422_failed_to_start),
        T(test_power_limit_applied_and_cleared),
        T(test_power_limit_rejected_is_stored_not_applied),
        T(test_power_limit_offline_then_sent_at_boot),
        T(test_power_limit_invalid_is_422),
        T(test_power_limit_reaches_a_charger_on_another_gateway),
        T(test_missing_credentials_is_401),
        T(test_key_without_commands_write_is_403),
        T(test_key_limited_to_other_chargers_is_403),
        T(test_commands_to_one_charger_are_serialized),
        T(test_parallel_sync_commands_are_serialized),
        T(test_command_list_newest_first_with_filters),
        T(test_command_list_agrees_with_the_single_read),
        T(test_async_is_202_then_the_same_outcome),
        T(test_async_failure_is_recorded_like_sync),
        T(test_remote_start_returns_the_session),
        T(test_remote_start_without_connector),
        T(test_remote_start_without_start_transaction_has_null_session),
        T(test_remote_start_on_faulted_connector_is_409),
        T(test_stop_active_session),
        T(test_stop_of_completed_session_sends_nothing),
        T(test_two_concurrent_stops_send_one_remote_stop),
        T(test_rejected_remote_stop_is_422_failed_to_stop),
        T(test_stop_of_unknown_session_is_404),
        T(test_configuration_get),
        T(test_configuration_patch),
        T(test_configuration_patch_invalid_is_422),
        T(test_idempotent_remote_start_starts_one_session),
        T(test_idempotency_key_with_another_body_is_409),
        T(test_concurrent_retries_with_one_key_start_once),
        T(test_idempotent_async_and_timeout_are_replayed),
        T(test_offline_refusal_releases_the_idempotency_key),
        T(test_late_answer_is_not_the_next_commands),
        T(test_shutdown_with_a_command_in_flight_answers_it),
        T(test_audit_log_and_metrics),
    };
    return it_run_action_group("it_commands", action_cases, N_ACTIONS, test_action, it_rec_setup, it_rec_teardown,
                               others, sizeof others / sizeof others[0], group_setup, group_teardown);
}
