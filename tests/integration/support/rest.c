/*
 * REST calls for the integration tests: libcurl for ordinary requests, a
 * plain socket for the malformed ones, the CLI for API keys, and the record
 * of every answer for the run's check against docs/openapi.json. See rest.h.
 */
#include "rest.h"

#include "it.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "http.h"
#include "proc.h"

#define API_TIMEOUT_MS 10000

static void record_answer(const char *method, const char *path, bool upgrade, const struct api_resp *r);


struct api_resp *api_send(int port, const struct api_req *q)
{
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    struct api_resp *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    snprintf(r->what, sizeof r->what, "%s %s", q->method, q->path);
    struct strbuf body = STRBUF_INIT, hdrs = STRBUF_INIT;

    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, q->path);
    struct curl_slist *list = NULL;
    char auth[1024];
    if (q->key) {
        if (q->x_api_key)
            snprintf(auth, sizeof auth, "x-api-key: %s", q->key);
        else
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", q->key);
        list = curl_slist_append(list, auth);
    }
    bool has_ct = false;
    for (const char *const *h = q->headers; h && *h; h++) {
        has_ct |= strncasecmp(*h, "Content-Type:", 13) == 0;
        list = curl_slist_append(list, *h);
    }
    if (q->body && !has_ct)
        list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");  /* the gateway has no 100 Continue */

    CURL *h = curl_easy_init();
    if (!h)
        abort();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)API_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, it_curl_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrs);
    if (q->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(q->body_len ? q->body_len : strlen(q->body)));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
    }
    if (strcmp(q->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(q->method, "GET") != 0 || q->body)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);

    r->status = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        r->status = (int)code;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(list);
    r->json = body.len ? cJSON_ParseWithLength(body.buf, body.len) : NULL;
    r->body_len = body.len;
    r->body = strbuf_take(&body);
    r->headers = strbuf_take(&hdrs);
    bool upgrade = false;
    for (const char *const *hl = q->headers; hl && *hl; hl++)
        upgrade |= strncasecmp(*hl, "Upgrade:", 8) == 0;
    record_answer(q->method, q->path, upgrade, r);
    return r;
}

void api_free(struct api_resp *r)
{
    if (!r)
        return;
    cJSON_Delete(r->json);
    free(r->body);
    free(r->headers);
    free(r);
}

struct api_resp *api_get(int port, const char *key, const char *path)
{
    struct api_req q = { .method = "GET", .path = path, .key = key };
    return api_send(port, &q);
}

struct api_resp *api_post(int port, const char *key, const char *path, const char *body)
{
    struct api_req q = { .method = "POST", .path = path, .key = key, .body = body };
    return api_send(port, &q);
}

struct api_resp *api_patch(int port, const char *key, const char *path, const char *body)
{
    struct api_req q = { .method = "PATCH", .path = path, .key = key, .body = body };
    return api_send(port, &q);
}

struct api_resp *api_delete(int port, const char *key, const char *path)
{
    struct api_req q = { .method = "DELETE", .path = path, .key = key };
    return api_send(port, &q);
}

const char *api_raw_header(const char *answer, const char *name, char *buf, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = answer; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            eol = line + strlen(line);
        if (eol == line)
            break;                  /* end of the header block */
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            snprintf(buf, cap, "%.*s", (int)(e - v), v);
            return buf;
        }
        line = *eol ? eol + 2 : eol;
    }
    return NULL;
}

const char *api_header(const struct api_resp *r, const char *name)
{
    /* a ring of buffers: a few values of one answer can be held at once */
    static char ring[8][1024];
    static unsigned next;
    char *value = ring[next++ % 8];
    const char *start = r->headers;
    /* skip the status line */
    const char *eol = start ? strstr(start, "\r\n") : NULL;
    return eol ? api_raw_header(eol + 2, name, value, sizeof ring[0]) : NULL;
}

static const char *shown(const struct api_resp *r)
{
    static char s[700];
    snprintf(s, sizeof s, "%s", r->body ? r->body : "");
    return s;
}

