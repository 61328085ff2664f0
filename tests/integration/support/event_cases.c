/*
 * The event cases and their runner (event_cases.h): one cause per event
 * type of events.md, the checks every read path shares.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "event_cases.h"
#include "rest.h"            /* support/rest.h: this directory first */
#include "util.h"

#define EV_PASSWORD "iev-authorization-key-1"

int64_t it_ev_last_seq(void)
{
    int64_t n = db_int("SELECT coalesce(max(seq), 0) FROM events");
    return n == DB_NONE ? 0 : n;
}

/* ---------------------------------------------------------------- helpers for the causes */

static void expect_json(struct it_ev_run *run, const char *json)
{
    cJSON_Delete(run->expect);
    run->expect = cJSON_Parse(json);
    if (!run->expect)
        fail_msg("%s: bad expectation %s", run->c->name, json);
}

static struct sim_charger *plug(struct it_ev_run *run)
{
    struct sim_charger *c = it_connect_when_known(run->env->sim, run->charger, EV_PASSWORD);
    run->conn[run->conn[0] ? 1 : 0] = c;
    return c;
}

static void api_ok(struct it_ev_run *run, const char *method, const char *path, const char *body,
                   const char *const *headers, int status)
{
    struct api_req q = { .method = method, .path = path, .key = run->env->key, .body = body,
                         .headers = headers };
    struct api_resp *r = api_send(run->env->port, &q);
    api_expect(r, status);
    api_free(r);
}

static char *charger_path(const struct it_ev_run *run)
{
    return it_strf("/v1/chargers/%s", run->charger);
}

/* A token of this run's own for its sessions (no other run's session makes it ConcurrentTx). */
static const char *session_tag(struct it_ev_run *run)
{
    snprintf(run->tag, sizeof run->tag, "%.12ss%s", run->env->prefix, run->charger + strlen(run->env->prefix) + 1);
    db_add_token(run->tag, "Accepted", NULL, NULL);
    return run->tag;
}

/* ---------------------------------------------------------------- chargers */

