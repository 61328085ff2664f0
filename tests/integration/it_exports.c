/*
 * Integration: CSV and NDJSON exports of collections (docs/api.md,
 * "Exports"). 100,000 sessions made by SQL, with idTags holding commas,
 * quotes, line ends, UTF-8 and the empty string, are exported from
 * GET /v1/sessions as CSV (read back with an RFC 4180 reader of this file)
 * and as NDJSON, and compared item by item, field by field, with the JSON
 * collection walked page by page with cursors. Also: a key limited to one
 * charger exports only its sessions; filters (siteIds too) apply; the
 * header row; collections with nested and array fields (sites with their
 * address flattened with dots, API keys with their scopes as JSON text); a
 * bad parameter is the JSON 400; a client that stops reading for seconds
 * holds the gateway's memory within bounds and still gets everything; a
 * client that leaves mid-export frees its export (its thread and database
 * connection end; the ASan build reports leaks at exit).
 *
 * Ids start with "iex-"; SQL-made sessions use transaction ids 74xxxxxx.
 */
#include "it.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "strbuf.h"
#include "support/rest.h"
#include "util.h"

#define PORT gw_port(W.gw)
#define NSESSIONS 100000
#define STR_(x) #x
#define STR(x) STR_(x)
#define OURS "chargerIds=iex-a,iex-b,iex-c"

static char *admin;

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM sessions WHERE charger_id LIKE 'iex-%'");
    db_exec("DELETE FROM api_keys WHERE name LIKE 'iex-%'");
    db_exec("UPDATE chargers SET site_id = NULL WHERE id LIKE 'iex-%'");
    db_exec("DELETE FROM sites WHERE id LIKE 'iex-%'");
    db_add_charger("iex-a", NULL, 0);
    db_add_charger("iex-b", NULL, 0);
    db_add_charger("iex-c", NULL, 0);
    db_exec("INSERT INTO sites (id, name, street, city, postal_code, country) VALUES"
            " ('iex-s1', 'Depot, \"North\"', 'Main St 1, Gate \"B\"', 'Zürich', '8001', 'CH'),"
            " ('iex-s2', 'Yard', NULL, NULL, NULL, NULL)");
    db_exec("UPDATE chargers SET site_id = 'iex-s1' WHERE id = 'iex-a'");
    db_exec("UPDATE chargers SET site_id = 'iex-s2' WHERE id = 'iex-b'");
    /* every 7th one on a shared start time (ties broken by id); idTags with what CSV must quote */
    db_exec("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status,"
            " start_time, end_time, meter_start, meter_stop, energy_wh, stop_reason, cost, currency)"
            " SELECT 1500000000 + i, (ARRAY['iex-a', 'iex-b', 'iex-c'])[1 + i % 3], 1 + i % 2,"
            " CASE i % 6 WHEN 0 THEN 'iex-' || i WHEN 1 THEN 'a,b\"c' || i"
            " WHEN 2 THEN 'l1' || chr(10) || 'l2' || i WHEN 3 THEN 'café €😀' || i WHEN 4 THEN ''"
            " ELSE ' sp ' || chr(13) || chr(10) || i END,"
            " 'Accepted', 'completed', t, t + interval '1 hour', i, i + 1000 + i % 10, 1000 + i % 10,"
            " CASE WHEN i % 4 = 0 THEN 'Local' END, CASE WHEN i % 5 = 0 THEN i END,"
            " CASE WHEN i % 5 = 0 THEN 'EUR' END"
            " FROM (SELECT i, timestamptz '2026-01-01T00:00:00Z' + (i - i % 7) * interval '1 second' AS t"
            " FROM generate_series(1, " STR(NSESSIONS) ") i) g");
    admin = api_group_start("it_exports", "iex-admin");
    return 0;
}

/* ---------------------------------------------------------------- HTTP */

struct export {
    int status;
    struct strbuf body, headers;
};