const cJSON *api_expect(const struct api_resp *r, int status)
{
    if (r->status != status)
        fail_msg("%s: HTTP %d, expected %d; body: %s", r->what, r->status, status, shown(r));
    if (r->body_len && !r->json)
        fail_msg("%s: HTTP %d with a body that is not JSON: %s", r->what, r->status, shown(r));
    return r->json;
}

const cJSON *api_expect_error(const struct api_resp *r, int status, const char *error_code)
{
    if (r->status != status || !r->json || !js(r->json, "errorCode") ||
        strcmp(js(r->json, "errorCode"), error_code) != 0)
        fail_msg("%s: expected %d %s, got HTTP %d; body: %s", r->what, status, error_code, r->status, shown(r));
    const cJSON *b = r->json;
    if (ji(b, "status") != status)
        fail_msg("%s: error body \"status\" is not %d: %s", r->what, status, shown(r));
    const char *m = js(b, "message"), *rm = js(b, "readableMessage");
    if (!m || !*m || !rm || !*rm)
        fail_msg("%s: error body lacks message / readableMessage: %s", r->what, shown(r));
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "context")))
        fail_msg("%s: error body \"context\" is not an object: %s", r->what, shown(r));
    api_check_schema(b, "Error");
    return b;
}

void api_expect_error_naming(const struct api_resp *r, int status, const char *error_code, const char *word)
{
    const cJSON *b = api_expect_error(r, status, error_code);
    char *ctx = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, "context"));
    bool named = ctx && strstr(ctx, word);
    free(ctx);
    if (!named)
        fail_msg("%s: the error's context does not name \"%s\": %s", r->what, word, shown(r));
}

/* The object as compact text for messages (static buffer, truncated). */
static const char *obj_text(const cJSON *o)
{
    static char s[700];
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    snprintf(s, sizeof s, "%s", t ? t : "(none)");
    free(t);
    return s;
}

void api_check_str(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strcmp(v->valuestring, want) != 0)
        fail_msg("\"%s\" should be \"%s\" in %s", key, want, obj_text(o));
}

void api_check_int(const cJSON *o, const char *key, int64_t want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)want)
        fail_msg("\"%s\" should be the number %lld in %s", key, (long long)want, obj_text(o));
}

void api_check_bool(const cJSON *o, const char *key, bool want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsBool(v) || cJSON_IsTrue(v) != want)
        fail_msg("\"%s\" should be %s in %s", key, want ? "true" : "false", obj_text(o));
}

void api_check_null(const cJSON *o, const char *key)
{
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key)))
        fail_msg("\"%s\" should be null in %s", key, obj_text(o));
}

/* ---- docs/openapi.json, parsed for the tests that read it ---- */

static cJSON *openapi_doc;

const cJSON *api_openapi(void)
{
    if (openapi_doc)
        return openapi_doc;
    struct strbuf b = STRBUF_INIT;
    if (!strbuf_read_file(&b, "docs/openapi.json"))
        fail_msg("cannot read docs/openapi.json (the tests run from the top of the tree)");
    openapi_doc = cJSON_Parse(strbuf_str(&b));
    strbuf_free(&b);
    if (!openapi_doc)
        fail_msg("docs/openapi.json is not JSON");
    return openapi_doc;
}

/*
 * ---- every answer recorded for the run's OpenAPI check ----
 *
 * One JSON line per answer (or per value given to api_check_schema) is
 * appended to $OCPPGW_REST_ANSWERS; at the end of the run
 * tests/node/check_rest_answers.js validates them all with ajv against
 * docs/openapi.json (scripts/run-integration.sh). A line is written with one
 * write() on an O_APPEND descriptor, so the lines of a test and of the
 * processes it starts (tests/docs_examples.sh) never mix.
 */
static void record_line(cJSON *o)
{
    cJSON_AddStringToObject(o, "source", program_invocation_short_name);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        abort();
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (!line)
        abort();
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free(text);
    const char *file = it_env("OCPPGW_REST_ANSWERS");
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ssize_t w = fd >= 0 ? write(fd, line, n + 1) : -1;
    int err = errno;
    if (fd >= 0)
        close(fd);
    free(line);
    if (w != (ssize_t)(n + 1))
        fail_msg("cannot append to %s: %s", file, strerror(err));
}

