/*
 * Glue shared by the REST resources (include/rest_res.h): collections from
 * query string to answer, body validation replies, the not-found /
 * forbidden / write-error answers, audit rows, Location headers. The route
 * table's GET /v1/openapi.json lives here too (the embedded document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "embedded.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"
#include "util.h"

static const char *src_get(void *ctx, const char *name)
{
    return rest_query(ctx, name);
}

static size_t src_list(void *ctx, const char *name, const char **out, size_t max)
{
    return rest_query_list(ctx, name, out, max);
}

struct rest_query_source res_query_source(struct rest_request *r)
{
    return (struct rest_query_source){ src_get, src_list, r };
}

bool res_unknown_params(struct rest_request *r)
{
    const char *name = rest_query_unread(r);
    if (!name)
        return false;
    char msg[160];
    snprintf(msg, sizeof msg, "unknown query parameter '%.64s'", name);
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, name, "unknown parameter");
    rest_reply_error(r, REST_ERR_BAD_REQUEST, msg, ctx);
    return true;
}

void res_param_error(struct rest_request *r, const struct rest_param_error *err)
{
    char msg[300];
    snprintf(msg, sizeof msg, "query parameter '%s' %s", err->param, err->reason);
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, err->param, err->reason);
    rest_reply_error(r, REST_ERR_BAD_REQUEST, msg, ctx);
}

bool res_param(struct rest_request *r, const struct rest_filter *f, char **out)
{
    struct rest_query_source src = { src_get, src_list, r };
    struct rest_param_error err;
    if (rest_param_parse(f, &src, out, &err))
        return true;
    res_param_error(r, &err);
    return false;
}

/* An export's query: perPage and page are ignored (read, so never "unknown"). */
static const char *src_get_export(void *ctx, const char *name)
{
    const char *v = rest_query(ctx, name);
    return strcmp(name, "perPage") == 0 || strcmp(name, "page") == 0 ? NULL : v;
}

/* Parses r's query for spec; replies 400 and returns false on a bad or unknown parameter. */
static bool list_parse(struct rest_request *r, const struct rest_list_spec *spec,
                       struct rest_list_req *req)
{
    bool export = res_export_wanted(r) != REST_EXPORT_NONE;
    struct rest_query_source src = { export ? src_get_export : src_get, src_list, r };
    struct rest_param_error err;
    if (!rest_list_parse(spec, &src, req, &err)) {
        res_param_error(r, &err);
        return false;
    }
    return !res_unknown_params(r);
}

void res_list_start(struct rest_request *r, const struct rest_list_spec *spec,
                    const char *scope_value, rest_sql_done done)
{
    res_list_start_hook(r, spec, scope_value, NULL, done);
}

void res_list_start_hook(struct rest_request *r, const struct rest_list_spec *spec, const char *scope_value,
                         const struct store_rows_hook *hook, rest_sql_done done)
{
    struct rest_list_req req;
    enum rest_export_format f = res_export_wanted(r);
    if (f != REST_EXPORT_NONE) {
        if (list_parse(r, spec, &req))
            res_export_list(r, f, &req, scope_value, hook);
    } else if (list_parse(r, spec, &req)) {
        const struct rest_key *k = rest_key(r);
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        rest_list_sql(&req, scope_value, k ? k->charger_ids : NULL, k ? k->site_ids : NULL, &b);
        if (hook) {
            struct store_rows_hook h = *hook;
            h.col += rest_list_col0(spec);
            rest_sql_hook(r, rest_sqlb_take_sql(&b), true, b.nparams, (const char *const *)b.params, &h, done);
            rest_sqlb_free(&b);
        } else {
            res_sql_run(r, &b, done);
        }
    }
    rest_list_req_free(&req);
}

void res_list_finish(struct rest_request *r, struct store_job *job,
                     const struct rest_list_spec *spec, const char *parent_what)
{
    res_list_finish_fix(r, job, spec, parent_what, NULL);
}