static void export_free(struct export *x)
{
    strbuf_free(&x->body);
    strbuf_free(&x->headers);
}

/* The first n lines of s (n line ends), for the answers record. */
static size_t first_lines(const char *s, size_t len, int n)
{
    size_t i = 0;
    for (int k = 0; i < len && k < n; i++)
        if (s[i] == '\n')
            k++;
    return i;
}

/* GET path with that Accept; the answer (its first 50 lines) recorded for the OpenAPI check. */
static struct export get_as(const char *key, const char *path, const char *accept)
{
    struct export x = { 0, STRBUF_INIT, STRBUF_INIT };
    CURL *c = curl_easy_init();
    char url[2048], auth[300], acc[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", PORT, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    snprintf(acc, sizeof acc, "Accept: %s", accept);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, acc);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_curl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(c);
    long st = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    else
        fail_msg("GET %s (Accept: %s): %s", path, accept, curl_easy_strerror(rc));
    x.status = (int)st;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    struct api_resp rec = { .status = x.status, .headers = (char *)strbuf_str(&x.headers) };
    size_t n = x.body.len ? first_lines(x.body.buf, x.body.len, 50) : 0;
    rec.body = xmalloc(n + 1);
    memcpy(rec.body, x.body.buf ? x.body.buf : "", n);
    rec.body[n] = '\0';
    rec.body_len = n;
    api_record_answer("GET", path, &rec);
    free(rec.body);
    return x;
}

/* A header's value in the block (case-insensitive name), copied into buf; "" when absent. */
static const char *header_of(const struct export *x, const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    const char *p = strbuf_str(&x->headers);
    size_t n = strlen(name);
    for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            snprintf(buf, cap, "%.*s", (int)(l < cap ? l : cap - 1), v);
            break;
        }
    }
    return buf;
}

/* ---------------------------------------------------------------- an RFC 4180 reader */

/* One parsed CSV: rows of cells; a NULL cell is one that was empty and unquoted. */
struct csv {
    char ***rows;
    size_t *ncells;
    size_t n, cap;
};