/* upgrade: the request asked for a websocket (the chargers' side, not the REST API) */
static void record_answer(const char *method, const char *path, bool upgrade, const struct api_resp *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddStringToObject(o, "path", path);
    if (upgrade)
        cJSON_AddTrueToObject(o, "upgrade");
    cJSON_AddNumberToObject(o, "status", r->status);
    cJSON_AddStringToObject(o, "headers", r->headers ? r->headers : "");
    /* a body that never came (status -1) is the client's text, not the server's */
    cJSON_AddStringToObject(o, "body", r->status > 0 && r->body ? r->body : "");
    record_line(o);
}

void api_record_answer(const char *method, const char *path, const struct api_resp *r)
{
    record_answer(method, path, false, r);
}

void api_check_schema(const cJSON *value, const char *name)
{
    if (!value)
        fail_msg("(%s): no body to check", name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "schema", name);
    cJSON_AddItemToObject(o, "value", cJSON_Duplicate(value, true));
    record_line(o);
}

const cJSON *api_data(const cJSON *body)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (!cJSON_IsArray(d) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "meta")))
        fail_msg("not a collection {data: [...], meta: {...}}: %s", obj_text(body));
    return d;
}

int api_count_with(const cJSON *items, const char *key, const char *value)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
        n += cJSON_IsString(v) && strcmp(v->valuestring, value) == 0;
    }
    return n;
}

void api_expect_bad_bodies(int port, const char *key, const char *method, const char *path,
                           const struct api_bad *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct api_req q = { .method = method, .path = path, .key = key, .body = cases[i].input };
        struct api_resp *r = api_send(port, &q);
        api_expect_error_naming(r, 422, "UNPROCESSABLE_ENTITY", cases[i].name);
        api_free(r);
    }
}

void api_expect_bad_queries(int port, const char *key, const char *path, const struct api_bad *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *url = it_strf("%s?%s", path, cases[i].input);
        struct api_resp *r = api_get(port, key, url);
        api_expect_error_naming(r, 400, "BAD_REQUEST", cases[i].name);
        api_free(r);
        free(url);
    }
}

static char *group_admin;

char *api_group_start(const char *gw_name, const char *admin_name)
{
    return api_group_start_ini(gw_name, admin_name, NULL);
}

char *api_group_start_ini(const char *gw_name, const char *admin_name, const char *ini)
{
    gw_migrate_once();
    group_admin = api_key_create(admin_name, "admin");
    char *all = it_strf("%s%s", API_UNLIMITED_INI, ini ? ini : "");
    struct gw_opts o = { .name = gw_name, .ini = all };
    W.gw = gw_start(&o);
    free(all);
    return group_admin;
}

int api_group_teardown(void **state)
{
    free(group_admin);
    group_admin = NULL;
    cJSON_Delete(openapi_doc);
    openapi_doc = NULL;
    return it_group_teardown(state);
}

char *api_key_create(const char *name, const char *scopes)
{
    gw_migrate_once();
    const char *argv[] = { it_env("OCPPGW_BIN"), "apikey", "create", "--name", name, "--scopes", scopes,
                           "--db", it_env("OCPPGW_TEST_DB"), NULL };
    struct proc_result pr;
    proc_run(argv, NULL, 60000, &pr);
    if (pr.status != 0) {
        char err[400];
        int st = pr.status;
        snprintf(err, sizeof err, "%s", pr.err ? pr.err : "");
        proc_result_free(&pr);
        fail_msg("ocppgw apikey create --name %s --scopes %s: exit %d: %s", name, scopes, st, err);
    }
    char *key = pr.out;
    pr.out = NULL;
    proc_result_free(&pr);
    size_t n = strlen(key);
    while (n && isspace((unsigned char)key[n - 1]))
        key[--n] = '\0';
    if (n < 20 || strchr(key, '\n') || strchr(key, ' '))
        fail_msg("ocppgw apikey create printed \"%s\", not one key alone", key);
    return key;
}

