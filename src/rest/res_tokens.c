/*
 * /v1/tokens: the RFID / app tokens (idTags) OCPP Authorize and
 * StartTransaction check. They read the tokens table on every request, so a
 * change here applies to the next authorization. idTags are CiString20:
 * case-insensitive, an exact match preferred (as ocppgw_id_tag_info does),
 * and a tag differing only in case from an existing one is a conflict.
 *
 * POST /v1/tokens/{idTag}/erase (admin) erases a person's tag: one call of
 * ocppgw_erase_id_tag (sql/025) on the REST store, one transaction, deletes
 * the token and puts "erased:" + 16 hex of a salted HMAC in every row that
 * named the tag (any case). Its audit row and its answer name only the hash;
 * the Idempotency-Key record keeps the answer (the hash) and a SHA-256
 * fingerprint of the request, never the tag itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ocpp_msg.h"
#include "rest.h"
#include "rest_body.h"
#include "rest_query.h"
#include "rest_res.h"
#include "store_job.h"

static const struct rest_col token_cols[] = {
    { "idTag", "t.id_tag", REST_COL_STR, NULL },
    { "status", "t.status", REST_COL_STR, NULL },
    { "expiryDate", "t.expiry_date", REST_COL_TIME, NULL },
    { "parentIdTag", "t.parent_id_tag", REST_COL_STR, NULL },
    { "name", "t.name", REST_COL_STR, NULL },
    { "priority", "t.priority", REST_COL_INT, NULL },
    { "createdAt", "t.created_at", REST_COL_TIME, NULL },
    { "updatedAt", "t.updated_at", REST_COL_TIME, NULL },
};
#define NCOLS (sizeof token_cols / sizeof token_cols[0])

static const char *const listed_statuses[] = { "Accepted", "Blocked", "Expired", "Invalid", NULL };
static const char *const token_statuses[] = { "Accepted", "Blocked", "Expired", NULL };

static const struct rest_sort token_sorts[] = {
    { "idTag", "t.id_tag", NULL, NULL },
    { "name", "t.name", NULL, NULL },
    { "expiryDate", "t.expiry_date", NULL, NULL },
    { "createdAt", "t.created_at", NULL, NULL },
};

/* idTags compare as the resource's path does: whole value, any case (tokens_id_tag_lower_idx) */
static const struct rest_filter token_filters[] = {
    { "idTag", REST_F_TEXT, "lower(t.id_tag) = lower($?)", OCPP_IDTAG_MAX, NULL, 0, 0, NULL },
    { "status", REST_F_ENUM, "t.status = $?", 0, listed_statuses, 0, 0, NULL },
    { "parentIdTag", REST_F_TEXT, "lower(t.parent_id_tag) = lower($?)", OCPP_IDTAG_MAX, NULL, 0, 0, NULL },
    { "name", REST_F_TEXT, "t.name = $?", 128, NULL, 0, 0, NULL },
    { "search", REST_F_SEARCH, "(t.id_tag ILIKE $? OR t.name ILIKE $?)", 100, NULL, 0, 0, NULL },
};

static const struct rest_list_spec tokens_spec = {
    .name = "tokens",
    .paging = REST_PAGING_OFFSET,
    .kind = REST_LIST_TOKENS,
    .cols = token_cols,
    .ncols = NCOLS,
    .from = "tokens t",
    .id = "t.id_tag",
    .sorts = token_sorts,
    .nsorts = sizeof token_sorts / sizeof token_sorts[0],
    .desc = false,
    .filters = token_filters,
    .nfilters = sizeof token_filters / sizeof token_filters[0],
};
const struct rest_list_spec *const res_tokens_spec = &tokens_spec;

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

static const struct rest_field token_fields[] = {
    { "idTag", REST_FT_STRING, REST_FF_REQUIRED | REST_FF_IMMUTABLE, "id_tag", NULL, 1, OCPP_IDTAG_MAX,
      0, 0, NULL, printable, "must not hold control characters" },
    { "status", REST_FT_ENUM, 0, "status", NULL, 0, 0, 0, 0, token_statuses, NULL, NULL },
    { "expiryDate", REST_FT_TIME, REST_FF_NULLABLE, "expiry_date", "ocppgw_ts($?::bigint)", 0, 0, 0, 0,
      NULL, NULL, NULL },
    { "parentIdTag", REST_FT_STRING, REST_FF_NULLABLE, "parent_id_tag", NULL, 1, OCPP_IDTAG_MAX, 0, 0,
      NULL, printable, "must not hold control characters" },
    { "name", REST_FT_STRING, REST_FF_NULLABLE, "name", NULL, 1, 128, 0, 0, NULL, NULL, NULL },
    /* load management, strategy "priority": higher first (sql/020) */
    { "priority", REST_FT_INT, 0, "priority", "$?::integer", -1000, 1000, 0, 0, NULL, NULL, NULL },
};
#define NFIELDS (sizeof token_fields / sizeof token_fields[0])

/* The stored tag a path {idTag} names: exact match first, else any case. */
#define TOKEN_BY_PARAM \
    "(SELECT x.id_tag FROM tokens x WHERE lower(x.id_tag) = lower($?) ORDER BY x.id_tag = $? DESC LIMIT 1)"

/* ---- GET /v1/tokens ---- */

static void list_done(struct rest_request *r, struct store_job *job)
{
    res_list_finish(r, job, &tokens_spec, NULL);
}

void res_tokens_list(struct rest_request *r)
{
    res_list_start(r, &tokens_spec, NULL, list_done);
}