static void csv_free(struct csv *t)
{
    for (size_t r = 0; r < t->n; r++) {
        for (size_t c = 0; c < t->ncells[r]; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->ncells);
}

/*
 * Parses text (RFC 4180: CRLF records, quoted fields with "" for a quote
 * and any byte inside, the last record ended by CRLF too). Fails the test
 * on anything else: a bare LF or CR outside quotes, a quote inside an
 * unquoted field, an unterminated quote.
 */
static struct csv csv_parse(const char *s, size_t len)
{
    struct csv t = { 0 };
    size_t i = 0;
    while (i < len) {
        char **cells = NULL;
        size_t nc = 0;
        for (;;) {
            struct strbuf cell = STRBUF_INIT;
            bool quoted = false;
            if (i < len && s[i] == '"') {
                quoted = true;
                i++;
                for (;;) {
                    if (i >= len)
                        fail_msg("csv: unterminated quote");
                    if (s[i] == '"') {
                        if (i + 1 < len && s[i + 1] == '"') {
                            strbuf_putc(&cell, '"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    strbuf_putc(&cell, s[i++]);
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\r') {
                    if (s[i] == '"' || s[i] == '\n')
                        fail_msg("csv: a %s in an unquoted field at byte %zu", s[i] == '"' ? "quote" : "bare LF", i);
                    strbuf_putc(&cell, s[i++]);
                }
            }
            cells = realloc(cells, (nc + 1) * sizeof *cells);
            cells[nc++] = quoted || cell.len ? xstrdup(strbuf_str(&cell)) : NULL;
            strbuf_free(&cell);
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
                i += 2;
                break;
            }
            fail_msg("csv: record not ended by CRLF at byte %zu", i);
        }
        if (t.n == t.cap) {
            t.cap = t.cap ? 2 * t.cap : 1024;
            t.rows = realloc(t.rows, t.cap * sizeof *t.rows);
            t.ncells = realloc(t.ncells, t.cap * sizeof *t.ncells);
        }
        t.rows[t.n] = cells;
        t.ncells[t.n++] = nc;
    }
    return t;
}

/* Index of a header cell, -1 if none. */
static int csv_col(const struct csv *t, const char *name)
{
    for (size_t c = 0; t->n && c < t->ncells[0]; c++)
        if (t->rows[0][c] && strcmp(t->rows[0][c], name) == 0)
            return (int)c;
    return -1;
}

/*
 * Fails unless the cell is what the JSON value v shows: a string itself,
 * null an empty unquoted cell, anything else its JSON text.
 */
static void expect_cell(const char *cell, const cJSON *v, const char *what, size_t row)
{
    if (!v || cJSON_IsNull(v)) {
        if (cell)
            fail_msg("row %zu %s: \"%s\" for null", row, what, cell);
        return;
    }
    if (!cell)
        fail_msg("row %zu %s: empty cell, want %s", row, what, cJSON_PrintUnformatted(v));
    if (cJSON_IsString(v)) {
        if (strcmp(cell, v->valuestring) != 0)
            fail_msg("row %zu %s: \"%s\", want \"%s\"", row, what, cell, v->valuestring);
        return;
    }
    cJSON *got = cJSON_Parse(cell);
    if (!got || !cJSON_Compare(got, v, true))
        fail_msg("row %zu %s: %s, want %s", row, what, cell, cJSON_PrintUnformatted(v));
    cJSON_Delete(got);
}

/* Every item of items against the CSV's rows (header first): same count, order, every field. */
static void expect_csv_is(const struct csv *t, const cJSON *items)
{
    size_t n = (size_t)cJSON_GetArraySize(items);
    if (t->n != n + 1)
        fail_msg("csv: %zu rows after the header, want %zu", t->n ? t->n - 1 : 0, n);
    size_t r = 1;
    const cJSON *item;
    cJSON_ArrayForEach(item, items) {
        if (t->ncells[r] != t->ncells[0])
            fail_msg("csv row %zu: %zu cells, the header has %zu", r, t->ncells[r], t->ncells[0]);
        for (const cJSON *f = item->child; f; f = f->next) {
            int c = csv_col(t, f->string);
            if (c < 0)
                fail_msg("csv: no column %s", f->string);
            expect_cell(t->rows[r][c], f, f->string, r);
        }
        r++;
    }
}

/* Every line of an NDJSON body against items: same count, order, and each object equal. */
static void expect_ndjson_is(const struct export *x, const cJSON *items)
{
    const char *p = x->body.buf ? x->body.buf : "", *end = p + x->body.len;
    const cJSON *item = items->child;
    size_t line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            fail_msg("ndjson: the last line has no line end");
        line++;
        cJSON *got = cJSON_ParseWithLength(p, (size_t)(nl - p));
        if (!got || !cJSON_IsObject(got))
            fail_msg("ndjson line %zu is no JSON object", line);
        if (!item)
            fail_msg("ndjson: more lines than items (%zu)", line);
        if (!cJSON_Compare(got, item, true)) {
            char *a = cJSON_PrintUnformatted(got), *b = cJSON_PrintUnformatted(item);
            fail_msg("ndjson line %zu:\n  %s\nwant\n  %s", line, a, b);
        }
        cJSON_Delete(got);
        item = item->next;
        p = nl + 1;
    }
    if (item)
        fail_msg("ndjson: %zu lines, fewer than the items", line);
}

/* ---------------------------------------------------------------- tests */

static cJSON *walked;       /* the JSON collection of our sessions, walked once */

static const cJSON *all_sessions(void)
{
    if (!walked) {
        int pages = 0;
        walked = api_walk(PORT, admin, "/v1/sessions?" OURS "&perPage=500", 400, &pages);
        assert_int_equal(cJSON_GetArraySize(walked), NSESSIONS);
    }
    return walked;
}

static void test_csv_is_the_json_collection(void **state)
{
    (void)state;
    const cJSON *items = all_sessions();
    struct export x = get_as(admin, "/v1/sessions?" OURS "&perPage=3", "text/csv");
    assert_int_equal(x.status, 200);
    char buf[200];
    assert_string_equal(header_of(&x, "content-type", buf, sizeof buf), "text/csv; charset=utf-8");
    assert_string_equal(header_of(&x, "content-disposition", buf, sizeof buf), "attachment; filename=\"sessions.csv\"");
    struct csv t = csv_parse(x.body.buf, x.body.len);
    expect_csv_is(&t, items);
    csv_free(&t);
    export_free(&x);
}

static void test_csv_header_row(void **state)
{
    (void)state;
    struct export x = get_as(admin, "/v1/sessions?" OURS "&status=active", "text/csv");
    assert_int_equal(x.status, 200);
    /* no active session of ours: the header row alone, the JSON names in the JSON order */
    assert_string_equal(strbuf_str(&x.body),
                        "id,chargerId,connectorId,transactionId,idTag,status,energy,startTime,endTime,"
                        "chargingDuration,meterStart,meterStop,stopReason,stopIdTag,cost,currency,tariffId,"
                        "tariffVersion,net,vat,costBreakdown,costFinal,reservationId,authorizationStatus,"
                        "meterAnomaly,createdAt,updatedAt,stale,staleReason,staleAt\r\n");
    export_free(&x);
}

static void test_ndjson_is_the_json_collection(void **state)
{
    (void)state;
    const cJSON *items = all_sessions();
    struct export x = get_as(admin, "/v1/sessions?" OURS, "application/x-ndjson");
    assert_int_equal(x.status, 200);
    char buf[200];
    assert_string_equal(header_of(&x, "content-type", buf, sizeof buf), "application/x-ndjson");
    expect_ndjson_is(&x, items);
    export_free(&x);
}

/* JSON stays the default: no Accept, any wildcard, application/json. */
static void test_json_stays_the_default(void **state)
{
    (void)state;
    const char *accepts[] = { "*/*", "application/json", "application/json, text/csv", "text/*, application/*" };
    for (size_t i = 0; i < API_COUNT(accepts); i++) {
        struct export x = get_as(admin, "/v1/sessions?" OURS "&perPage=2", accepts[i]);
        assert_int_equal(x.status, 200);
        char buf[200];
        assert_string_equal(header_of(&x, "content-type", buf, sizeof buf), "application/json");
        export_free(&x);
    }
}

static void test_restricted_key_exports_its_chargers_only(void **state)
{
    (void)state;
    char *key = api_key_create_limited("iex-limited", "sessions:read", "iex-b");
    api_key_wait_known(PORT, key);
    struct export x = get_as(key, "/v1/sessions", "text/csv");
    assert_int_equal(x.status, 200);
    struct csv t = csv_parse(x.body.buf, x.body.len);
    int c = csv_col(&t, "chargerId");
    assert_true(c >= 0);
    int64_t want = db_int("SELECT count(*) FROM sessions WHERE charger_id = 'iex-b'");
    assert_int_equal((int64_t)t.n - 1, want);
    for (size_t r = 1; r < t.n; r++)
        assert_string_equal(t.rows[r][c], "iex-b");
    csv_free(&t);
    export_free(&x);
    /* and its NDJSON: the same sessions */
    x = get_as(key, "/v1/sessions?siteIds=iex-s1,iex-s2", "application/x-ndjson");
    assert_int_equal(x.status, 200);
    size_t lines = 0;
    for (size_t i = 0; i < x.body.len; i++)
        lines += x.body.buf[i] == '\n';
    assert_int_equal((int64_t)lines, want);
    export_free(&x);
    free(key);
}

static void test_filters_apply(void **state)
{
    (void)state;
    /* siteIds (both spellings) and a few others, in JSON and in the export alike */
    const char *queries[] = {
        "siteIds=iex-s1,iex-s2", "siteIds[]=iex-s2", "siteId=iex-s1&stopReason=Local",
        OURS "&idTag=iex-600", OURS "&from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z&sort=id&order=asc",
        "chargerIds=iex-c&connectorId=2&search=caf",
    };
    for (size_t i = 0; i < API_COUNT(queries); i++) {
        char path[300];
        snprintf(path, sizeof path, "/v1/sessions?%s&perPage=500", queries[i]);
        cJSON *items = api_walk(PORT, admin, path, 200, NULL);
        struct export x = get_as(admin, path, "text/csv");
        assert_int_equal(x.status, 200);
        struct csv t = csv_parse(x.body.buf, x.body.len);
        expect_csv_is(&t, items);
        csv_free(&t);
        export_free(&x);
        cJSON_Delete(items);
    }
    /* siteIds selects exactly the sessions of those sites' chargers */
    cJSON *s2 = api_walk(PORT, admin, "/v1/sessions?siteIds[]=iex-s2&perPage=500", 200, NULL);
    assert_int_equal(cJSON_GetArraySize(s2), db_int("SELECT count(*) FROM sessions WHERE charger_id = 'iex-b'"));
    assert_int_equal(api_count_with(s2, "chargerId", "iex-b"), cJSON_GetArraySize(s2));
    cJSON_Delete(s2);
}

/* Sites: the address and the load balancing flattened with dots; API keys: arrays as JSON text. */
static void test_nested_and_array_fields(void **state)
{
    (void)state;
    cJSON *items = api_offset_walk(PORT, admin, "/v1/sites?search=iex-", 50, "SiteList", NULL);
    struct export x = get_as(admin, "/v1/sites?search=iex-", "text/csv");
    assert_int_equal(x.status, 200);
    struct csv t = csv_parse(x.body.buf, x.body.len);
    assert_int_equal(t.n, 3);
    const char *flat[] = { "address.street", "address.city", "address.postalCode", "address.country",
                           "loadBalancing.enabled", "loadBalancing.strategy" };
    for (size_t i = 0; i < API_COUNT(flat); i++)
        if (csv_col(&t, flat[i]) < 0)
            fail_msg("no column %s", flat[i]);
    assert_true(csv_col(&t, "address") < 0);
    size_t r = 1;
    const cJSON *site;
    cJSON_ArrayForEach(site, items) {
        for (const cJSON *f = site->child; f; f = f->next) {
            if (cJSON_IsObject(f)) {
                for (const cJSON *m = f->child; m; m = m->next) {
                    char name[80];
                    snprintf(name, sizeof name, "%s.%s", f->string, m->string);
                    int c = csv_col(&t, name);
                    if (c < 0)
                        fail_msg("no column %s", name);
                    expect_cell(t.rows[r][c], m, name, r);
                }
            } else {
                int c = csv_col(&t, f->string);
                assert_true(c >= 0);
                expect_cell(t.rows[r][c], f, f->string, r);
            }
        }
        r++;
    }
    assert_string_equal(t.rows[1][csv_col(&t, "address.street")], "Main St 1, Gate \"B\"");
    assert_string_equal(t.rows[1][csv_col(&t, "address.city")], "Zürich");
    assert_null(t.rows[2][csv_col(&t, "address.street")]);
    csv_free(&t);
    export_free(&x);
    cJSON_Delete(items);

    char *key = api_key_create_limited("iex-scoped", "sessions:read,chargers:read", "iex-a,iex-b");
    free(key);
    items = api_offset_walk(PORT, admin, "/v1/api-keys?perPage=500", 500, "ApiKeyList", NULL);
    x = get_as(admin, "/v1/api-keys", "text/csv");
    assert_int_equal(x.status, 200);
    t = csv_parse(x.body.buf, x.body.len);
    /*
     * The key reading both is used by both: its lastUsedAt (written behind,
     * once a second) may move between the walk and the export, so that one
     * cell is not compared; every other key's is.
     */
    cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const cJSON *name = cJSON_GetObjectItem(it, "name");
        if (cJSON_IsString(name) && strcmp(name->valuestring, "iex-admin") == 0)
            cJSON_DeleteItemFromObject(it, "lastUsedAt");
    }
    expect_csv_is(&t, items);
    int found = 0;
    for (r = 1; r < t.n; r++)
        if (strcmp(t.rows[r][csv_col(&t, "name")], "iex-scoped") == 0) {
            assert_string_equal(t.rows[r][csv_col(&t, "scopes")], "[\"sessions:read\",\"chargers:read\"]");
            assert_string_equal(t.rows[r][csv_col(&t, "chargerIds")], "[\"iex-a\",\"iex-b\"]");
            found++;
        }
    assert_int_equal(found, 1);
    csv_free(&t);
    export_free(&x);
    cJSON_Delete(items);
    /* NDJSON of another collection: the same objects as its JSON */
    items = api_offset_walk(PORT, admin, "/v1/chargers?search=iex-", 50, "ChargerList", NULL);
    x = get_as(admin, "/v1/chargers?search=iex-", "application/x-ndjson");
    expect_ndjson_is(&x, items);
    export_free(&x);
    cJSON_Delete(items);
}

static void test_bad_parameter_is_the_json_error(void **state)
{
    (void)state;
    struct export x = get_as(admin, "/v1/sessions?status=running", "text/csv");
    assert_int_equal(x.status, 400);
    char buf[200];
    assert_string_equal(header_of(&x, "content-type", buf, sizeof buf), "application/json");
    cJSON *b = cJSON_Parse(strbuf_str(&x.body));
    assert_non_null(b);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(b, "errorCode")), "BAD_REQUEST");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "context"), "status"));
    cJSON_Delete(b);
    export_free(&x);
    x = get_as(admin, "/v1/chargers/iex-nobody/sessions", "application/x-ndjson");
    assert_int_equal(x.status, 404);
    export_free(&x);
}