void res_list_finish_fix(struct rest_request *r, struct store_job *job, const struct rest_list_spec *spec,
                         const char *parent_what, void (*fix)(struct rest_request *r, cJSON *page))
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    /* the request was validated when the statement was made: this parse succeeds */
    struct rest_list_req req;
    struct rest_query_source src = { src_get, src_list, r };
    struct rest_param_error err;
    if (!rest_list_parse(spec, &src, &req, &err)) {
        rest_list_req_free(&req);
        rest_reply_error(r, REST_ERR_INTERNAL, "query changed while parked", NULL);
        return;
    }
    const char *charger_id, *site_id;
    const char *id = rest_param(r, "id");
    char ctx_key[64];
    snprintf(ctx_key, sizeof ctx_key, "%sId", parent_what ? parent_what : "");
    if (spec->parent && !rest_list_parent(&req, job, &charger_id, &site_id)) {
        res_not_found(r, parent_what, ctx_key, id);
    } else if (spec->parent && !res_key_sees(r, charger_id, site_id)) {
        res_forbidden(r, parent_what, ctx_key, id);
    } else {
        cJSON *page = rest_list_page(r, &req, job);
        if (fix)
            fix(r, page);
        rest_reply_json(r, 200, page);
    }
    rest_list_req_free(&req);
}

bool res_body(struct rest_request *r, const struct rest_field *fields, size_t n, bool create,
              const char *action, const char *resource, struct rest_body *out)
{
    const cJSON *body = rest_body(r);
    if (!body || !cJSON_IsObject(body)) {
        memset(out, 0, sizeof *out);
        res_audit(r, action, resource, "invalid");
        rest_reply_error(r, REST_ERR_BAD_REQUEST, "the body must be a JSON object", NULL);
        return false;
    }
    cJSON *ctx = rest_body_parse(body, fields, n, create, out);
    if (!ctx)
        return true;
    res_invalid(r, action, resource, ctx);
    return false;
}

void res_invalid(struct rest_request *r, const char *action, const char *resource, cJSON *ctx)
{
    char msg[256];
    size_t at = (size_t)snprintf(msg, sizeof msg, "invalid fields:");
    const cJSON *f;
    cJSON_ArrayForEach(f, ctx) {
        if (at < sizeof msg)
            at += (size_t)snprintf(msg + at, sizeof msg - at, " %.48s", f->string);
    }
    res_audit(r, action, resource, "invalid");
    rest_reply_error(r, REST_ERR_UNPROCESSABLE, msg, ctx);
}

void res_select(struct rest_sqlb *b, const struct rest_col *cols, size_t n, const char *tail)
{
    char *list = rest_select_list(cols, n);
    rest_sqlb_add(b, "SELECT ");
    rest_sqlb_add(b, list);
    rest_sqlb_add(b, tail);
    free(list);
}

const char *res_select_once(const char **slot, const struct rest_col *cols, size_t n,
                            const char *tail)
{
    if (!*slot) {
        struct rest_sqlb b;
        rest_sqlb_init(&b);
        res_select(&b, cols, n, tail);
        *slot = rest_sql_intern(strbuf_str(&b.sql));
        rest_sqlb_free(&b);
    }
    return *slot;
}

void res_sql_run(struct rest_request *r, struct rest_sqlb *b, rest_sql_done done)
{
    rest_sql_owned_password(r, rest_sqlb_take_sql(b), b->nparams, (const char *const *)b->params,
                            b->password_param, rest_settings(r)->password_iterations, done);
    rest_sqlb_free(b);
}

void res_reply_row(struct rest_request *r, const struct store_job *job, const struct res_row *how,
                   const char *id, int status)
{
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
    } else if (rest_job_rows(job) < 1) {
        res_not_found(r, how->what, how->ctx_key, id);
    } else if (how->charger_field &&
               !res_key_sees(r, rest_job_value(job, 0, res_col(how->cols, how->ncols, how->charger_field)),
                             rest_job_value(job, 0, how->site_field
                                                        ? res_col(how->cols, how->ncols, how->site_field)
                                                        : (int)how->ncols))) {
        res_forbidden(r, how->what, how->ctx_key, id);
    } else {
        if (status == 201 && how->location)
            res_location(r, how->location, rest_job_value(job, 0, 0));
        rest_reply_json(r, status, rest_row_json(r, job, 0, 0, how->cols, how->ncols));
    }
}

int res_col(const struct rest_col *cols, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return (int)i;
    log_error(NULL, "rest: no column %s", name);
    abort();
}

