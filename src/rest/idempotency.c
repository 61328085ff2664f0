/*
 * Idempotency-Key on POST (rest-api.md), scoped to the API key, kept in
 * table idempotency_keys (sql/003_rest.sql) for at least 24 hours.
 *
 * 1. Claim, before the handler acts: one statement inserts the row
 *    in_progress with ON CONFLICT DO NOTHING and, when a row was already
 *    there, reads it. The database decides atomically who owns a key: two
 *    concurrent requests (in this process or another gateway) can never both
 *    act. Outcomes: ours -> run the handler; done with the same fingerprint
 *    -> replay the stored status, body and Location without acting;
 *    in progress, or another request's fingerprint -> 409
 *    IDEMPOTENCY_KEY_REUSED.
 * 2. Record, when the handler replies: the reply (status, body, the headers
 *    the handler added; one-time secrets the handler marked with
 *    rest_reply_secret_field stored as null, so a replay shows the resource
 *    with the secret null and never keeps it) is stored, and only then sent, so a retry that
 *    arrives after the answer always finds it. A reply that says nothing was
 *    done (a 4xx about the request, 503) releases the claim instead, so the
 *    client may fix the request or retry later with the same key; answers
 *    that follow an action (2xx, charger refusals, charger errors and
 *    timeouts, 500) are recorded.
 * A client that goes away does not stop this: the request lives on until its
 * reply is recorded (framework.h).
 *
 * The fingerprint is SHA-256 over method, path, query and body bytes.
 *
 * Below the dispatcher and above the replies: the dispatcher hands the claim
 * what to run once it is ours (then), and the claim hangs the recording on
 * the request (r->finish), where the reply code finds it; neither calls
 * back up by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "framework.h"
#include "store_job.h"
#include "util.h"

void rest_idem_fingerprint(const char *method, const char *path, const char *query,
                           const void *body, size_t body_len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        abort();
    if (!query)
        query = "";
    /* fields end with their NUL, so that no two different requests run together alike */
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, method, strlen(method) + 1) != 1 ||
        EVP_DigestUpdate(c, path, strlen(path) + 1) != 1 ||
        EVP_DigestUpdate(c, query, strlen(query) + 1) != 1 ||
        (body_len && EVP_DigestUpdate(c, body, body_len) != 1) ||
        EVP_DigestFinal_ex(c, md, &mdlen) != 1 || mdlen != 32)
        abort();
    EVP_MD_CTX_free(c);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

bool rest_idem_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n < 1 || n > REST_IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return false;
    return true;
}

static const char claim_sql[] =
    "WITH ins AS ("
    "  INSERT INTO idempotency_keys (api_key_id, idempotency_key, fingerprint, request_id)"
    "  VALUES ($1::bigint, $2, $3, $4)"
    "  ON CONFLICT (api_key_id, idempotency_key) DO NOTHING RETURNING 1)"
    " SELECT 'claimed', NULL::integer, NULL::text, NULL::text FROM ins"
    " UNION ALL"
    " SELECT CASE WHEN k.fingerprint <> $3 THEN 'mismatch'"
    "             WHEN k.state = 'in_progress' THEN 'in_progress' ELSE 'done' END,"
    "        k.status, k.response_body, k.response_headers::text"
    " FROM idempotency_keys k"
    " WHERE k.api_key_id = $1::bigint AND k.idempotency_key = $2 AND NOT EXISTS (SELECT 1 FROM ins)";

static const char record_sql[] =
    "UPDATE idempotency_keys SET state = 'done', status = $3::integer, response_body = $4,"
    " response_headers = $5::jsonb, completed_at = now()"
    " WHERE api_key_id = $1::bigint AND idempotency_key = $2";

static const char release_sql[] =
    "DELETE FROM idempotency_keys"
    " WHERE api_key_id = $1::bigint AND idempotency_key = $2 AND state = 'in_progress'";

/* Kept at least 24 hours: what is older than 25 goes. */
static const char cleanup_sql[] =
    "DELETE FROM idempotency_keys WHERE created_at < now() - interval '25 hours'";

static void key_id_text(const struct rest_request *r, char buf[24])
{
    snprintf(buf, 24, "%lld", r->key ? (long long)r->key->key.id : 0LL);
}

static void replay(struct rest_request *r, struct store_job *job)
{
    const char *status = rest_value(job, 0, 1);
    const char *body = rest_value(job, 0, 2);
    const char *headers = rest_value(job, 0, 3);
    cJSON *h = headers ? cJSON_Parse(headers) : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, h)
        if (cJSON_IsString(it) && it->string)
            rest_add_header(r, it->string, it->valuestring);
    cJSON_Delete(h);
    rest_add_header(r, "Idempotent-Replayed", "true");
    rest_reply_text(r, status ? atoi(status) : 500, "application/json", body,
                    body ? strlen(body) : 0);
}

static void finish(struct rest_request *r);
static void abandon(struct rest_request *r);