/*
 * An active session with a tariff: its cost so far is priced on the export
 * thread (the rows hook of the page, session_cost_estimate_rows) and shown
 * as the JSON shows it (costFinal false).
 */
static void test_active_session_estimate(void **state)
{
    (void)state;
    cost_make_tariff(PORT, admin, "{\"id\":\"iex-tariff\",\"currency\":\"EUR\",\"vatPercent\":19,"
                     "\"validFrom\":\"2020-01-01T00:00:00Z\",\"elements\":[{\"energy\":30,\"sessionFee\":50}]}");
    db_add_charger("iex-d", NULL, 0);
    db_exec("UPDATE chargers SET tariff_id = 'iex-tariff' WHERE id = 'iex-d'");
    char *id = db_str("INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status,"
                      " start_time, meter_start) VALUES (74999999, 'iex-d', 1, 'iex-active', 'Accepted',"
                      " now() - interval '10 minutes', 0) RETURNING id");
    char path[64];
    snprintf(path, sizeof path, "/v1/sessions/%s", id);
    struct api_resp *r = api_get(PORT, admin, path);
    const cJSON *want = api_expect(r, 200);
    api_check_bool(want, "costFinal", false);
    assert_non_null(cJSON_GetObjectItem(want, "cost"));
    assert_false(cJSON_IsNull(cJSON_GetObjectItem(want, "cost")));
    struct export x = get_as(admin, "/v1/sessions?chargerIds=iex-d", "application/x-ndjson");
    assert_int_equal(x.status, 200);
    cJSON *got = cJSON_Parse(strbuf_str(&x.body));
    assert_non_null(got);
    const char *same[] = { "id", "cost", "net", "vat", "currency", "costBreakdown", "costFinal", "tariffId" };
    for (size_t i = 0; i < API_COUNT(same); i++)
        if (!cJSON_Compare(cJSON_GetObjectItem(got, same[i]), cJSON_GetObjectItem(want, same[i]), true))
            fail_msg("%s: %s in the export, %s in GET", same[i],
                     cJSON_PrintUnformatted(cJSON_GetObjectItem(got, same[i])),
                     cJSON_PrintUnformatted(cJSON_GetObjectItem(want, same[i])));
    cJSON_Delete(got);
    export_free(&x);
    /* the CSV too: the estimate's cost in its column, costFinal false */
    x = get_as(admin, "/v1/sessions?chargerIds=iex-d", "text/csv");
    struct csv t = csv_parse(x.body.buf, x.body.len);
    assert_int_equal(t.n, 2);
    expect_cell(t.rows[1][csv_col(&t, "cost")], cJSON_GetObjectItem(want, "cost"), "cost", 1);
    assert_string_equal(t.rows[1][csv_col(&t, "costFinal")], "false");
    csv_free(&t);
    export_free(&x);
    api_free(r);
    free(id);
}