int64_t api_key_id(const char *secret)
{
    return db_int("SELECT id FROM api_keys WHERE key_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                  secret);
}

char *api_key_create_limited(const char *name, const char *scopes_csv, const char *charger_ids_csv)
{
    gw_migrate_once();
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[43];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(raw, 1, sizeof raw, f) != sizeof raw)
        abort();
    fclose(f);
    char *key = malloc(4 + sizeof raw + 1);
    if (!key)
        abort();
    memcpy(key, "ogw_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        key[4 + i] = b64url[raw[i] & 63];
    key[4 + sizeof raw] = '\0';
    db_exec("INSERT INTO api_keys (name, key_prefix, key_hash, scopes, charger_ids)"
            " VALUES ($1, left($2, 12), encode(sha256(convert_to($2, 'UTF8')), 'hex'),"
            " string_to_array($3, ','), string_to_array($4, ','))", name, key, scopes_csv, charger_ids_csv);
    return key;
}

void api_key_wait_known(int port, const char *key)
{
    int64_t end = it_now_ms() + IT_WAIT_MS;
    int st = -1;
    for (;;) {
        struct api_resp *r = api_get(port, key, "/v1/audit-log?perPage=1");
        st = r->status;
        api_free(r);
        if (st != 401 && st != -1)
            return;
        if (it_now_ms() >= end)
            break;
        it_pause(NULL, 50);
    }
    fail_msg("the gateway on port %d still answers %d to a new key after %d ms", port, st, IT_WAIT_MS);
}

void api_key_revoke_cli(int64_t id)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *argv[] = { it_env("OCPPGW_BIN"), "apikey", "revoke", ids, "--db", it_env("OCPPGW_TEST_DB"), NULL };
    proc_run_ok(argv, "ocppgw apikey revoke");
}

char *api_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "%%%02X", c);
    }
    out[o] = '\0';
    return out;
}

cJSON *api_offset_walk(int port, const char *key, const char *path, int per_page, const char *schema,
                       int64_t *total)
{
    cJSON *all = cJSON_CreateArray();
    int64_t want = -1;
    for (int page = 0; want < 0 || (int64_t)page * per_page < want; page++) {
        if (page > 1000)
            fail_msg("GET %s: more than 1000 pages", path);
        char *url = it_strf("%s&perPage=%d&page=%d", path, per_page, page);
        struct api_resp *r = api_get(port, key, url);
        free(url);
        const cJSON *b = api_expect(r, 200);
        api_check_schema(b, schema);
        const cJSON *data = api_data(b);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(b, "meta");
        if (want < 0)
            want = ji(meta, "total");
        int64_t left = want - (int64_t)page * per_page;
        api_check_int(meta, "total", want);
        api_check_int(meta, "page", page);
        api_check_int(meta, "perPage", per_page);
        api_check_int(meta, "itemCount", left < per_page ? (left > 0 ? left : 0) : per_page);
        if (ji(meta, "itemCount") != cJSON_GetArraySize(data))
            fail_msg("%s: meta.itemCount %lld but %d items", r->what, (long long)ji(meta, "itemCount"),
                     cJSON_GetArraySize(data));
        const cJSON *item;
        cJSON_ArrayForEach(item, data)
            cJSON_AddItemToArray(all, cJSON_Duplicate(item, true));
        api_free(r);
    }
    if (total)
        *total = want;
    return all;
}

void api_expect_missing(int port, const char *key, const char *path, const char *patch_body, const char *id)
{
    struct api_resp *r = api_get(port, key, path);
    api_expect_error_naming(r, 404, "RESOURCE_NOT_FOUND", id);
    api_free(r);
    r = api_patch(port, key, path, patch_body);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
    r = api_delete(port, key, path);
    api_expect_error(r, 404, "RESOURCE_NOT_FOUND");
    api_free(r);
}

void api_expect_listed(int port, const char *key, const char *path, const char *member, const char *want)
{
    struct api_resp *r = api_get(port, key, path);
    const cJSON *data = api_data(api_expect(r, 200));
    struct strbuf got = STRBUF_INIT;
    const cJSON *item;
    cJSON_ArrayForEach(item, data)
        strbuf_printf(&got, "%s%s", got.len ? "," : "", js(item, member) ? js(item, member) : "?");
    if (strcmp(strbuf_str(&got), want) != 0)
        fail_msg("GET %s listed [%s], expected [%s]", path, strbuf_str(&got), want);
    strbuf_free(&got);
    api_free(r);
}

