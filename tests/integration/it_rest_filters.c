/*
 * Integration: every collection filters by the fields named after them
 * (rest-api.md, Conventions), on a real gateway and PostgreSQL. For each
 * list route, rows made by SQL with known values, then each filter (alone
 * and combined with others) must list exactly the matching items, walked
 * two at a time (offset pages or cursor pages, so filters and pagination
 * are checked together); malformed values answer 400 naming the parameter;
 * a key limited to one charger still sees only that charger's rows,
 * whatever the filters.
 *
 * Charger, site, tag, key and actor names start with "irf-". Session
 * transaction ids are 7600000x.
 */
#include "it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "support/rest.h"

#define PORT gw_port(W.gw)

static char *admin;
static char *limited;           /* chargers:read, sessions:read, commands:write on irf-c1 only */
static char *s1_id, *s3_id;     /* session ids (transactions 76000001, 76000003) */

/* ---------------------------------------------------------------- data */

static void add_session(int tx, const char *charger, int connector, const char *tag, const char *status,
                        const char *auth, const char *reason, bool anomaly, const char *start)
{
    char txs[16], conn[8];
    snprintf(txs, sizeof txs, "%d", tx);
    snprintf(conn, sizeof conn, "%d", connector);
    bool done = strcmp(status, "completed") == 0;
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
            " start_time, end_time, meter_start, meter_stop, energy_wh, stop_reason, meter_anomaly)"
            " VALUES ($1::int, $2, $3::int, $4, $5, $6, $7::timestamptz,"
            " CASE WHEN $8::boolean THEN $7::timestamptz + interval '1 hour' END, 1000,"
            " CASE WHEN $8::boolean THEN CASE WHEN $10::boolean THEN 500 ELSE 3000 END END,"
            " CASE WHEN $8::boolean THEN CASE WHEN $10::boolean THEN -500 ELSE 2000 END END,"
            " nullif($9, ''), $10::boolean)",
            txs, charger, conn, tag, auth, status, start, done ? "true" : "false", reason,
            anomaly ? "true" : "false");
}

static void add_meter_value(const char *session, const char *value, const char *ts, const char *measurand,
                            const char *unit, const char *context, const char *format, const char *phase,
                            const char *location, const char *connector)
{
    db_exec("INSERT INTO meter_values (message_id, charger_id, connector_id, transaction_id, session_id, ts,"
            " value, measurand, unit, context, format, phase, location)"
            " SELECT 0, s.charger_id, $10::int, s.transaction_id, s.id, $2::timestamptz, $3, $4, $5, $6, $7,"
            " nullif($8, ''), $9 FROM sessions s WHERE s.id = $1::bigint",
            session, ts, value, measurand, unit, context, format, phase, location, connector);
}

static void add_status(const char *info, const char *connector, const char *status, const char *error_code,
                       const char *vendor_id, const char *vendor_error, const char *received)
{
    db_exec("INSERT INTO status_history (charger_id, connector_id, status, error_code, info, vendor_id,"
            " vendor_error_code, received_at) VALUES ('irf-c1', $1::int, $2, $3, $4, nullif($5, ''),"
            " nullif($6, ''), $7::timestamptz)",
            connector, status, error_code, info, vendor_id, vendor_error, received);
}

static void add_command(const char *charger, const char *request_id, const char *action, const char *state,
                        const char *outcome, const char *response_status, const char *session,
                        const char *transaction, const char *api_key, const char *created)
{
    db_exec("INSERT INTO commands (id, charger_id, action, payload, state, outcome, response_status,"
            " session_id, transaction_id, api_key_id, request_id, created_at)"
            " VALUES (gen_random_uuid(), $1, $2, '{}', $3, nullif($4, ''), nullif($5, ''),"
            " nullif($6, '')::bigint, nullif($7, '')::int, $8::bigint, $9, $10::timestamptz)",
            charger, action, state, outcome, response_status, session, transaction, api_key, request_id,
            created);
}

static void add_audit(const char *request_id, const char *actor, const char *action, const char *resource,
                      const char *result)
{
    db_exec("INSERT INTO audit_log (actor, action, resource, result, request_id) VALUES ($1, $2, $3, $4, $5)",
            actor, action, resource, result, request_id);
}