bool res_key_sees(struct rest_request *r, const char *charger_id, const char *site_id)
{
    const struct rest_key *k = rest_key(r);
    return !k || rest_visible(k->charger_ids, k->site_ids, charger_id, site_id);
}

static void reply_about(struct rest_request *r, enum rest_err e, const char *what,
                        const char *ctx_key, const char *id, const char *fmt)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what, id ? id : "");
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, ctx_key, id ? id : "");
    rest_reply_error(r, e, msg, ctx);
}

void res_not_found(struct rest_request *r, const char *what, const char *ctx_key, const char *id)
{
    reply_about(r, REST_ERR_NOT_FOUND, what, ctx_key, id, "%s '%.64s' not found");
}

void res_forbidden(struct rest_request *r, const char *what, const char *ctx_key, const char *id)
{
    reply_about(r, REST_ERR_FORBIDDEN, what, ctx_key, id,
                "%s '%.64s' is outside this key's chargers");
}

bool res_failed_with(const struct store_job *job, const char *sqlstate)
{
    return job->status == STORE_ERR_FAILED && strcmp(job->out.sql.sqlstate, sqlstate) == 0;
}

/* result word of a write job for res_audit */
static const char *write_result(const struct store_job *job)
{
    if (job->status == STORE_OK)
        return "ok";
    const char *st = job->out.sql.sqlstate;
    if (job->status == STORE_ERR_FAILED && strcmp(st, "23505") == 0)
        return "conflict";
    if (job->status == STORE_ERR_FAILED && (strncmp(st, "23", 2) == 0 || strncmp(st, "22", 2) == 0))
        return "invalid";
    return "error";
}

bool res_write_done(struct rest_request *r, const struct store_job *job, const char *action,
                    const char *what, const char *ctx_key, const char *id, enum rest_err empty)
{
    const char *result = write_result(job);
    if (job->status == STORE_OK && rest_job_rows(job) < 1)
        result = empty == REST_ERR_CONFLICT ? "conflict" : empty == REST_ERR_NOT_FOUND ? "not_found" : "error";
    res_audit(r, action, id, result);
    if (job->status != STORE_OK) {
        if (strcmp(result, "conflict") == 0)
            rest_reply_error(r, REST_ERR_CONFLICT, "the resource already exists", NULL);
        else if (strcmp(result, "invalid") == 0)
            rest_reply_error(r, REST_ERR_UNPROCESSABLE, "the database refused the values", NULL);
        else
            rest_reply_store_error(r, job);
        return false;
    }
    if (rest_job_rows(job) < 1) {
        reply_about(r, empty, what, ctx_key, id,
                    empty == REST_ERR_CONFLICT    ? "%s '%.64s' already exists"
                    : empty == REST_ERR_NOT_FOUND ? "%s '%.64s' not found"
                                                  : "%s '%.64s' was not stored");
        return false;
    }
    return true;
}

bool res_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void res_audit(struct rest_request *r, const char *action, const char *resource,
               const char *result)
{
    const cJSON *body = rest_body(r);
    char *detail = NULL;
    if (cJSON_IsObject(body)) {
        cJSON *d = cJSON_CreateObject();
        cJSON *fields = cJSON_AddArrayToObject(d, "fields");
        const cJSON *f;
        cJSON_ArrayForEach(f, body)
            cJSON_AddItemToArray(fields, cJSON_CreateString(f->string ? f->string : ""));
        detail = cJSON_PrintUnformatted(d);
        cJSON_Delete(d);
    }
    rest_audit(r, action, resource, detail, result);
    free(detail);
}

void res_path_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

void res_location(struct rest_request *r, const char *prefix, const char *id)
{
    char esc[3 * 256 + 1], loc[sizeof esc + 64];
    res_path_escape(id, esc, sizeof esc);
    snprintf(loc, sizeof loc, "%s%s", prefix, esc);
    rest_add_header(r, "Location", loc);
}

/* GET /v1/openapi.json: the document compiled in from docs/openapi.json. */
void res_openapi_get(struct rest_request *r)
{
    if (res_unknown_params(r))
        return;
    const struct embedded_file *f = embedded_find("openapi.json");
    if (!f) {
        rest_reply_error(r, REST_ERR_INTERNAL, "openapi.json is not embedded", NULL);
        return;
    }
    rest_reply_text(r, 200, "application/json", (const char *)f->data, f->len);
}
