/*
 * The REST dispatcher: every request passes the same checks, once, in this
 * order (like redis's processCommand() before the command runs):
 *
 *   route        404 unknown path, 405 + Allow for another method,
 *                400 for a path parameter that is not text
 *   Api-Version  400 for an unknown revision
 *   credentials  401 UNAUTHORIZED (none) / INVALID_ACCESS_TOKEN; from the key
 *                cache, a key it does not have from the database (bounded)
 *   rate limit   429 RATE_LIMITED + Retry-After (token bucket per key)
 *   scope        403 ACCESS_FORBIDDEN
 *   charger      403 when a REST_CHARGER_ID route's {id} is outside the key's
 *                chargers and sites (a key limited to sites: one lookup of the
 *                charger's site, 404 when there is no such charger)
 *   site         403 when a REST_SITE_ID route's {id} is not among the sites of
 *                a restricted key (from the key alone)
 *   body         415 non-JSON Content-Type, 400 malformed JSON or a missing
 *                body where REST_JSON_BODY wants one, 422 not an object
 *   idempotency  POST with Idempotency-Key: claimed in the database first
 *                (replay, or 409 IDEMPOTENCY_KEY_REUSED), see idempotency.c
 *   handler
 *
 * OPTIONS is answered here for every known path (204 + Allow), with the CORS
 * preflight headers when the Origin is allowed (rest.cors_origins).
 *
 * Calls downward only (framework.h has the graph): the checks' modules, the
 * replies, store routing and the request. A check that waits for the
 * database continues in its job's completion; the idempotency claim is
 * handed run_handler to call once the key is ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "framework.h"
#include "rest_query.h"
#include "store_job.h"
#include "util.h"

/*
 * Keys not in the cache are looked up in the database (a key made a moment
 * ago by another process, whose NOTIFY has not arrived): at most this many
 * lookups a second for the whole process, and a hash the database did not
 * know is then refused from memory for a minute (auth.c), so unknown keys
 * cannot turn into database load.
 */
#define LOOKUPS_PER_S 50
#define LOOKUPS_BURST 100

static struct {
    const struct rest_route *routes;
    size_t nroutes;
    struct rest_ratelimit *rl;
    struct rest_ratelimit *lookups;     /* one bucket (id 0) for the process */
} D;

void rest_dispatch_init(void)
{
    const struct rest_config *cfg = rest_cfg();
    D.routes = cfg->routes;
    D.nroutes = cfg->routes ? cfg->nroutes : 0;
    D.rl = rest_rl_new(cfg->rate_per_s, cfg->rate_burst);
    D.lookups = rest_rl_new(LOOKUPS_PER_S, LOOKUPS_BURST);
}

void rest_dispatch_free(void)
{
    rest_rl_free(D.rl);
    rest_rl_free(D.lookups);
    memset(&D, 0, sizeof D);
}

void rest_dispatch_key_gone(int64_t key_id)
{
    if (D.rl)
        rest_rl_forget(D.rl, key_id);
}

static cJSON *context1(const char *name, const char *value)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, name, value ? value : "");
    return c;
}

static void fail(struct rest_request *r, enum rest_err e, const char *message, const char *ctx_name,
                 const char *ctx_value)
{
    rest_reply_error(r, e, message, ctx_name ? context1(ctx_name, ctx_value) : NULL);
}