/*
 * Until the gateway answers a list with 200: /readyz can say ready a moment
 * before the REST store connection is up (the first request then gets 503),
 * which is not what these tests are about.
 */
static void wait_rest_store(void)
{
    int64_t end = it_now_ms() + IT_WAIT_MS;
    for (;;) {
        struct api_resp *r = api_get(PORT, admin, "/v1/tokens?perPage=1");
        int st = r->status;
        api_free(r);
        if (st == 200)
            return;
        if (it_now_ms() > end)
            fail_msg("GET /v1/tokens still answers %d after %d ms", st, IT_WAIT_MS);
        it_pause(NULL, 50);
    }
}

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'irf-%'");
    db_exec("DELETE FROM meter_values WHERE charger_id LIKE 'irf-%'");
    db_exec("DELETE FROM status_history WHERE charger_id LIKE 'irf-%'");
    db_exec("DELETE FROM commands WHERE charger_id LIKE 'irf-%'");
    db_exec("DELETE FROM audit_log WHERE actor LIKE 'irf-%'");
    db_exec("DELETE FROM tokens WHERE id_tag ILIKE 'irf-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'irf-%'");

    /* chargers: c1 and c2 on site s1, c3 on s2 */
    db_add_charger("irf-c1", NULL, 0);
    db_add_charger("irf-c2", "irf-password-0123456789", 1);
    db_add_charger("irf-c3", "irf-password-9876543210", 2);
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('irf-s1'), name = 'irf Alpha', vendor = 'irf-V1',"
            " model = 'M-A', firmware_version = '1.0', firmware_status = 'Installed',"
            " diagnostics_status = 'Idle' WHERE id = 'irf-c1'");
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('irf-s1'), name = 'irf Beta', vendor = 'irf-V1',"
            " model = 'M-B', firmware_version = '2.0', auto_registered = true,"
            " firmware_status = 'DownloadFailed' WHERE id = 'irf-c2'");
    db_exec("UPDATE chargers SET site_id = ocppgw_ensure_site('irf-s2'), name = 'irf Gamma', vendor = 'irf-V2',"
            " model = 'M-A', firmware_version = '1.0', diagnostics_status = 'Uploaded' WHERE id = 'irf-c3'");

    /* sessions, named by transaction id */
    add_session(76000001, "irf-c1", 1, "irf-A", "completed", "Accepted", "Local", false, "2025-06-01T10:00:00Z");
    add_session(76000002, "irf-c1", 2, "irf-B", "active", "Accepted", "", false, "2025-06-02T10:00:00Z");
    add_session(76000003, "irf-c2", 1, "irf-A", "completed", "Invalid", "Remote", true, "2025-06-03T10:00:00Z");
    add_session(76000004, "irf-c3", 1, "irf-A", "completed", "Accepted", "EVDisconnected", false,
                "2025-06-04T10:00:00Z");
    add_session(76000005, "irf-c3", 2, "irf-C", "completed", "Blocked", "Remote", false, "2025-06-05T10:00:00Z");
    s1_id = db_str("SELECT id FROM sessions WHERE transaction_id = 76000001");
    s3_id = db_str("SELECT id FROM sessions WHERE transaction_id = 76000003");

    /* meter values of session 1, named by value */
    add_meter_value(s1_id, "101", "2025-06-01T10:01:00Z", "Energy.Active.Import.Register", "Wh", "Sample.Periodic",
                    "Raw", "", "Outlet", "1");
    add_meter_value(s1_id, "102", "2025-06-01T10:02:00Z", "Voltage", "V", "Sample.Periodic", "Raw", "L1-N",
                    "Outlet", "1");
    add_meter_value(s1_id, "103", "2025-06-01T10:03:00Z", "Voltage", "V", "Sample.Clock", "Raw", "L2-N", "Outlet",
                    "1");
    add_meter_value(s1_id, "104", "2025-06-01T10:04:00Z", "Current.Import", "A", "Sample.Periodic", "Raw", "L1",
                    "Inlet", "2");
    add_meter_value(s1_id, "105", "2025-06-01T10:05:00Z", "Energy.Active.Import.Register", "kWh",
                    "Transaction.End", "SignedData", "", "Outlet", "1");
    add_meter_value(s3_id, "301", "2025-06-03T10:01:00Z", "Voltage", "V", "Sample.Periodic", "Raw", "L1-N",
                    "Outlet", "1");

    /* status history of irf-c1, named by info */
    add_status("h1", "1", "Available", "NoError", "", "", "2025-06-01T09:00:00Z");
    add_status("h2", "1", "Faulted", "GroundFailure", "irf-v", "E1", "2025-06-01T09:01:00Z");
    add_status("h3", "2", "Charging", "NoError", "", "", "2025-06-01T09:02:00Z");
    add_status("h4", "2", "Faulted", "OverVoltage", "irf-v", "E2", "2025-06-01T09:03:00Z");

    /* commands, named by request id (irf-r5 is irf-c2's) */
    add_command("irf-c1", "irf-r1", "Reset", "completed", "answered", "Accepted", "", "", "11",
                "2025-06-01T10:00:00Z");
    add_command("irf-c1", "irf-r2", "RemoteStartTransaction", "completed", "answered", "Accepted", s1_id,
                "76000001", "12", "2025-06-01T10:01:00Z");
    add_command("irf-c1", "irf-r3", "RemoteStopTransaction", "failed", "timeout", "", s1_id, "76000001", "11",
                "2025-06-01T10:02:00Z");
    add_command("irf-c1", "irf-r4", "Reset", "completed", "answered", "Rejected", "", "", "12",
                "2025-06-01T10:03:00Z");
    add_command("irf-c2", "irf-r5", "Reset", "completed", "answered", "Accepted", "", "", "11",
                "2025-06-01T10:04:00Z");

    /* audit rows, named by request id */
    add_audit("irf-q1", "irf-x", "irf.create", "irf-res1", "ok");
    add_audit("irf-q2", "irf-x", "irf.update", "irf-res1", "invalid");
    add_audit("irf-q3", "irf-y", "irf.create", "irf-res2", "ok");

    /* tokens: T1 and t2 share a parent in two cases */
    db_add_token("irf-T1", "Accepted", NULL, "irf-P");
    db_add_token("irf-t2", "Blocked", NULL, "irf-p");
    db_add_token("irf-T3", "Expired", NULL, NULL);
    db_add_token("irf-T4", "Accepted", NULL, "irf-Q");
    db_exec("UPDATE tokens SET name = 'irf Alpha' WHERE id_tag IN ('irf-T1', 'irf-T3')");
    db_exec("UPDATE tokens SET name = 'irf Beta' WHERE id_tag = 'irf-t2'");

    admin = api_group_start("it_rest_filters", "irf-admin");
    wait_rest_store();
    free(api_key_create_limited("irf-k1", "sessions:read", ""));
    free(api_key_create_limited("irf-k2", "tokens:read,sessions:read", ""));
    free(api_key_create_limited("irf-k3", "admin", ""));
    db_exec("UPDATE api_keys SET charger_ids = NULL WHERE name LIKE 'irf-k_'");
    limited = api_key_create_limited("irf-lim", "chargers:read,sessions:read,commands:write", "irf-c1");
    api_key_wait_known(PORT, limited);
    return 0;
}