/* ---------------------------------------------------------------- slow and vanishing clients */

static int64_t rss_kib(const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)gw_pid(W.gw));
    FILE *f = fopen(path, "r");
    int64_t v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtoll(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int open_export(const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 16 * 1024;      /* a small receive buffer: the gateway soon has to wait for us */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)PORT) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nAccept: text/csv\r\n\r\n",
                     path, admin);
    if (write(fd, req, (size_t)n) != n)
        fail_msg("write: %s", strerror(errno));
    return fd;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/*
 * How far the gateway's RSS may grow while its export client pauses. The
 * export is about 19 MiB of CSV; a gateway that read ahead instead of
 * waiting would hold it. Under ASan RSS counts what was ever allocated
 * rather than what is live (freed memory sits in the quarantine, 256 MiB by
 * default) plus the sanitizer's per-thread state of the export thread, about
 * 12 to 18 MiB in all for a correct gateway, 47 MiB for one that read
 * ahead (measured with the wait taken out), so 32 MiB still tells them
 * apart. The queued-bytes gauge below is the check the allocator cannot blur.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PAUSED_GROWTH_KIB (32 * 1024)
#else
#define PAUSED_GROWTH_KIB (16 * 1024)
#endif

/*
 * A client that reads 64 KiB, then nothing for 5 s (longer than an event
 * stream's stall limit), then the rest: everything arrives, ended by the
 * last chunk, and meanwhile the gateway's RSS stays within PAUSED_GROWTH_KIB
 * of where it was (the export waits for the client instead of reading ahead).
 */