/* "application/json" or "application/<x>+json", parameters (charset) allowed. */
static bool is_json_type(const char *ct)
{
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static void options(struct rest_request *r)
{
    char allow[96];
    rest_allow_string(r->match.allow | (1u << REST_OPTIONS), allow, sizeof allow);
    rest_add_header(r, "Allow", allow);
    const char *want = r->hdr[REST_H_AC_REQUEST_METHOD];
    if (want && r->hdr[REST_H_ORIGIN]) {
        if (!rest_cors_allowed(r)) {
            fail(r, REST_ERR_FORBIDDEN, "origin not allowed", "origin", r->hdr[REST_H_ORIGIN]);
            return;
        }
        rest_add_header(r, "Access-Control-Allow-Methods", allow);
        rest_add_header(r, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, X-Api-Key, Api-Version, Idempotency-Key, "
                        "Prefer, X-Request-Id");
        rest_add_header(r, "Access-Control-Max-Age", "600");
    }
    rest_reply_json(r, 204, NULL);
}

/* False when it answered. */
static bool check_route(struct rest_request *r)
{
    enum rest_method m = r->method == REST_OPTIONS ? REST_GET : r->method;
    enum rest_match_result res = rest_route_match(D.routes, D.nroutes, m, r->path, &r->match);
    if (r->method == REST_OPTIONS && res != REST_MATCH_NOT_FOUND) {
        options(r);
        return false;
    }
    char allow[96];
    switch (res) {
    case REST_MATCH_OK:
        return true;
    case REST_MATCH_NOT_FOUND:
        fail(r, REST_ERR_NOT_FOUND, "no such route", "path", r->path);
        return false;
    case REST_MATCH_METHOD:
        rest_allow_string(r->match.allow, allow, sizeof allow);
        rest_add_header(r, "Allow", allow);
        {
            char msg[160];
            snprintf(msg, sizeof msg, "%s is not allowed here; use %s", rest_method_name(r->method),
                     allow);
            fail(r, REST_ERR_METHOD_NOT_ALLOWED, msg, "allow", allow);
        }
        return false;
    case REST_MATCH_BAD_PARAM:
        fail(r, REST_ERR_BAD_REQUEST, "path parameter is not valid text", r->match.bad_param,
             "invalid");
        return false;
    }
    return false;
}

static bool check_version(struct rest_request *r)
{
    const char *v = r->hdr[REST_H_API_VERSION];
    r->rev = rest_revision_find(v);
    if (r->rev)
        return true;
    char msg[160];
    snprintf(msg, sizeof msg, "unknown Api-Version; the current revision is %s",
             rest_revision_current()->name);
    fail(r, REST_ERR_BAD_REQUEST, msg, "Api-Version", v);
    return false;
}

enum step { STEP_PASS, STEP_ANSWERED, STEP_PARKED };

static void after_lookup(struct rest_request *r, struct store_job *job);
static void from_credentials(struct rest_request *r, bool may_look_up);

static enum step check_key(struct rest_request *r, const struct rest_route *route, bool may_look_up)
{
    const struct rest_io *io = rest_io();
    char hash[65];
    enum rest_auth_result a = rest_auth_check(r->hdr[REST_H_AUTHORIZATION], r->hdr[REST_H_X_API_KEY],
                                              io->now_ms(io->ctx), &r->key, hash);
    if (a == REST_AUTH_UNKNOWN && may_look_up &&
        rest_rl_take(D.lookups, 0, io->mono_us(io->ctx)).allowed) {
        const char *params[] = { hash };
        rest_fw_sql(r, rest_auth_lookup_sql, 1, params, false, after_lookup);
        return STEP_PARKED;
    }
    if (a != REST_AUTH_OK) {
        rest_add_header(r, "WWW-Authenticate",
                        a == REST_AUTH_NONE ? "Bearer realm=\"ocppgw\""
                                            : "Bearer realm=\"ocppgw\", error=\"invalid_token\"");
        if (a == REST_AUTH_NONE)
            fail(r, REST_ERR_UNAUTHORIZED,
                 "no credentials: send Authorization: Bearer <key> or x-api-key: <key>", NULL, NULL);
        else
            fail(r, REST_ERR_INVALID_ACCESS_TOKEN, "the API key is unknown, revoked or expired",
                 NULL, NULL);
        return STEP_ANSWERED;
    }
    r->rl = rest_rl_take(D.rl, r->key->key.id, io->mono_us(io->ctx));
    r->rl_headers = true;
    if (!r->rl.allowed) {
        char secs[24];
        snprintf(secs, sizeof secs, "%ld", r->rl.retry_after_s);
        rest_add_header(r, "Retry-After", secs);
        fail(r, REST_ERR_RATE_LIMITED, "rate limit of this API key exceeded", "retryAfter", secs);
        return STEP_ANSWERED;
    }
    if (!rest_key_has_scope(&r->key->key, route->scope)) {
        char msg[128];
        snprintf(msg, sizeof msg, "this API key lacks scope %s", route->scope);
        fail(r, REST_ERR_FORBIDDEN, msg, "scope", route->scope);
        return STEP_ANSWERED;
    }
    return STEP_PASS;
}

/*
 * A REST_CHARGER_ID route's {id} against the key's restriction (charger ids
 * or site ids: either admits). A listed charger passes at once; a key limited
 * to sites needs the charger's site: one lookup, then the checks go on in
 * after_site (404 when there is no such charger).
 */
static const char site_sql[] = "SELECT c.site_id FROM chargers c WHERE c.id = $1";
static void after_site(struct rest_request *r, struct store_job *job);

static void forbid_charger(struct rest_request *r, const char *id)
{
    fail(r, REST_ERR_FORBIDDEN, "this API key may not access this charger", "chargerId", id);
}

static enum step check_charger(struct rest_request *r)
{
    const struct rest_key *k = &r->key->key;
    const char *id = rest_param(r, "id");
    if ((!k->charger_ids && !k->site_ids) ||
        (k->charger_ids && rest_key_allows_charger(k, id)))
        return STEP_PASS;
    if (!k->site_ids) {
        forbid_charger(r, id);
        return STEP_ANSWERED;
    }
    rest_fw_sql(r, site_sql, 1, &id, false, after_site);
    return STEP_PARKED;
}

/*
 * A REST_SITE_ID route's {id}: a key limited to chargers or sites sees the
 * sites it lists, no others (its chargers' sites included: a site is more
 * than the chargers a key was given). Decided from the key alone.
 */
static bool check_site(struct rest_request *r)
{
    const struct rest_key *k = &r->key->key;
    const char *id = rest_param(r, "id");
    if (rest_visible(k->charger_ids, k->site_ids, NULL, id))
        return true;
    fail(r, REST_ERR_FORBIDDEN, "this API key may not access this site", "siteId", id);
    return false;
}

/* The database's word on a key the cache did not have; then the checks go on. */
static void after_lookup(struct rest_request *r, struct store_job *job)
{
    if (!r)
        return;
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
        return;
    }
    if (job->out.sql.ntuples > 0 && job->out.sql.nfields == REST_AUTH_ROW_COLUMNS &&
        job->out.sql.values) {
        rest_auth_apply_row((const char *const *)job->out.sql.values);
    } else {
        const struct rest_io *io = rest_io();
        rest_auth_missed(job->in.sql.params[0], io->now_ms(io->ctx));
    }
    from_credentials(r, false);
}

