/*
 * REST calls for the integration tests: libcurl for ordinary requests, a
 * plain socket for the malformed ones, the CLI for API keys. See rest.h.
 */
#include "rest.h"

#include "it.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
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

/* ---- a small JSON Schema checker for the answers, against docs/openapi.json ---- */

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

static const cJSON *schema_by_ref(const char *ref)
{
    const char *pre = "#/components/schemas/";
    if (strncmp(ref, pre, strlen(pre)) != 0)
        fail_msg("docs/openapi.json: unsupported $ref %s", ref);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(api_openapi(), "components"), "schemas"),
        ref + strlen(pre));
    if (!s)
        fail_msg("docs/openapi.json: $ref %s points nowhere", ref);
    return s;
}

static bool type_is(const cJSON *v, const char *t)
{
    if (strcmp(t, "null") == 0)
        return cJSON_IsNull(v);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(t, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(t, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(t, "number") == 0)
        return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble;
    return false;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "YYYY-MM-DD" */
static bool is_date(const char *s)
{
    return strlen(s) >= 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2);
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z": ISO 8601 in UTC with Z, as rest-api.md wants every time */
static bool is_utc_time(const char *s)
{
    size_t n = strlen(s);
    if (n < 20 || !is_date(s) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2) || s[n - 1] != 'Z')
        return false;
    if (n == 20)
        return true;
    return s[19] == '.' && n > 21 && digits(s + 20, (int)(n - 21));
}

/* Collects the documented member names of a schema (through $ref and allOf) into names. */
static void documented_members(const cJSON *schema, cJSON *names)
{
    const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "$ref"));
    if (ref) {
        documented_members(schema_by_ref(ref), names);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(schema, "properties"))
        if (!cJSON_GetObjectItemCaseSensitive(names, p->string))
            cJSON_AddTrueToObject(names, p->string);
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(schema, "allOf"))
        documented_members(part, names);
}

static void check_value(const cJSON *v, const cJSON *schema, const char *path, int depth, bool closed);

static void check_object(const cJSON *v, const cJSON *schema, const char *path, int depth)
{
    const cJSON *req;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(schema, "required"))
        if (cJSON_IsString(req) && !cJSON_GetObjectItemCaseSensitive(v, req->valuestring))
            fail_msg("%s: required member \"%s\" is missing", path, req->valuestring);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, m->string);
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", path, m->string);
        if (ps)
            check_value(m, ps, sub, depth + 1, true);
    }
}

/* closed: also refuse members the schema (with its allOf parts) does not describe */
static void check_value(const cJSON *v, const cJSON *schema, const char *path, int depth, bool closed)
{
    if (depth > 32)
        fail_msg("%s: schema nests too deep", path);
    const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "$ref"));
    if (ref) {
        check_value(v, schema_by_ref(ref), path, depth + 1, closed);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(schema, "allOf"))
        check_value(v, part, path, depth + 1, false);

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (type) {
        bool ok = false;
        if (cJSON_IsString(type)) {
            ok = type_is(v, type->valuestring);
        } else {
            const cJSON *t;
            cJSON_ArrayForEach(t, type) ok |= cJSON_IsString(t) && type_is(v, t->valuestring);
        }
        if (!ok) {
            char *vt = cJSON_PrintUnformatted(v), *tt = cJSON_PrintUnformatted(type);
            char msg[300];
            snprintf(msg, sizeof msg, "%s: %.80s is not of type %.80s", path, vt ? vt : "?", tt ? tt : "?");
            free(vt);
            free(tt);
            fail_msg("%s", msg);
        }
    }
    if (cJSON_IsNull(v))
        return;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (en) {
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, en) found |= cJSON_Compare(e, v, true);
        if (!found) {
            char *vt = cJSON_PrintUnformatted(v);
            char msg[300];
            snprintf(msg, sizeof msg, "%s: %.80s is not one of the documented values", path, vt ? vt : "?");
            free(vt);
            fail_msg("%s", msg);
        }
    }
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
        if ((mn && (double)len < mn->valuedouble) || (mx && (double)len > mx->valuedouble))
            fail_msg("%s: \"%.60s\" has a length outside the documented bounds", path, v->valuestring);
        const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "format"));
        if (fmt && strcmp(fmt, "date-time") == 0 && !is_utc_time(v->valuestring))
            fail_msg("%s: \"%.60s\" is not an ISO 8601 UTC time with Z", path, v->valuestring);
        if (fmt && strcmp(fmt, "date") == 0 && (strlen(v->valuestring) != 10 || !is_date(v->valuestring)))
            fail_msg("%s: \"%.60s\" is not a date YYYY-MM-DD", path, v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
        const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
        if ((mn && v->valuedouble < mn->valuedouble) || (mx && v->valuedouble > mx->valuedouble))
            fail_msg("%s: %g is outside the documented bounds", path, v->valuedouble);
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%d]", path, i++);
            if (items)
                check_value(e, items, sub, depth + 1, true);
        }
    }
    if (cJSON_IsObject(v)) {
        check_object(v, schema, path, depth);
    }
    if (cJSON_IsObject(v) && closed) {
        /* nothing undocumented */
        cJSON *names = cJSON_CreateObject();
        documented_members(schema, names);
        if (cJSON_GetArraySize(names) > 0) {
            const cJSON *m;
            cJSON_ArrayForEach(m, v) {
                if (!cJSON_GetObjectItemCaseSensitive(names, m->string)) {
                    char msg[300];
                    snprintf(msg, sizeof msg, "%s: member \"%.60s\" is not in docs/openapi.json", path, m->string);
                    cJSON_Delete(names);
                    fail_msg("%s", msg);
                }
            }
        }
        cJSON_Delete(names);
    }
}

void api_check_schema(const cJSON *value, const char *name)
{
    char ref[128], path[140];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
    snprintf(path, sizeof path, "(%s)", name);
    if (!value)
        fail_msg("%s: no body to check", path);
    check_value(value, schema_by_ref(ref), path, 0, true);
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
    gw_migrate_once();
    group_admin = api_key_create(admin_name, "admin");
    struct gw_opts o = { .name = gw_name, .ini = API_UNLIMITED_INI };
    W.gw = gw_start(&o);
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

/*
 * Sends what is left of the request while reading the answer (the server
 * may answer before the whole body is sent, e.g. 413, and close), until one
 * whole answer arrived, the server closed, or the deadline. Closes fd.
 */
static int raw_exchange(int fd, const char *request, size_t len, char **answer)
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
    if (answer)
        *answer = strbuf_take(&b);
    else
        strbuf_free(&b);
    return status;
}

int api_raw(int port, const char *request, size_t len, char **answer)
{
    return raw_exchange(raw_connect(port), request, len, answer);
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
    return fd;
}

int api_raw_finish(int fd, char **answer)
{
    return raw_exchange(fd, NULL, 0, answer);
}