static int group_teardown(void **state)
{
    free(limited);
    free(s1_id);
    free(s3_id);
    return api_group_teardown(state);
}

/* ---------------------------------------------------------------- listing */

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "b,a,c" -> "a,b,c" (caller frees). */
static char *sorted_csv(char **items, size_t n)
{
    qsort(items, n, sizeof *items, compare_str);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, items[i]);
    }
    return out;
}

static char *sort_want(const char *want)
{
    char *copy = strdup(want), *items[64], *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && n < 64; t = strtok_r(NULL, ",", &save))
        items[n++] = t;
    char *out = sorted_csv(items, n);
    free(copy);
    return out;
}

/*
 * Every item of GET path (two per page, every page: offset pages until the
 * total, cursor pages until meta.after is null) as its member `field`
 * (text or integer), sorted and comma-joined (caller frees). Fails on a
 * non-200 page, an item seen twice, or an offset total that is not the
 * number of items.
 */
static char *listed(const char *key, const char *path, const char *field, bool offset)
{
    char *items[64];
    size_t n = 0;
    const char *sep = strchr(path, '?') ? "&" : "?";
    if (offset) {
        int64_t total = -1;
        for (int page = 0; page < 20; page++) {
            char *url = it_strf("%s%sperPage=2&page=%d", path, sep, page);
            struct api_resp *r = api_get(PORT, key, url);
            free(url);
            const cJSON *b = api_expect(r, 200);
            total = ji(cJSON_GetObjectItemCaseSensitive(b, "meta"), "total");
            const cJSON *item;
            cJSON_ArrayForEach(item, api_data(b)) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, field);
                items[n++] = cJSON_IsString(v) ? strdup(v->valuestring) : it_strf("%lld", (long long)ji(item, field));
                if (n == 64)
                    fail_msg("GET %s: more than 64 items", path);
            }
            int got = cJSON_GetArraySize(api_data(b));
            api_free(r);
            if (got < 2)
                break;
        }
        if (total != (int64_t)n)
            fail_msg("GET %s: meta.total %lld, %zu items over the pages", path, (long long)total, n);
    } else {
        char *url = it_strf("%s%sperPage=2", path, sep);
        cJSON *all = api_walk(PORT, key, url, 30, NULL);
        free(url);
        const cJSON *item;
        cJSON_ArrayForEach(item, all) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, field);
            items[n++] = cJSON_IsString(v) ? strdup(v->valuestring) : it_strf("%lld", (long long)ji(item, field));
            if (n == 64)
                fail_msg("GET %s: more than 64 items", path);
        }
        cJSON_Delete(all);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(items[i], items[k]) == 0)
                fail_msg("GET %s: %s %s listed twice", path, field, items[i]);
    char *out = sorted_csv(items, n);
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    return out;
}