static void claimed(struct rest_request *r, struct store_job *job)
{
    if (!r)
        return;     /* only the orphan sweep frees a claiming request, and it does not */
    r->idem = REST_IDEM_NONE;
    if (job->status != STORE_OK) {
        if (r->conn)
            rest_reply_store_error(r, job);
        else
            rest_request_free(r);
        return;
    }
    const char *outcome = rest_value(job, 0, 0);
    if (outcome && strcmp(outcome, "claimed") == 0) {
        r->idem = REST_IDEM_CLAIMED;
        if (!r->conn) {
            abandon(r);
            return;
        }
        r->finish = finish;         /* the handler's reply is recorded before it is sent */
        r->then(r);
        return;
    }
    if (!r->conn) {
        rest_request_free(r);
        return;
    }
    if (outcome && strcmp(outcome, "done") == 0) {
        replay(r, job);
        return;
    }
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "Idempotency-Key", r->hdr[REST_H_IDEMPOTENCY_KEY]);
    bool mismatch = outcome && strcmp(outcome, "mismatch") == 0;
    rest_reply_error(r, REST_ERR_IDEMPOTENCY_KEY_REUSED,
                     mismatch ? "this Idempotency-Key was used for a different request"
                              : "a request with this Idempotency-Key is still in progress",
                     ctx);
}

void rest_idem_claim(struct rest_request *r, rest_handler then)
{
    char id[24];
    key_id_text(r, id);
    const char *params[] = { id, r->hdr[REST_H_IDEMPOTENCY_KEY], r->fingerprint,
                             rest_request_id(r) };
    r->idem = REST_IDEM_CLAIMING;
    r->then = then;
    rest_fw_sql(r, claim_sql, 4, params, false, claimed);
}

static void release(struct rest_request *r)
{
    char id[24];
    key_id_text(r, id);
    const char *params[] = { id, r->hdr[REST_H_IDEMPOTENCY_KEY] };
    rest_fw_sql(NULL, release_sql, 2, params, true, NULL);
    r->idem = REST_IDEM_NONE;
}

/* r went away before its handler ran (claim held): releases the claim. */
static void abandon(struct rest_request *r)
{
    release(r);
    rest_request_free(r);
}

/* Replies that mean nothing was done for the request: the key may be used again. */
static bool nothing_done(const struct rest_request *r)
{
    switch (r->err) {
    case REST_ERR_BAD_REQUEST:
    case REST_ERR_UNAUTHORIZED:
    case REST_ERR_INVALID_ACCESS_TOKEN:
    case REST_ERR_FORBIDDEN:
    case REST_ERR_NOT_FOUND:
    case REST_ERR_METHOD_NOT_ALLOWED:
    case REST_ERR_CHARGER_OFFLINE:
    case REST_ERR_CHARGER_NOT_AVAILABLE:
    case REST_ERR_CONFLICT:
    case REST_ERR_LENGTH_REQUIRED:
    case REST_ERR_PAYLOAD_TOO_LARGE:
    case REST_ERR_UNSUPPORTED_MEDIA_TYPE:
    case REST_ERR_UNPROCESSABLE:
    case REST_ERR_RATE_LIMITED:
    case REST_ERR_UNAVAILABLE:
    case REST_ERR_SHUTTING_DOWN:        /* refused before sending */
    case REST_ERR_QUERY_TIMEOUT:        /* the statement was rolled back */
        return true;
    default:
        return r->err < 0 && r->reply.status == 503;
    }
}

static void recorded(struct rest_request *r, struct store_job *job)
{
    if (!r)
        return;
    if (job->status != STORE_OK)
        log_warn(NULL, "rest: the reply to %s %s (request %s) could not be recorded for its"
                 " Idempotency-Key (%s); a retry will get 409",
                 rest_method_name(r->method), r->path, rest_request_id(r),
                 job->status == STORE_ERR_UNAVAILABLE ? "database unavailable" : job->out.sql.sqlstate);
    r->idem = REST_IDEM_NONE;
    rest_reply_send(r);
}

/*
 * The body to record: the reply's, with every field the handler marked
 * secret (rest_reply_secret_field) set to null. Caller frees; NULL when the
 * reply has no body.
 */
static char *recorded_body(const struct rest_request *r)
{
    if (!r->reply.body)
        return NULL;
    if (!r->n_secret_fields)
        return xstrdup(r->reply.body);
    cJSON *o = cJSON_Parse(r->reply.body);
    if (!cJSON_IsObject(o)) {
        /* a secret was announced but the body is not the object it belongs to: keep nothing */
        cJSON_Delete(o);
        return xstrdup("null");
    }
    for (size_t i = 0; i < r->n_secret_fields; i++)
        if (cJSON_HasObjectItem(o, r->secret_fields[i]))
            cJSON_ReplaceItemInObjectCaseSensitive(o, r->secret_fields[i], cJSON_CreateNull());
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/*
 * r's handler replied (r->finish): records (or, for a reply that says
 * nothing was done, releases) the claim; then the reply is sent.
 */
static void finish(struct rest_request *r)
{
    if (nothing_done(r)) {
        release(r);
        rest_reply_send(r);
        return;
    }
    cJSON *h = cJSON_CreateObject();
    for (size_t i = 0; i < r->n_handler_hdrs; i++)
        cJSON_AddStringToObject(h, r->reply.headers[i].name, r->reply.headers[i].value);
    char *headers = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    char id[24], status[16];
    key_id_text(r, id);
    snprintf(status, sizeof status, "%d", r->reply.status);
    char *body = recorded_body(r);
    const char *params[] = { id, r->hdr[REST_H_IDEMPOTENCY_KEY], status, body, headers };
    r->idem = REST_IDEM_RECORDING;
    r->state = REST_REQ_RECORDING;
    rest_fw_sql(r, record_sql, 5, params, false, recorded);
    free(body);
    free(headers);
}

void rest_idem_cleanup(void)
{
    rest_fw_sql(NULL, cleanup_sql, 0, NULL, true, NULL);
}