static bool check_body(struct rest_request *r, const struct rest_route *route)
{
    const char *body = r->body.buf;
    size_t body_len = r->body.len;
    if (body_len > 0) {
        const char *ct = r->hdr[REST_H_CONTENT_TYPE];
        if (ct && !is_json_type(ct)) {
            fail(r, REST_ERR_UNSUPPORTED_MEDIA_TYPE, "the body must be application/json",
                 "contentType", ct);
            return false;
        }
        /* the whole body is one JSON value: bytes after it are malformed, not ignored */
        const char *end = NULL;
        r->json = cJSON_ParseWithLengthOpts(body, body_len, &end, false);
        if (r->json) {
            while (end < body + body_len && strchr(" \t\r\n", *end) && *end)
                end++;
            if (end != body + body_len) {
                cJSON_Delete(r->json);
                r->json = NULL;
                char pos[64];
                snprintf(pos, sizeof pos, "bytes after the JSON value at byte %zu",
                         (size_t)(end - body));
                fail(r, REST_ERR_BAD_REQUEST, "the body is not valid JSON", "body", pos);
                return false;
            }
        }
        if (!r->json) {
            const char *at = cJSON_GetErrorPtr();
            char pos[64];
            if (at && at >= body && at <= body + body_len)
                snprintf(pos, sizeof pos, "malformed JSON near byte %zu", (size_t)(at - body));
            else
                snprintf(pos, sizeof pos, "malformed JSON");
            fail(r, REST_ERR_BAD_REQUEST, "the body is not valid JSON", "body", pos);
            return false;
        }
    }
    if (!(route->flags & REST_JSON_BODY))
        return true;
    if (!r->json) {
        fail(r, REST_ERR_BAD_REQUEST, "a JSON object body is required", "body", "missing");
        return false;
    }
    if (!cJSON_IsObject(r->json)) {
        fail(r, REST_ERR_UNPROCESSABLE, "the body must be a JSON object", "body", "expected an object");
        return false;
    }
    return true;
}

/* The route's handler (after the checks, and after a successful idempotency claim). */
static void run_handler(struct rest_request *r)
{
    const struct rest_route *route = r->match.route;
    if (!route || !route->handler) {
        rest_reply_error(r, REST_ERR_NOT_FOUND, "no handler for this route", NULL);
        return;
    }
    route->handler(r);
}

static bool check_idempotency(struct rest_request *r)
{
    const char *key = r->hdr[REST_H_IDEMPOTENCY_KEY];
    if (r->method != REST_POST || !key || !r->key)
        return true;
    if (!rest_idem_key_valid(key)) {
        fail(r, REST_ERR_BAD_REQUEST, "Idempotency-Key must be 1 to 255 printable ASCII characters",
             "Idempotency-Key", "invalid");
        return false;
    }
    char *query = rest_args_joined(&r->args);
    rest_idem_fingerprint(rest_method_name(r->method), r->path, query, r->body.buf, r->body.len,
                          r->fingerprint);
    free(query);
    rest_idem_claim(r, run_handler);    /* continues in its completion */
    return false;
}

/* Everything after the credentials and the charger restriction. */
static void from_body(struct rest_request *r)
{
    if (!check_body(r, r->match.route) || !check_idempotency(r))
        return;
    run_handler(r);
}

static void after_site(struct rest_request *r, struct store_job *job)
{
    if (!r)
        return;
    const char *id = rest_param(r, "id");
    if (job->status != STORE_OK) {
        rest_reply_store_error(r, job);
    } else if (job->out.sql.ntuples == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "charger '%.48s' not found", id);
        fail(r, REST_ERR_NOT_FOUND, msg, "chargerId", id);
    } else if (!rest_visible(r->key->key.charger_ids, r->key->key.site_ids, id,
                             rest_value(job, 0, 0))) {
        forbid_charger(r, id);
    } else {
        from_body(r);
    }
}

/* Everything after the route and Api-Version checks. */
static void from_credentials(struct rest_request *r, bool may_look_up)
{
    const struct rest_route *route = r->match.route;
    if (!(route->flags & REST_NO_AUTH)) {
        if (check_key(r, route, may_look_up) != STEP_PASS)
            return;
        if ((route->flags & REST_CHARGER_ID) && check_charger(r) != STEP_PASS)
            return;
        if ((route->flags & REST_SITE_ID) && !check_site(r))
            return;
    }
    from_body(r);
}

void rest_dispatch(struct rest_request *r)
{
    r->state = REST_REQ_RUNNING;
    if (!check_route(r) || !check_version(r))
        return;
    from_credentials(r, true);
}