struct filter_case {
    const char *query;          /* after '?', without perPage */
    const char *want;           /* the items' `field`, comma-separated, any order ("" = none) */
};

/* Each case of a collection at base (a path without '?'), listed with key. */
static void expect_cases(const char *key, const char *base, const char *field, bool offset,
                         const struct filter_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *path = *cases[i].query ? it_strf("%s?%s", base, cases[i].query) : it_strf("%s", base);
        char *got = listed(key, path, field, offset);
        char *want = sort_want(cases[i].want);
        if (strcmp(got, want) != 0)
            fail_msg("GET %s lists %s [%s], expected [%s]", path, field, got, want);
        free(want);
        free(got);
        free(path);
    }
}

#define CASES(key, base, field, offset, cases) expect_cases(key, base, field, offset, cases, API_COUNT(cases))

/* ---------------------------------------------------------------- tokens */

static void test_tokens(void **state)
{
    (void)state;
    static const struct filter_case cases[] = {
        { "idTag=irf-T1", "irf-T1" },
        { "idTag=IRF-t1", "irf-T1" },                   /* any case, as GET /v1/tokens/{idTag} */
        { "idTag=irf-T", "" },                          /* the whole tag, not a prefix */
        { "idTag=irf-t2&status=Blocked", "irf-t2" },
        { "idTag=irf-t2&status=Accepted", "" },
        { "parentIdTag=irf-p", "irf-T1,irf-t2" },
        { "parentIdTag=irf-P&status=Accepted", "irf-T1" },
        { "name=irf%20Alpha", "irf-T1,irf-T3" },
        { "name=irf%20alpha", "" },
        { "search=irf-&status=Accepted", "irf-T1,irf-T4" },
        { "search=irf-", "irf-T1,irf-t2,irf-T3,irf-T4" },
    };
    CASES(admin, "/v1/tokens", "idTag", true, cases);
    static const struct api_bad bad[] = {
        { "idTag=", "idTag" }, { "idTag=irf-123456789012345678", "idTag" }, { "status=accepted", "status" },
        { "parentIdTag=", "parentIdTag" }, { "idTags=irf-T1", "idTags" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/tokens", bad, API_COUNT(bad));
}

/* ---------------------------------------------------------------- sessions */

static void test_sessions(void **state)
{
    (void)state;
    char *by_tx = it_strf("transactionId=76000003");
    const struct filter_case cases[] = {
        { "siteId=irf-s1", "76000001,76000002,76000003" },
        { "siteId=irf-s2", "76000004,76000005" },
        { "siteId=irf-none", "" },
        { "idTag=irf-A", "76000001,76000003,76000004" },
        { "idTag=irf-a", "" },                          /* the stored tag, exact */
        { "chargerIds=irf-c1,irf-c2,irf-c3&connectorId=2", "76000002,76000005" },
        { by_tx, "76000003" },
        { "siteId=irf-s1&authorizationStatus=Invalid", "76000003" },
        { "idTag=irf-A&authorizationStatus=Accepted", "76000001,76000004" },
        { "chargerIds[]=irf-c1&chargerIds[]=irf-c2&chargerIds[]=irf-c3&stopReason=Remote", "76000003,76000005" },
        { "chargerIds=irf-c1,irf-c2,irf-c3&meterAnomaly=true", "76000003" },
        { "siteId=irf-s1&meterAnomaly=false", "76000001,76000002" },
        { "siteId=irf-s1&status=completed&from=2025-06-02T00:00:00Z", "76000003" },
        { "siteId=irf-s2&to=2025-06-05T00:00:00Z", "76000004" },
        { "chargerId=irf-c3&idTag=irf-C", "76000005" },
        { "chargerId=irf-c1&siteId=irf-s2", "" },
        { "siteId=irf-s1&sort=id&order=asc", "76000001,76000002,76000003" },
    };
    CASES(admin, "/v1/sessions", "transactionId", false, cases);
    free(by_tx);

    static const struct filter_case own[] = {
        { "connectorId=1", "76000001" },
        { "idTag=irf-B&status=active", "76000002" },
        { "authorizationStatus=Accepted", "76000001,76000002" },
    };
    CASES(admin, "/v1/chargers/irf-c1/sessions", "transactionId", false, own);
    static const struct filter_case own3[] = {
        { "stopReason=Remote", "76000005" },
        { "transactionId=76000004", "76000004" },
        { "transactionId=76000001", "" },
    };
    CASES(admin, "/v1/chargers/irf-c3/sessions", "transactionId", false, own3);

    /* a key limited to irf-c1: its sessions only, whatever the filters */
    static const struct filter_case lim[] = {
        { "siteId=irf-s1", "76000001,76000002" },
        { "idTag=irf-A", "76000001" },
        { "chargerId=irf-c3", "" },
        { "siteId=irf-s2&stopReason=Remote", "" },
        { "meterAnomaly=true", "" },
    };
    CASES(limited, "/v1/sessions", "transactionId", false, lim);

    static const struct api_bad bad[] = {
        { "connectorId=x", "connectorId" },       { "connectorId=-1", "connectorId" },
        { "transactionId=0", "transactionId" },   { "transactionId=2147483648", "transactionId" },
        { "authorizationStatus=accepted", "authorizationStatus" },
        { "stopReason=Bogus", "stopReason" },      { "meterAnomaly=1", "meterAnomaly" },
        { "siteId=", "siteId" },                   { "idTag=irf-123456789012345678", "idTag" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/sessions", bad, API_COUNT(bad));
    /* the charger's own route has no charger or site filter */
    static const struct api_bad own_bad[] = {
        { "siteId=irf-s1", "siteId" }, { "chargerId=irf-c1", "chargerId" }, { "stopReason=x", "stopReason" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/chargers/irf-c1/sessions", own_bad, API_COUNT(own_bad));
}

/* ---------------------------------------------------------------- meter values */

static void test_meter_values(void **state)
{
    (void)state;
    static const struct filter_case cases[] = {
        { "measurand=Voltage", "102,103" },
        { "measurand=Energy.Active.Import.Register", "101,105" },
        { "phase=L1-N", "102" },
        { "unit=kWh", "105" },
        { "context=Sample.Periodic", "101,102,104" },
        { "format=SignedData", "105" },
        { "location=Inlet", "104" },
        { "connectorId=2", "104" },
        { "connectorId=1&measurand=Voltage&context=Sample.Clock", "103" },
        { "from=2025-06-01T10:02:00Z&to=2025-06-01T10:04:00Z", "102,103" },
        { "measurand=SoC", "" },
        { "", "101,102,103,104,105" },
    };
    char *base = it_strf("/v1/sessions/%s/meter-values", s1_id);
    CASES(admin, base, "value", false, cases);
    /* the limited key reads irf-c1's session, filtered the same */
    static const struct filter_case lim[] = { { "measurand=Voltage&phase=L2-N", "103" } };
    CASES(limited, base, "value", false, lim);

    static const struct api_bad bad[] = {
        { "phase=L4", "phase" },          { "connectorId=x", "connectorId" }, { "measurand=Volts", "measurand" },
        { "unit=kwh", "unit" },           { "context=Periodic", "context" },  { "format=raw", "format" },
        { "location=Roof", "location" },
    };
    api_expect_bad_queries(PORT, admin, base, bad, API_COUNT(bad));
    free(base);

    /* another charger's session stays out of reach, whatever the filters */
    base = it_strf("/v1/sessions/%s/meter-values?measurand=Voltage", s3_id);
    struct api_resp *r = api_get(PORT, limited, base);
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
    free(base);
}

/* ---------------------------------------------------------------- status history */

static void test_status_history(void **state)
{
    (void)state;
    static const struct filter_case cases[] = {
        { "connectorId=2", "h3,h4" },
        { "status=Faulted", "h2,h4" },
        { "errorCode=GroundFailure", "h2" },
        { "errorCode=NoError", "h1,h3" },
        { "vendorId=irf-v", "h2,h4" },
        { "vendorId=irf-v&vendorErrorCode=E2", "h4" },
        { "connectorId=1&status=Faulted", "h2" },
        { "from=2025-06-01T09:01:00Z&to=2025-06-01T09:03:00Z", "h2,h3" },
        { "status=Faulted&order=asc", "h2,h4" },
    };
    CASES(admin, "/v1/chargers/irf-c1/status-history", "info", false, cases);
    CASES(limited, "/v1/chargers/irf-c1/status-history", "info", false, cases);
    static const struct api_bad bad[] = {
        { "errorCode=Bogus", "errorCode" }, { "connectorId=-1", "connectorId" }, { "status=Occupied", "status" },
        { "vendorErrorCode=", "vendorErrorCode" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/chargers/irf-c1/status-history", bad, API_COUNT(bad));
}

/* ---------------------------------------------------------------- commands */

static void test_commands(void **state)
{
    (void)state;
    char *by_session = it_strf("sessionId=%s", s1_id);
    char *by_session_and_state = it_strf("sessionId=%s&status=failed", s1_id);
    const struct filter_case cases[] = {
        { "action=Reset", "irf-r1,irf-r4" },
        { "action=RemoteStartTransaction", "irf-r2" },
        { "responseStatus=Accepted", "irf-r1,irf-r2" },
        { by_session, "irf-r2,irf-r3" },
        { by_session_and_state, "irf-r3" },
        { "transactionId=76000001", "irf-r2,irf-r3" },
        { "apiKeyId=11", "irf-r1,irf-r3" },
        { "requestId=irf-r2", "irf-r2" },
        { "outcome=timeout", "irf-r3" },
        { "action=Reset&responseStatus=Rejected", "irf-r4" },
        { "from=2025-06-01T10:01:00Z&to=2025-06-01T10:03:00Z", "irf-r2,irf-r3" },
        { "action=UnlockConnector", "" },
    };
    CASES(admin, "/v1/chargers/irf-c1/commands", "requestId", false, cases);
    static const struct filter_case lim[] = { { "action=Reset&apiKeyId=12", "irf-r4" } };
    CASES(limited, "/v1/chargers/irf-c1/commands", "requestId", false, lim);
    free(by_session);
    free(by_session_and_state);

    static const struct api_bad bad[] = {
        { "action=Heartbeat", "action" }, { "sessionId=x", "sessionId" }, { "apiKeyId=0", "apiKeyId" },
        { "transactionId=-3", "transactionId" }, { "requestId=", "requestId" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/chargers/irf-c1/commands", bad, API_COUNT(bad));
    /* irf-c2's commands stay out of the limited key's reach, whatever the filters */
    struct api_resp *r = api_get(PORT, limited, "/v1/chargers/irf-c2/commands?action=Reset");
    api_expect_error(r, 403, "ACCESS_FORBIDDEN");
    api_free(r);
}

/* ---------------------------------------------------------------- audit log, API keys */

static void test_audit_log(void **state)
{
    (void)state;
    static const struct filter_case cases[] = {
        { "requestId=irf-q2", "irf-q2" },
        { "actor=irf-x", "irf-q1,irf-q2" },
        { "actor=irf-x&result=ok", "irf-q1" },
        { "action=irf.create", "irf-q1,irf-q3" },
        { "resource=irf-res1&action=irf.update", "irf-q2" },
        { "search=irf.&result=ok", "irf-q1,irf-q3" },
    };
    CASES(admin, "/v1/audit-log", "requestId", false, cases);
    static const struct api_bad bad[] = { { "requestId=", "requestId" }, { "from=now", "from" } };
    api_expect_bad_queries(PORT, admin, "/v1/audit-log", bad, API_COUNT(bad));
}

static void test_api_keys(void **state)
{
    (void)state;
    char *prefix = db_str("SELECT key_prefix FROM api_keys WHERE name = 'irf-k2'");
    char *by_prefix = it_strf("prefix=%s", prefix);
    const struct filter_case cases[] = {
        { "name=irf-k1", "irf-k1" },
        { "search=irf-k", "irf-k1,irf-k2,irf-k3" },
        { "search=irf-k&scope=sessions:read", "irf-k1,irf-k2" },
        { "search=irf-k&scope=admin", "irf-k3" },
        { by_prefix, "irf-k2" },
        { "name=irf-k2&revoked=true", "" },
    };
    CASES(admin, "/v1/api-keys", "name", true, cases);
    free(by_prefix);
    free(prefix);
    static const struct api_bad bad[] = {
        { "scope=everything", "scope" }, { "prefix=0123456789abc", "prefix" }, { "name=", "name" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/api-keys", bad, API_COUNT(bad));
}

/* ---------------------------------------------------------------- chargers */

static void test_chargers(void **state)
{
    (void)state;
    static const struct filter_case cases[] = {
        { "vendor=irf-V1", "irf-c1,irf-c2" },
        { "vendor=irf-v1", "" },
        { "search=irf-c&model=M-A", "irf-c1,irf-c3" },
        { "search=irf-c&firmwareVersion=1.0", "irf-c1,irf-c3" },
        { "search=irf-c&securityProfile=1", "irf-c2" },
        { "search=irf-c&hasAuthorizationKey=true", "irf-c2,irf-c3" },
        { "search=irf-c&hasAuthorizationKey=false", "irf-c1" },
        { "search=irf-c&autoRegistered=true", "irf-c2" },
        { "search=irf-c&firmwareStatus=DownloadFailed", "irf-c2" },
        { "search=irf-c&diagnosticsStatus=Uploaded", "irf-c3" },
        { "name=irf%20Alpha", "irf-c1" },
        { "siteId=irf-s1&vendor=irf-V1&model=M-B", "irf-c2" },
        { "chargerIds=irf-c1,irf-c3&firmwareVersion=1.0&securityProfile=2", "irf-c3" },
    };
    CASES(admin, "/v1/chargers", "id", true, cases);
    /* the limited key: irf-c1 only */
    static const struct filter_case lim[] = {
        { "vendor=irf-V1", "irf-c1" },
        { "siteId=irf-s2", "" },
        { "search=irf-c&hasAuthorizationKey=false", "irf-c1" },
    };
    CASES(limited, "/v1/chargers", "id", true, lim);
    static const struct api_bad bad[] = {
        { "securityProfile=4", "securityProfile" },     { "firmwareStatus=Bogus", "firmwareStatus" },
        { "hasAuthorizationKey=yes", "hasAuthorizationKey" }, { "vendor=", "vendor" },
        { "model=irf-123456789012345678", "model" },   { "diagnosticsStatus=idle", "diagnosticsStatus" },
    };
    api_expect_bad_queries(PORT, admin, "/v1/chargers", bad, API_COUNT(bad));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_tokens),
        T(test_sessions),
        T(test_meter_values),
        T(test_status_history),
        T(test_commands),
        T(test_audit_log),
        T(test_api_keys),
        T(test_chargers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