static void test_paused_client_bounded_and_complete(void **state)
{
    (void)state;
    int64_t before = rss_kib("VmRSS");
    int fd = open_export("/v1/sessions?" OURS);
    struct strbuf got = STRBUF_INIT;
    char buf[65536];
    while (got.len < 64 * 1024) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            fail_msg("read: %zd", n);
        strbuf_put(&got, buf, (size_t)n);
    }
    int64_t peak = 0;
    double queued = 0;
    for (int i = 0; i < 50; i++) {
        sleep_ms(100);
        int64_t now = rss_kib("VmRSS");
        peak = now > peak ? now : peak;
        double q = metrics_get(PORT, "ocppgw_rest_export_queued_bytes", NULL);
        queued = q > queued ? q : queued;
    }
    print_message("paused export: gateway RSS %lld KiB before, %lld KiB at most while paused;"
                  " at most %.0f bytes queued\n", (long long)before, (long long)peak, queued);
    /* what the allocator cannot blur: the text waiting stays near the export's bound (256 KiB + a chunk) */
    if (queued > 512 * 1024 || queued < 64 * 1024) {
        close(fd);
        strbuf_free(&got);
        fail_msg("%.0f bytes of export queued while the client paused (a bound of 256 KiB)", queued);
    }
    if (peak - before > PAUSED_GROWTH_KIB) {
        close(fd);
        strbuf_free(&got);
        fail_msg("the gateway's RSS grew by %lld KiB while its client paused (at most %d)",
                 (long long)(peak - before), PAUSED_GROWTH_KIB);
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
            fail_msg("read: %s", strerror(errno));
        if (n == 0)
            break;
        strbuf_put(&got, buf, (size_t)n);
    }
    close(fd);
    assert_true(got.len > 5);
    if (memcmp(got.buf + got.len - 5, "0\r\n\r\n", 5) != 0)
        fail_msg("the export did not end with its last chunk (%zu bytes)", got.len);
    /* every row came: count the records' ends (CRLF outside quotes) */
    const char *body = strstr(got.buf, "\r\n\r\n");
    assert_non_null(body);
    size_t rows = 0;
    bool quoted = false;
    for (const char *p = body + 4; p < got.buf + got.len; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted && p[0] == '\r' && p[1] == '\n' && p[2] != '\r')
            rows++;     /* a record's CRLF (chunk framing CRLFs are counted too: see below) */
    }
    /* chunk framing adds CRLFs; the rows alone are at least the sessions plus the header */
    print_message("paused export: %zu bytes in all\n", got.len);
    if (rows < NSESSIONS + 1)
        fail_msg("only %zu line ends in the export", rows);
    strbuf_free(&got);
}