void api_expect_each_once(const cJSON *items, const char *key, const char *prefix, int n)
{
    for (int i = 1; i <= n; i++) {
        char *want = it_strf("%s%d", prefix, i);
        int seen = api_count_with(items, key, want);
        if (seen != 1)
            fail_msg("%s seen %d times: %s", want, seen, cJSON_PrintUnformatted(items));
        free(want);
    }
    if (cJSON_GetArraySize(items) != n)
        fail_msg("%d items, expected %s1 to %s%d once each: %s", cJSON_GetArraySize(items), prefix, prefix, n,
                 cJSON_PrintUnformatted(items));
}

cJSON *api_walk(int port, const char *key, const char *path, int max_pages, int *pages)
{
    cJSON *all = cJSON_CreateArray();
    char *after = NULL;
    int n = 0;
    for (;;) {
        if (n >= max_pages)
            fail_msg("GET %s: still a next page after %d pages (the walk does not end)", path, max_pages);
        char *url;
        if (after) {
            char *esc = api_escape(after);
            url = it_strf("%s%safter=%s", path, strchr(path, '?') ? "&" : "?", esc);
            free(esc);
        } else {
            url = it_strf("%s", path);
        }
        struct api_resp *r = api_get(port, key, url);
        free(url);
        const cJSON *b = api_expect(r, 200);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(b, "data");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(b, "meta");
        if (!cJSON_IsArray(data) || !cJSON_IsObject(meta))
            fail_msg("%s: not {data: [...], meta: {...}}: %s", r->what, shown(r));
        const cJSON *item;
        cJSON_ArrayForEach(item, data)
            cJSON_AddItemToArray(all, cJSON_Duplicate(item, true));
        if (ji(meta, "itemCount") != cJSON_GetArraySize(data))
            fail_msg("%s: meta.itemCount %lld but %d items", r->what, (long long)ji(meta, "itemCount"),
                     cJSON_GetArraySize(data));
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(meta, "after");
        free(after);
        after = NULL;
        n++;
        if (cJSON_IsString(next) && *next->valuestring) {
            after = strdup(next->valuestring);
        } else if (!cJSON_IsNull(next) && next) {
            fail_msg("%s: meta.after is neither a cursor string nor null: %s", r->what, shown(r));
        } else if (!next) {
            fail_msg("%s: meta has no \"after\": %s", r->what, shown(r));
        }
        api_free(r);
        if (!after)
            break;
    }
    if (pages)
        *pages = n;
    return all;
}

/* Status of a raw answer's status line, -1 if none. */
static int raw_status(const char *a)
{
    int st;
    if (strncmp(a, "HTTP/1.", 7) == 0 && sscanf(a + 8, " %d", &st) == 1)
        return st;
    return -1;
}