static void cause_charger_created(struct it_ev_run *run)
{
    char *body = it_strf("{\"id\":\"%s\",\"name\":\"created\",\"siteId\":\"%s\",\"securityProfile\":0}",
                         run->charger, run->site);
    api_ok(run, "POST", "/v1/chargers", body, NULL, 201);
    free(body);
    char *want = it_strf("{\"id\":\"%s\",\"name\":\"created\",\"siteId\":\"%s\",\"connected\":false,"
                         "\"connectors\":[]}", run->charger, run->site);
    expect_json(run, want);
    free(want);
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

static void cause_charger_updated(struct it_ev_run *run)
{
    const char *body = "{\"name\":\"renamed\",\"maxAvailableCurrent\":32.5,\"latitude\":52.52,"
                       "\"longitude\":13.405,\"timeZone\":\"Europe/Berlin\",\"commissioningDate\":\"2025-03-01\"}";
    char *p = charger_path(run);
    api_ok(run, "PATCH", p, body, NULL, 200);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
    expect_json(run, body);
}

static void cause_charger_deleted(struct it_ev_run *run)
{
    char *p = charger_path(run);
    api_ok(run, "DELETE", p, NULL, NULL, 204);
    free(p);
    char *want = it_strf("{\"id\":\"%s\",\"siteId\":\"%s\"}", run->charger, run->site);
    expect_json(run, want);
    free(want);
}

static void cause_charger_connected(struct it_ev_run *run)
{
    plug(run);
    expect_json(run, "{\"connected\":true}");
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

static void cause_charger_disconnected(struct it_ev_run *run)
{
    plug(run);
    /* the connect is written behind: let it commit first, so that this is the flag going down */
    if (db_wait_int(IT_WAIT_MS, 1, "SELECT connected::int FROM chargers WHERE id = $1", run->charger) != 1)
        fail_msg("%s: charger %s never stored as connected", run->c->name, run->charger);
    sim_disconnect(run->conn[0]);
    run->conn[0] = NULL;
    expect_json(run, "{\"connected\":false,\"reason\":\"closed by the charger (1000)\"}");
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

static void cause_charger_booted(struct it_ev_run *run)
{
    it_boot(plug(run));
    expect_json(run, "{\"vendor\":\"ItVendor\",\"model\":\"ItModel\"}");
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

/* ---------------------------------------------------------------- connectors */

static void cause_connector_status(struct it_ev_run *run)
{
    struct sim_charger *c = plug(run);
    it_iso_time(run->occurred, -5);
    char *body = it_strf("{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Charging\","
                         "\"timestamp\":\"%s\"}", run->occurred);
    cJSON_Delete(it_ok(c, "StatusNotification", body));
    free(body);
    char *want = it_strf("{\"chargerId\":\"%s\",\"connectorId\":1,\"status\":\"Charging\",\"errorCode\":\"NoError\","
                         "\"timestamp\":\"%s\"}", run->charger, run->occurred);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/chargers/%s#connectors/1", run->charger);
}

/* ---------------------------------------------------------------- sessions */

static int32_t start_session(struct it_ev_run *run, struct sim_charger *c, const char *at)
{
    return it_start_accepted(c, 1, session_tag(run), 1000, at);
}

static void cause_session_started(struct it_ev_run *run)
{
    it_iso_time(run->occurred, -60);
    int32_t tx = start_session(run, plug(run), run->occurred);
    char *want = it_strf("{\"chargerId\":\"%s\",\"transactionId\":%d,\"status\":\"active\",\"idTag\":\"%s\","
                         "\"meterStart\":1000,\"energy\":null,\"startTime\":\"%s\"}",
                         run->charger, tx, run->tag, run->occurred);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/sessions/@id");
}

static void cause_session_updated(struct it_ev_run *run)
{
    struct sim_charger *c = plug(run);
    char t0[40];
    it_iso_time(t0, -60);
    it_iso_time(run->occurred, -30);
    int32_t tx = start_session(run, c, t0);
    char *mv = it_strf("{\"connectorId\":1,\"transactionId\":%d,\"meterValue\":[{\"timestamp\":\"%s\","
                       "\"sampledValue\":[{\"value\":\"1500\"}]}]}", tx, run->occurred);
    cJSON_Delete(it_ok(c, "MeterValues", mv));
    free(mv);
    char *want = it_strf("{\"transactionId\":%d,\"status\":\"active\",\"energy\":500}", tx);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/sessions/@id");
}

static void cause_session_stopped(struct it_ev_run *run)
{
    struct sim_charger *c = plug(run);
    char t0[40];
    it_iso_time(t0, -60);
    it_iso_time(run->occurred, -10);
    int32_t tx = start_session(run, c, t0);
    char *stop = it_strf("{\"transactionId\":%d,\"meterStop\":4000,\"timestamp\":\"%s\",\"reason\":\"Local\"}",
                         tx, run->occurred);
    cJSON_Delete(it_ok(c, "StopTransaction", stop));
    free(stop);
    char *want = it_strf("{\"transactionId\":%d,\"status\":\"completed\",\"meterStop\":4000,\"energy\":3000,"
                         "\"stopReason\":\"Local\",\"endTime\":\"%s\",\"chargingDuration\":50}", tx, run->occurred);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/sessions/@id");
}

/*
 * meter_values.received is stored only while ocppgw_event_wanted() says so
 * (version 11 and whoever redefines it: webhooks, while a subscription
 * names it). The case makes it wanted for one message and puts back
 * whatever definition was in force: MeterValues is answered after its
 * commit, so the message is stored by then.
 */
static void cause_meter_values(struct it_ev_run *run)
{
    struct sim_charger *c = plug(run);
    char *def = db_str("SELECT pg_get_functiondef('ocppgw_event_wanted(text)'::regprocedure)");
    db_exec("CREATE OR REPLACE FUNCTION ocppgw_event_wanted(p_type text) RETURNS boolean"
            " LANGUAGE sql STABLE AS $$ SELECT true $$");
    it_iso_time(run->occurred, -20);
    char *mv = it_strf("{\"connectorId\":2,\"meterValue\":[{\"timestamp\":\"%s\",\"sampledValue\":"
                       "[{\"value\":\"42\",\"measurand\":\"Power.Active.Import\",\"unit\":\"W\"}]}]}",
                       run->occurred);
    cJSON_Delete(it_ok(c, "MeterValues", mv));
    free(mv);
    db_exec(def);
    free(def);
    char *want = it_strf("{\"chargerId\":\"%s\",\"connectorId\":2,\"transactionId\":null,\"sessionId\":null,"
                         "\"meterValues\":[{\"timestamp\":\"%s\",\"value\":\"42\",\"measurand\":\"Power.Active.Import\","
                         "\"unit\":\"W\",\"context\":\"Sample.Periodic\",\"format\":\"Raw\",\"phase\":null,"
                         "\"location\":\"Outlet\",\"sessionId\":null,\"connectorId\":2}]}",
                         run->charger, run->occurred);
    expect_json(run, want);
    free(want);
}

/* ---------------------------------------------------------------- commands */

static struct sim_answers answers_accept, answers_error;

static void command(struct it_ev_run *run, struct sim_answers *how)
{
    sim_answers_init(&answers_accept);
    sim_answers_init(&answers_error);
    answers_error.behaviour = SIM_ANSWER_CALLERROR;
    sim_set_responder(plug(run), sim_answers_responder, how);
    char *p = it_strf("/v1/chargers/%s/commands/Reset", run->charger);
    static const char *const async[] = { "Prefer: respond-async", NULL };
    api_ok(run, "POST", p, "{\"type\":\"Soft\"}", async, 202);
    free(p);
    snprintf(run->resource, sizeof run->resource, "/v1/commands/@id");
}

static void cause_command_completed(struct it_ev_run *run)
{
    command(run, &answers_accept);
    char *want = it_strf("{\"chargerId\":\"%s\",\"action\":\"Reset\",\"payload\":{\"type\":\"Soft\"},"
                         "\"status\":\"completed\",\"outcome\":\"answered\",\"responseStatus\":\"Accepted\","
                         "\"response\":{\"status\":\"Accepted\"},\"error\":null}", run->charger);
    expect_json(run, want);
    free(want);
}

static void cause_command_failed(struct it_ev_run *run)
{
    command(run, &answers_error);
    char *want = it_strf("{\"chargerId\":\"%s\",\"action\":\"Reset\",\"status\":\"failed\",\"outcome\":\"callError\","
                         "\"response\":null}", run->charger);
    expect_json(run, want);
    free(want);
}

/* ---------------------------------------------------------------- notifications */

static void cause_firmware(struct it_ev_run *run)
{
    cJSON_Delete(it_ok(plug(run), "FirmwareStatusNotification", "{\"status\":\"Downloading\"}"));
    expect_json(run, "{\"firmwareStatus\":\"Downloading\"}");
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

static void cause_diagnostics(struct it_ev_run *run)
{
    cJSON_Delete(it_ok(plug(run), "DiagnosticsStatusNotification", "{\"status\":\"Uploading\"}"));
    expect_json(run, "{\"diagnosticsStatus\":\"Uploading\"}");
    char *p = charger_path(run);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
}

static void cause_data_transfer(struct it_ev_run *run)
{
    cJSON_Delete(it_ok(plug(run), "DataTransfer",
                       "{\"vendorId\":\"iev.vendor\",\"messageId\":\"m1\",\"data\":\"hello\"}"));
    char *want = it_strf("{\"chargerId\":\"%s\",\"vendorId\":\"iev.vendor\",\"messageId\":\"m1\",\"data\":\"hello\"}",
                         run->charger);
    expect_json(run, want);
    free(want);
}

static void cause_security_charger(struct it_ev_run *run)
{
    struct sim_charger *c = plug(run);
    it_iso_time(run->occurred, -15);
    char *reply = sim_security_event(c, "FirmwareUpdated", run->occurred, "v2", IT_CALL_MS);
    if (!reply)
        fail_msg("%s: SecurityEventNotification not answered", run->c->name);
    free(reply);
    char *want = it_strf("{\"source\":\"charger\",\"chargerId\":\"%s\",\"type\":\"FirmwareUpdated\","
                         "\"timestamp\":\"%s\",\"techInfo\":\"v2\"}", run->charger, run->occurred);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/chargers/%s/security-events#@id", run->charger);
}

static void cause_security_auth_failed(struct it_ev_run *run)
{
    plug(run);                      /* known to the gateway: this is a wrong key, not an unknown id */
    struct sim_charger_opts o = { .id = run->charger, .password = "iev-wrong-key-0000000" };
    int status = 0;
    struct sim_charger *c = it_try_connect(run->env->sim, &o, &status, NULL);
    if (c || status != 401)
        fail_msg("%s: a wrong key was answered %d", run->c->name, status);
    char *want = it_strf("{\"source\":\"gateway\",\"chargerId\":\"%s\",\"type\":\"auth_failed\"}", run->charger);
    expect_json(run, want);
    free(want);
}

static void cause_security_replaced(struct it_ev_run *run)
{
    plug(run);
    plug(run);
    char *want = it_strf("{\"source\":\"gateway\",\"chargerId\":\"%s\",\"type\":\"connection_replaced\"}",
                         run->charger);
    expect_json(run, want);
    free(want);
}

/* ---------------------------------------------------------------- tokens */

static void cause_token_created(struct it_ev_run *run)
{
    char *body = it_strf("{\"idTag\":\"%s\",\"name\":\"created\"}", run->tag);
    api_ok(run, "POST", "/v1/tokens", body, NULL, 201);
    free(body);
    char *want = it_strf("{\"idTag\":\"%s\",\"name\":\"created\",\"status\":\"Accepted\"}", run->tag);
    expect_json(run, want);
    free(want);
    snprintf(run->resource, sizeof run->resource, "/v1/tokens/%s", run->tag);
}

static void cause_token_updated(struct it_ev_run *run)
{
    char *p = it_strf("/v1/tokens/%s", run->tag);
    api_ok(run, "PATCH", p, "{\"status\":\"Blocked\",\"name\":\"updated\"}", NULL, 200);
    snprintf(run->resource, sizeof run->resource, "%s", p);
    free(p);
    char *want = it_strf("{\"idTag\":\"%s\",\"name\":\"updated\",\"status\":\"Blocked\"}", run->tag);
    expect_json(run, want);
    free(want);
}

static void cause_token_deleted(struct it_ev_run *run)
{
    char *p = it_strf("/v1/tokens/%s", run->tag);
    api_ok(run, "DELETE", p, NULL, NULL, 204);
    free(p);
    char *want = it_strf("{\"idTag\":\"%s\"}", run->tag);
    expect_json(run, want);
    free(want);
}

/* ---------------------------------------------------------------- the table */

const struct it_ev_case it_ev_cases[] = {
    { "charger.created", "charger.created", "Charger", false, true, false, cause_charger_created },
    { "charger.updated", "charger.updated", "Charger", false, false, false, cause_charger_updated },
    { "charger.deleted", "charger.deleted", "Charger", false, false, false, cause_charger_deleted },
    { "charger.connected", "charger.connected", "Charger", false, false, true, cause_charger_connected },
    { "charger.disconnected", "charger.disconnected", "EventDataChargerDisconnected", false, false, true,
      cause_charger_disconnected },
    { "charger.booted", "charger.booted", "Charger", false, false, true, cause_charger_booted },
    { "connector.status_changed", "connector.status_changed", "EventDataConnector", false, false, true,
      cause_connector_status },
    { "session.started", "session.started", "Session", false, false, true, cause_session_started },
    { "session.updated", "session.updated", "Session", false, false, true, cause_session_updated },
    { "session.stopped", "session.stopped", "Session", false, false, true, cause_session_stopped },
    { "meter_values.received", "meter_values.received", "EventDataMeterValues", false, false, true,
      cause_meter_values },
    { "command.completed", "command.completed", "Command", false, false, true, cause_command_completed },
    { "command.failed", "command.failed", "Command", false, false, true, cause_command_failed },
    { "firmware.status_changed", "firmware.status_changed", "Charger", false, false, true, cause_firmware },
    { "diagnostics.status_changed", "diagnostics.status_changed", "Charger", false, false, true,
      cause_diagnostics },
    { "data_transfer.received", "data_transfer.received", "EventDataDataTransfer", false, false, true,
      cause_data_transfer },
    { "security.event (SecurityEventNotification)", "security.event", "EventDataSecurityEvent", false, false,
      true, cause_security_charger },
    { "security.event (failed authentication)", "security.event", "EventDataSecurityEvent", false, false, true,
      cause_security_auth_failed },
    { "security.event (connection replaced)", "security.event", "EventDataSecurityEvent", false, false, true,
      cause_security_replaced },
    { "token.created", "token.created", "Token", true, true, false, cause_token_created },
    { "token.updated", "token.updated", "Token", true, false, false, cause_token_updated },
    { "token.deleted", "token.deleted", "Token", true, false, false, cause_token_deleted },
};
const size_t it_ev_ncases = sizeof it_ev_cases / sizeof it_ev_cases[0];

/* ---------------------------------------------------------------- checks */

bool it_ev_matches(const struct it_ev_run *run, const cJSON *e)
{
    const char *type = js(e, "type");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
    if (!type || strcmp(type, run->c->type) != 0 || !cJSON_IsNumber(seq) || seq->valuedouble <= (double)run->after_seq)
        return false;
    const cJSON *charger = cJSON_GetObjectItemCaseSensitive(e, "chargerId");
    if (run->c->no_charger) {
        const char *tag = js(cJSON_GetObjectItemCaseSensitive(e, "data"), "idTag");
        return cJSON_IsNull(charger) && tag && strcmp(tag, run->tag) == 0;
    }
    return cJSON_IsString(charger) && strcmp(charger->valuestring, run->charger) == 0;
}

static bool listed(const char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Members that move by themselves between the event's commit and a GET: GET's is not older. */
static bool moved_on(const char *key, const cJSON *ev, const cJSON *got, char *why, size_t cap)
{
    if (strcmp(key, "lastSeenAt") == 0) {
        int64_t a, b;
        if (cJSON_IsNull(ev) && (cJSON_IsNull(got) || cJSON_IsString(got)))
            return true;
        if (cJSON_IsString(ev) && cJSON_IsString(got) && time_parse_iso8601(ev->valuestring, &a) &&
            time_parse_iso8601(got->valuestring, &b) && b >= a)
            return true;
        snprintf(why, cap, "lastSeenAt: event %s, GET %s", cJSON_IsString(ev) ? ev->valuestring : "null",
                 cJSON_IsString(got) ? got->valuestring : "null");
        return false;
    }
    /* chargingDuration of an active session grows with the clock */
    if (cJSON_IsNumber(ev) && cJSON_IsNumber(got) && got->valuedouble >= ev->valuedouble &&
        got->valuedouble - ev->valuedouble <= 600)
        return true;
    snprintf(why, cap, "%s: event %g, GET %g", key, cJSON_IsNumber(ev) ? ev->valuedouble : -1.0,
             cJSON_IsNumber(got) ? got->valuedouble : -1.0);
    return false;
}

bool it_ev_same_as_get(const cJSON *data, const cJSON *got, const char *const *extra, char *why, size_t cap)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, got) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(data, m->string);
        if (!d) {
            snprintf(why, cap, "GET has \"%s\", the event's data does not", m->string);
            return false;
        }
        if (cJSON_Compare(d, m, true))
            continue;
        if (strcmp(m->string, "lastSeenAt") == 0 || strcmp(m->string, "chargingDuration") == 0) {
            if (!moved_on(m->string, d, m, why, cap))
                return false;
            continue;
        }
        char *a = cJSON_PrintUnformatted(d), *b = cJSON_PrintUnformatted(m);
        snprintf(why, cap, "\"%s\": event %.200s, GET %.200s", m->string, a ? a : "?", b ? b : "?");
        free(a);
        free(b);
        return false;
    }
    cJSON_ArrayForEach(m, data) {
        if (!cJSON_GetObjectItemCaseSensitive(got, m->string) && !listed(extra, m->string)) {
            snprintf(why, cap, "the event's data has \"%s\", GET does not", m->string);
            return false;
        }
    }
    return true;
}

/* The resource as GET shows it now (caller deletes): run->resource with @id replaced by data's id,
 * "#connectors/N" picking a connector of the charger, "#@id" an item of a collection by id. */
static cJSON *get_resource(const struct it_ev_run *run, const cJSON *data)
{
    char path[512], id[64] = "";
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(data, "id");
    if (cJSON_IsString(idv))
        snprintf(id, sizeof id, "%s", idv->valuestring);
    else if (cJSON_IsNumber(idv))
        snprintf(id, sizeof id, "%.0f", idv->valuedouble);
    snprintf(path, sizeof path, "%s", run->resource);
    char *at = strstr(path, "@id"), *hash = strchr(path, '#');
    const char *frag = NULL;
    char fragbuf[64] = "";
    if (hash) {
        snprintf(fragbuf, sizeof fragbuf, "%s", hash + 1);
        frag = fragbuf;
        *hash = '\0';
        at = strstr(path, "@id");
    }
    if (at) {
        char tail[256];
        snprintf(tail, sizeof tail, "%s", at + 3);
        snprintf(at, sizeof path - (size_t)(at - path), "%s%s", id, tail);
    }
    struct api_resp *r = api_get(run->env->port, run->env->key, path);
    cJSON *body = cJSON_Duplicate(api_expect(r, 200), true);
    api_free(r);
    if (!frag)
        return body;
    cJSON *found = NULL;
    const cJSON *items = strncmp(frag, "connectors/", 11) == 0 ? cJSON_GetObjectItemCaseSensitive(body, "connectors")
                                                               : cJSON_GetObjectItemCaseSensitive(body, "data");
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, strncmp(frag, "connectors/", 11) == 0 ? "connectorId"
                                                                                                     : "id");
        double want = strncmp(frag, "connectors/", 11) == 0 ? atof(frag + 11) : atof(id);
        if (cJSON_IsNumber(k) && k->valuedouble == want)
            found = cJSON_Duplicate(it, true);
    }
    cJSON_Delete(body);
    if (!found)
        fail_msg("%s: GET %s has no %s", run->c->name, path, frag);
    return found;
}

struct find_arg {
    const struct it_ev_reader *reader;
    const struct it_ev_run *run;
    cJSON *found;
};

static bool try_find(void *arg)
{
    struct find_arg *a = arg;
    a->found = a->reader->find(a->reader->ctx, a->run);
    return a->found != NULL;
}

static void prepare(struct it_ev_run *run)
{
    static int n;
    const struct it_ev_env *env = run->env;
    n++;
    if (run->c->no_charger) {
        snprintf(run->tag, sizeof run->tag, "%.12st%d", env->prefix, n % 100000);
        if (run->c->fresh)
            db_exec("DELETE FROM tokens WHERE id_tag = $1", run->tag);
        else
            db_add_token(run->tag, "Accepted", NULL, NULL);
        return;
    }
    snprintf(run->charger, sizeof run->charger, "%.12s-%d", env->prefix, n);
    snprintf(run->site, sizeof run->site, "%.12s-site", env->prefix);
    /* the site exists before a charger names it (a fresh one's POST too) */
    db_exec("INSERT INTO sites (id) VALUES ($1) ON CONFLICT DO NOTHING", run->site);
    if (run->c->fresh) {
        db_exec("DELETE FROM chargers WHERE id = $1", run->charger);
        return;
    }
    db_add_charger(run->charger, EV_PASSWORD, 1);
    db_exec("UPDATE chargers SET site_id = $2 WHERE id = $1", run->charger, run->site);
}

/* The event as read, member for member, is what GET /v1/events/{id} answers. */
static void check_is_the_collections(const struct it_ev_run *run, const cJSON *e, const char *text)
{
    const char *id = js(e, "id");
    if (!id)
        fail_msg("%s: the event has no id: %s", run->c->name, text);
    char *path = it_strf("/v1/events/%s", id);
    struct api_resp *r = api_get(run->env->port, run->env->key, path);
    if (!cJSON_Compare(api_expect(r, 200), e, true))
        fail_msg("%s: the event read differs from GET %s\n  read: %s\n  GET:  %s", run->c->name, path, text,
                 r->body);
    api_free(r);
    free(path);
}

void it_ev_run_case(const struct it_ev_case *c, const struct it_ev_env *env, const struct it_ev_reader *reader)
{
    struct it_ev_run run = { .c = c, .env = env };
    prepare(&run);
    run.after_seq = it_ev_last_seq();
    c->cause(&run);

    struct find_arg a = { reader, &run, NULL };
    if (!wait_until(env->sim, try_find, &a, IT_WAIT_MS))
        fail_msg("%s: no %s event for %s after seq %lld", c->name, c->type,
                 c->no_charger ? run.tag : run.charger, (long long)run.after_seq);
    cJSON *e = a.found;
    char *text = cJSON_PrintUnformatted(e);
    print_message("%s: %.600s\n", c->name, text);

    api_check_schema(e, "Event");
    if (reader->schema)
        api_check_schema(e, reader->schema);
    api_check_str(e, "type", c->type);
    if (c->no_charger) {
        api_check_null(e, "chargerId");
        api_check_null(e, "siteId");
    } else {
        api_check_str(e, "chargerId", run.charger);
        api_check_str(e, "siteId", run.site);
    }
    const cJSON *occ = cJSON_GetObjectItemCaseSensitive(e, "occurredAt");
    if (c->occurred && !cJSON_IsString(occ))
        fail_msg("%s: occurredAt is not set: %s", c->name, text);
    if (!c->occurred && !cJSON_IsNull(occ))
        fail_msg("%s: occurredAt should be null: %s", c->name, text);
    if (run.occurred[0])
        api_check_str(e, "occurredAt", run.occurred);
    check_is_the_collections(&run, e, text);

    const cJSON *data = cJSON_GetObjectItemCaseSensitive(e, "data");
    api_check_schema(data, c->data_schema);
    const cJSON *m;
    cJSON_ArrayForEach(m, run.expect) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(data, m->string);
        if (!d || !cJSON_Compare(d, m, true)) {
            char *want = cJSON_PrintUnformatted(m);
            fail_msg("%s: data.%s is not %s: %s", c->name, m->string, want, text);
        }
    }
    if (run.resource[0]) {
        static const char *const extra[] = { "reason", "chargerId", "source", NULL };
        cJSON *got = get_resource(&run, data);
        char why[512];
        if (!it_ev_same_as_get(data, got, extra, why, sizeof why)) {
            char *g = cJSON_PrintUnformatted(got);
            fail_msg("%s: data differs from GET %s: %s\n  event: %s\n  GET:   %s", c->name, run.resource, why,
                     text, g);
        }
        cJSON_Delete(got);
    }
    free(text);
    cJSON_Delete(e);
    cJSON_Delete(run.expect);
    for (int i = 0; i < 2; i++)
        if (run.conn[i])
            sim_disconnect(run.conn[i]);
}

static const char *case_name(const void *c)
{
    return ((const struct it_ev_case *)c)->name;
}

int it_ev_run_group(const char *group, const char *prefix, CMUnitTestFunction fn, CMFixtureFunction setup,
                    CMFixtureFunction teardown, const struct CMUnitTest *others, size_t nothers,
                    CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    char pre[64];
    snprintf(pre, sizeof pre, "%s ", prefix);
    const struct it_case_group g = { .group = group, .prefix = pre, .cases = it_ev_cases, .ncases = it_ev_ncases,
                                     .size = sizeof it_ev_cases[0], .name = case_name, .fn = fn, .setup = setup,
                                     .teardown = teardown, .others = others, .nothers = nothers,
                                     .group_setup = group_setup, .group_teardown = group_teardown };
    return it_run_case_group(&g);
}