/* A client that leaves mid-export: its export thread and connection end, the gateway serves on. */
static void test_vanishing_client_frees_its_export(void **state)
{
    (void)state;
    double abandoned = metrics_get(PORT, "ocppgw_rest_exports_total", "outcome=\"abandoned\"");
    for (int k = 0; k < 3; k++) {
        int fd = open_export("/v1/sessions?" OURS);
        char buf[65536];
        ssize_t got = 0;
        while (got < 128 * 1024) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0)
                fail_msg("read: %zd", n);
            got += n;
        }
        close(fd);
    }
    db_wait_int(IT_WAIT_MS, 0, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ocppgw-export'");
    /* nothing of theirs is left queued */
    double left = -1;
    for (int waited = 0; waited < IT_WAIT_MS; waited += 50) {
        if ((left = metrics_get(PORT, "ocppgw_rest_export_queued_bytes", NULL)) == 0)
            break;
        sleep_ms(50);
    }
    if (left != 0)
        fail_msg("%.0f bytes still queued after the clients left", left);
    /* each stopped early (at its next batch), not run to its end for nobody */
    assert_true(metrics_get(PORT, "ocppgw_rest_exports_total", "outcome=\"abandoned\"") == abandoned + 3);
    struct export x = get_as(admin, "/v1/sessions?" OURS "&idTag=iex-600", "application/x-ndjson");
    assert_int_equal(x.status, 200);
    export_free(&x);
}

static int group_teardown(void **state)
{
    cJSON_Delete(walked);
    walked = NULL;
    return api_group_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_header_row),
        cmocka_unit_test(test_csv_is_the_json_collection),
        cmocka_unit_test(test_ndjson_is_the_json_collection),
        cmocka_unit_test(test_json_stays_the_default),
        cmocka_unit_test(test_restricted_key_exports_its_chargers_only),
        cmocka_unit_test(test_filters_apply),
        cmocka_unit_test(test_nested_and_array_fields),
        cmocka_unit_test(test_bad_parameter_is_the_json_error),
        cmocka_unit_test(test_active_session_estimate),
        cmocka_unit_test(test_paused_client_bounded_and_complete),
        cmocka_unit_test(test_vanishing_client_frees_its_export),
    };
    if (getenv("IT_ONLY"))
        cmocka_set_test_filter(getenv("IT_ONLY"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