/* ---- GET /v1/tokens/{idTag} ---- */

static const struct res_row token_row = {
    token_cols, NCOLS, "token", "idTag", "/v1/tokens/", NULL, NULL,
};

static void get_done(struct rest_request *r, struct store_job *job)
{
    res_reply_row(r, job, &token_row, rest_param(r, "idTag"), 200);
}

void res_token_get(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *tag = rest_param(r, "idTag");
    rest_sql(r, res_select_once(&sql, token_cols, NCOLS,
                                " FROM tokens t WHERE lower(t.id_tag) = lower($1)"
                                " ORDER BY t.id_tag = $1 DESC LIMIT 1"),
             1, &tag, get_done);
}

/* ---- POST /v1/tokens ---- */

static void create_done(struct rest_request *r, struct store_job *job)
{
    const char *tag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rest_body(r), "idTag"));
    if (res_write_done(r, job, "token.create", "token", "idTag", tag, REST_ERR_CONFLICT))
        res_reply_row(r, job, &token_row, tag, 201);
}

void res_token_create(struct rest_request *r)
{
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, token_fields, NFIELDS, true, "token.create", NULL, &body))
        return;
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_sqlb_add(&b, "WITH t AS (INSERT INTO tokens ");
    rest_body_columns(&body, &b);
    rest_sqlb_add(&b, " SELECT ");
    rest_body_values(&body, &b);
    rest_sqlb_frag(&b, " WHERE NOT EXISTS (SELECT 1 FROM tokens x WHERE lower(x.id_tag) = lower($?))",
                   rest_sqlb_param(&b, rest_body_find(&body, "idTag")->text));
    rest_sqlb_add(&b, " ON CONFLICT DO NOTHING RETURNING *) ");
    res_select(&b, token_cols, NCOLS, " FROM t");
    res_sql_run(r, &b, create_done);
    rest_body_free(&body);
}

/* ---- PATCH /v1/tokens/{idTag} ---- */

static void update_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "token.update", "token", "idTag", rest_param(r, "idTag"),
                       REST_ERR_NOT_FOUND))
        res_reply_row(r, job, &token_row, rest_param(r, "idTag"), 200);
}

void res_token_update(struct rest_request *r)
{
    const char *tag = rest_param(r, "idTag");
    struct rest_body body;
    if (res_unknown_params(r) || !res_body(r, token_fields, NFIELDS, false, "token.update", tag, &body))
        return;
    struct rest_sqlb b;
    rest_sqlb_init(&b);
    rest_body_update(&body, &b, "t", "tokens");
    rest_sqlb_add(&b, "updated_at = now() WHERE id_tag = ");
    rest_sqlb_frag(&b, TOKEN_BY_PARAM, rest_sqlb_param(&b, tag));
    rest_sqlb_add(&b, " RETURNING *) ");
    res_select(&b, token_cols, NCOLS, " FROM t");
    res_sql_run(r, &b, update_done);
    rest_body_free(&body);
}

/* ---- DELETE /v1/tokens/{idTag} (sessions keep the tag as text) ---- */

static void delete_done(struct rest_request *r, struct store_job *job)
{
    if (res_write_done(r, job, "token.delete", "token", "idTag", rest_param(r, "idTag"),
                       REST_ERR_NOT_FOUND))
        rest_reply_json(r, 204, NULL);
}

void res_token_delete(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    if (!sql)
        sql = rest_sql_intern("DELETE FROM tokens WHERE id_tag = (SELECT x.id_tag FROM tokens x"
                              " WHERE lower(x.id_tag) = lower($1) ORDER BY x.id_tag = $1 DESC LIMIT 1)"
                              " RETURNING id_tag");
    const char *tag = rest_param(r, "idTag");
    rest_sql(r, sql, 1, &tag, delete_done);
}

/* ---- POST /v1/tokens/{idTag}/erase ---- */

static void erase_done(struct rest_request *r, struct store_job *job)
{
    const char *text = job->status == STORE_OK ? rest_value(job, 0, 0) : NULL;
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "idTag"));
    if (!hash) {
        /* the audit row must not name the tag: no resource */
        rest_audit(r, "token.erase", NULL, NULL, "error");
        cJSON_Delete(doc);
        if (job->status != STORE_OK)
            rest_reply_store_error(r, job);
        else
            rest_reply_error(r, REST_ERR_INTERNAL, "the erasure answered nothing", NULL);
        return;
    }
    cJSON *detail = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(detail, "rows", cJSON_GetObjectItemCaseSensitive(doc, "rows"));
    char *dtext = cJSON_PrintUnformatted(detail);
    cJSON_Delete(detail);
    rest_audit(r, "token.erase", hash, dtext, "ok");
    cJSON_free(dtext);
    rest_reply_json(r, 200, doc);
}

void res_token_erase(struct rest_request *r)
{
    static const char *sql;
    if (res_unknown_params(r))
        return;
    const char *tag = rest_param(r, "idTag");
    size_t n = tag ? strlen(tag) : 0;
    if (n < 1 || n > OCPP_IDTAG_MAX || !printable(tag)) {
        /* the message does not repeat the tag: error answers may be logged */
        rest_reply_error(r, REST_ERR_UNPROCESSABLE, "idTag must be 1 to 20 characters without control characters",
                         NULL);
        return;
    }
    if (!sql)
        sql = rest_sql_intern("SELECT ocppgw_erase_id_tag($1)::text");
    rest_sql(r, sql, 1, &tag, erase_done);
}