/* Whether a raw answer holds its whole body (by Content-Length; none = wait for close). */
static bool raw_complete(const char *a, size_t n)
{
    const char *end = strstr(a, "\r\n\r\n");
    if (!end)
        return false;
    char v[32];
    if (!api_raw_header(strstr(a, "\r\n") + 2, "Content-Length", v, sizeof v))
        return false;
    size_t want = (size_t)(end + 4 - a) + strtoul(v, NULL, 10);
    return n >= want;
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The method and target of a raw request's first line, for the record ("?" when there is none). */
struct raw_line {
    char method[32];
    char target[2048];
    bool upgrade;                   /* an Upgrade header: a websocket request */
};

static void raw_request_line(const char *request, size_t len, struct raw_line *l)
{
    snprintf(l->method, sizeof l->method, "?");
    snprintf(l->target, sizeof l->target, "?");
    l->upgrade = false;
    for (size_t i = 0; request && !l->upgrade && i + 9 < len; i++)
        l->upgrade = request[i] == '\n' && strncasecmp(request + i + 1, "upgrade:", 8) == 0;
    const char *eol = request ? memchr(request, '\n', len) : NULL;
    size_t n = eol ? (size_t)(eol - request) : len;
    const char *sp = request ? memchr(request, ' ', n) : NULL;
    if (!sp)
        return;
    snprintf(l->method, sizeof l->method, "%.*s", (int)(sp - request), request);
    const char *t = sp + 1, *end = request + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    snprintf(l->target, sizeof l->target, "%.*s", (int)((sp2 ? sp2 : end) - t), t);
}

/* Records a raw answer (status line and headers, then the body after the blank line). */
static void raw_record(const struct raw_line *l, int status, const char *answer)
{
    if (!answer)
        answer = "";
    const char *sep = strstr(answer, "\r\n\r\n");
    struct api_resp r = { .status = status };
    r.headers = sep ? strndup(answer, (size_t)(sep - answer) + 2) : strdup(answer);
    r.body = strdup(sep ? sep + 4 : "");
    if (!r.headers || !r.body)
        abort();
    record_answer(l->method, l->target, l->upgrade, &r);
    free(r.headers);
    free(r.body);
}

/* The request lines of the raw requests started and not yet finished, by socket. */
static struct {
    int fd_plus_1;                  /* 0: a free slot */
    struct raw_line line;
} raw_started[32];

/*
 * Sends what is left of the request while reading the answer (the server
 * may answer before the whole body is sent, e.g. 413, and close), until one
 * whole answer arrived, the server closed, or the deadline. Closes fd.
 */
static int raw_exchange(int fd, const char *request, size_t len, const struct raw_line *line, char **answer)
{
    struct strbuf b = STRBUF_INIT;
    size_t off = 0;
    bool sending = request && len > 0;
    int64_t end = it_now_ms() + API_TIMEOUT_MS;
    while (fd >= 0) {
        int left = (int)(end - it_now_ms());
        if (left <= 0)
            break;
        struct pollfd p = { .fd = fd, .events = (short)(POLLIN | (sending ? POLLOUT : 0)) };
        if (poll(&p, 1, left) <= 0)
            break;
        if (sending && (p.revents & POLLOUT)) {
            ssize_t w = send(fd, request + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                sending = false;    /* the server stopped reading: its answer may be waiting */
            if (off >= len)
                sending = false;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char chunk[4096];
            ssize_t got = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0)
                break;
            strbuf_put(&b, chunk, (size_t)got);
            if (raw_complete(b.buf, b.len))
                break;
        }
    }
    if (fd >= 0)
        close(fd);
    int status = raw_status(strbuf_str(&b));
    raw_record(line, status, strbuf_str(&b));
    if (answer)
        *answer = strbuf_take(&b);
    else
        strbuf_free(&b);
    return status;
}

int api_raw(int port, const char *request, size_t len, char **answer)
{
    struct raw_line line;
    raw_request_line(request, len, &line);
    return raw_exchange(raw_connect(port), request, len, &line, answer);
}

int api_raw_start(int port, const char *request, size_t len)
{
    int fd = raw_connect(port);
    if (fd < 0)
        fail_msg("cannot connect to 127.0.0.1:%d", port);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, request + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            fail_msg("send to 127.0.0.1:%d failed: %s", port, strerror(errno));
        off += (size_t)w;
    }
    size_t i = 0;
    while (i < sizeof raw_started / sizeof raw_started[0] && raw_started[i].fd_plus_1)
        i++;
    if (i == sizeof raw_started / sizeof raw_started[0])
        fail_msg("more than %zu raw requests started and not finished", i);
    raw_started[i].fd_plus_1 = fd + 1;
    raw_request_line(request, len, &raw_started[i].line);
    return fd;
}

int api_raw_finish(int fd, char **answer)
{
    struct raw_line line = { "?", "?", false };
    for (size_t i = 0; i < sizeof raw_started / sizeof raw_started[0]; i++) {
        if (raw_started[i].fd_plus_1 == fd + 1) {
            line = raw_started[i].line;
            raw_started[i].fd_plus_1 = 0;
            break;
        }
    }
    return raw_exchange(fd, NULL, 0, &line, answer);
}
