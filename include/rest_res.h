/*
 * The REST resources (src/rest/res_*.c): the handlers of the route table
 * (src/rest/routes.c) and the glue they share (res_common.c) between the
 * framework (include/rest.h) and the pure collection/body code
 * (include/rest_query.h, include/rest_body.h).
 *
 * Every handler answers with one SQL statement on the REST store (rest_sql)
 * and replies from its completion; writes are audited (rest_audit).
 */
#ifndef OCPPGW_REST_RES_H
#define OCPPGW_REST_RES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest.h"
#include "rest_export.h"

struct cJSON;
struct store_job;
struct rest_col;
struct rest_query_source;
struct rest_list_spec;
struct rest_param_error;

/* ---- handlers (route table) ---- */
void res_openapi_get(struct rest_request *r);
void res_chargers_list(struct rest_request *r);
void res_charger_create(struct rest_request *r);
void res_charger_get(struct rest_request *r);
void res_charger_update(struct rest_request *r);
void res_charger_power_limit_put(struct rest_request *r); /* res_power_limit.c */
void res_charger_delete(struct rest_request *r);
void res_charger_sessions(struct rest_request *r);
void res_charger_status_history(struct rest_request *r);
void res_charger_security_events(struct rest_request *r);
void res_sessions_list(struct rest_request *r);
void res_session_get(struct rest_request *r);
void res_session_meter_values(struct rest_request *r);
/* GET /v1/sessions/{id}/receipt (res_receipts.c): JSON, or HTML when the Accept header prefers it */
void res_session_receipt(struct rest_request *r);
void res_tokens_list(struct rest_request *r);
void res_token_create(struct rest_request *r);
void res_token_get(struct rest_request *r);
void res_token_update(struct rest_request *r);
void res_token_delete(struct rest_request *r);
/* POST /v1/tokens/{idTag}/erase (admin): the tag replaced by its salted hash everywhere (sql/025). */
void res_token_erase(struct rest_request *r);
void res_api_keys_list(struct rest_request *r);
void res_api_key_create(struct rest_request *r);
void res_api_key_revoke(struct rest_request *r);
void res_audit_list(struct rest_request *r);
/* commands (res_commands.c; the stored ones in res_command_list.c) */
void res_command_post(struct rest_request *r);
void res_remote_start(struct rest_request *r);
void res_session_stop(struct rest_request *r);
void res_configuration_get(struct rest_request *r);
void res_configuration_patch(struct rest_request *r);
void res_command_get(struct rest_request *r);
/* sites (res_sites.c); the chargers of one site in res_chargers.c */
void res_sites_list(struct rest_request *r);
void res_site_create(struct rest_request *r);
void res_site_get(struct rest_request *r);
void res_site_load_get(struct rest_request *r);
void res_site_update(struct rest_request *r);
void res_site_delete(struct rest_request *r);
void res_site_chargers(struct rest_request *r);
/* a site's carbon intensity series (res_carbon.c) */
void res_site_carbon_get(struct rest_request *r);
void res_site_carbon_put(struct rest_request *r);
/* tariffs, their assignment and the effective tariff of a charger (res_tariffs.c) */
void res_tariffs_list(struct rest_request *r);
void res_tariff_create(struct rest_request *r);
void res_tariff_get(struct rest_request *r);
void res_tariff_update(struct rest_request *r);
void res_tariff_delete(struct rest_request *r);
void res_site_tariff_put(struct rest_request *r);
void res_charger_tariff_put(struct rest_request *r);
void res_token_tariff_put(struct rest_request *r);
void res_charger_tariff_get(struct rest_request *r);
/* POST /v1/chargers/{id}/security-profile (res_security_profile.c) */
void res_security_profile_post(struct rest_request *r);
/* GET /v1/events/stream (res_event_stream.c) */
void res_event_stream(struct rest_request *r);
/* GET /v1/reports/energy and /v1/reports/utilization (res_reports.c) */
void res_report_energy(struct rest_request *r);
void res_report_utilization(struct rest_request *r);

/*
 * The event stream's process-wide part (one reader and ring for every
 * stream), driven by the framework (src/rest/framework.c): init with
 * events.stream_buffer (bytes per client) and events.stream_keepalive
 * (seconds); a NOTIFY ocppgw_events seq; the tick (keepalives, replay pages,
 * retries, the reader's poll); shutdown after every request was freed.
 */
void res_event_stream_init(size_t buffer, int keepalive_s);
void res_event_stream_notified(int64_t seq);
void res_event_stream_tick(bool store_ready);
void res_event_stream_shutdown(void);
/* webhook endpoints, their deliveries, redelivery of an event (res_webhooks.c) */
void res_webhook_endpoints_list(struct rest_request *r);
void res_webhook_endpoint_create(struct rest_request *r);
void res_webhook_endpoint_get(struct rest_request *r);
void res_webhook_endpoint_update(struct rest_request *r);
void res_webhook_endpoint_delete(struct rest_request *r);
void res_webhook_endpoint_rotate(struct rest_request *r);
void res_webhook_endpoint_test(struct rest_request *r);
void res_webhook_deliveries_list(struct rest_request *r);
void res_event_redeliver(struct rest_request *r);

/*
 * The collections as data (one struct rest_list_spec per list route, in the
 * res_*.c that serves it), for the tests that check their filters against
 * the contract and docs/openapi.json.
 */
extern const struct rest_list_spec *const res_chargers_spec;         /* GET /v1/chargers */
extern const struct rest_list_spec *const res_status_history_spec;   /* GET /v1/chargers/{id}/status-history */
extern const struct rest_list_spec *const res_security_events_spec;  /* GET /v1/chargers/{id}/security-events */
extern const struct rest_list_spec *const res_charger_sessions_spec; /* GET /v1/chargers/{id}/sessions */
extern const struct rest_list_spec *const res_charger_commands_spec; /* GET /v1/chargers/{id}/commands */
extern const struct rest_list_spec *const res_sessions_spec;         /* GET /v1/sessions */
extern const struct rest_list_spec *const res_meter_values_spec;     /* GET /v1/sessions/{id}/meter-values */
extern const struct rest_list_spec *const res_tokens_spec;           /* GET /v1/tokens */
extern const struct rest_list_spec *const res_api_keys_spec;         /* GET /v1/api-keys */
extern const struct rest_list_spec *const res_audit_spec;            /* GET /v1/audit-log */
extern const struct rest_list_spec *const res_webhook_endpoints_spec;  /* GET /v1/webhook-endpoints */
extern const struct rest_list_spec *const res_webhook_deliveries_spec; /* GET /v1/webhook-endpoints/{id}/deliveries */
extern const struct rest_list_spec *const res_sites_spec;            /* GET /v1/sites */
extern const struct rest_list_spec *const res_site_chargers_spec;    /* GET /v1/sites/{id}/chargers */
extern const struct rest_list_spec *const res_tariffs_spec;          /* GET /v1/tariffs */

/*
 * One session as GET /v1/sessions/{id} answers it: the statement ($1 = the
 * session id; its columns, then the charger's site) and how its row is
 * answered.
 */
const char *res_session_select(void);
/* The {id} of a session route: NULL after replying 400 (unknown parameter) or 404 (not an id). */
const char *res_session_param(struct rest_request *r);
extern const struct res_row *const res_session_row;

/* ---- exports: CSV and NDJSON (res_export.c; the formatting in include/rest_export.h) ---- */

/*
 * The export r asks for with its Accept header: REST_EXPORT_CSV
 * (text/csv), REST_EXPORT_NDJSON (application/x-ndjson), or
 * REST_EXPORT_NONE (JSON: no header, wildcards, application/json; any
 * method but GET).
 */
enum rest_export_format res_export_wanted(const struct rest_request *r);
/*
 * Answers r with every row of sql (its fields exactly cols, in order; ncols
 * of them; params copied, NULL = SQL NULL) as format f, streamed: the
 * statement runs through a cursor on an export thread with its own
 * connection, the rows formatted there, the body sent as the client reads
 * (bounded memory, whatever the size). Validate the request first: the
 * answer is a JSON 503 when too many exports run or the database is down,
 * 500 when the statement fails at once; a failure once rows went out cuts
 * the connection. cols copied (their texts borrowed: static tables).
 * REST_COL_LIVE columns show as null: select what the table knows instead.
 */
void res_export_start(struct rest_request *r, enum rest_export_format f, const struct rest_col *cols,
                      size_t ncols, const char *sql, int nparams, const char *const *params);
struct res_export_opts {
    const struct rest_export_flat *flat;    /* CSV: object columns flattened with dots ({NULL} ends) */
    const struct store_rows_hook *hook;     /* run over each batch on the export thread; col indexes cols */
    const char *filename;                   /* without extension; NULL: the path's last segment */
};
void res_export_start_opts(struct rest_request *r, enum rest_export_format f, const struct rest_col *cols,
                           size_t ncols, const char *sql, int nparams, const char *const *params,
                           const struct res_export_opts *opts);
/*
 * The export of a validated collection request (perPage and page
 * ignored): its filters, sort, cursor if given and the key's restriction;
 * a collection under a parent checks it first (404 / 403 as a page does).
 * hook as res_list_start_hook's, col indexing spec->cols.
 */
struct rest_list_req;
void res_export_list(struct rest_request *r, enum rest_export_format f, const struct rest_list_req *req,
                     const char *scope_value, const struct store_rows_hook *hook);
/* Moves what the export threads made into their streams (rest_on_exports, loop thread). */
void res_exports_pump(void);
/* Frees what exports still hold (rest_shutdown, after the requests). */
void res_export_shutdown(void);

/* ---- shared glue (res_common.c) ---- */

/* Parent row of a charger's collections (spec->parent): 404 when the charger is gone. */
#define CHARGER_PARENT "SELECT c.id, c.site_id FROM chargers c WHERE c.id = $?"
/* Parent row of a site's collections: 404 when the site is gone. */
#define SITE_PARENT "SELECT NULL::text, s.id FROM sites s WHERE s.id = $?"

/* The 422 reason of a timeZone field (a charger's, a site's), checked with tz_exists. */
#define RES_TIME_ZONE_RULE "must be an IANA time zone name of the tz database, such as Europe/Berlin"

/* A foreign key's refusal: an id that names nothing, or a row still named. */
#define SQLSTATE_FOREIGN_KEY_VIOLATION "23503"
/* True if job's statement failed with that SQLSTATE. */
bool res_failed_with(const struct store_job *job, const char *sqlstate);

/* Replies 400 BAD_REQUEST for a rejected query parameter (context names it). */
void res_param_error(struct rest_request *r, const struct rest_param_error *err);

/* The request's query string as the pure parsers read it (include/rest_query.h). */
struct rest_query_source res_query_source(struct rest_request *r);

/* Replies 400 naming the first query parameter no handler read; true if it did. */
bool res_unknown_params(struct rest_request *r);

/*
 * The lone query parameter f of a route that is no collection (DELETE
 * /v1/sites/{id}?force=true), described as a filter (its cond unused): its
 * text into *out (caller frees; f's default, or NULL, when absent); false
 * after replying 400 naming it.
 */
struct rest_filter;
bool res_param(struct rest_request *r, const struct rest_filter *f, char **out);

/*
 * The request's body validated against fields (create: required ones must be
 * there; update: immutable ones refused). False after replying 400 (no JSON
 * object) or 422 naming every bad field (and auditing `action` as invalid).
 */
struct rest_field;
struct rest_body;
bool res_body(struct rest_request *r, const struct rest_field *fields, size_t n, bool create,
              const char *action, const char *resource, struct rest_body *out);
/*
 * Replies 422 UNPROCESSABLE_ENTITY with ctx ({"field": "reason", ...}; takes
 * ownership) as context and every field named in the message, and audits
 * action on resource as invalid: for a handler that checks more than the
 * field table describes (a tariff's elements).
 */
void res_invalid(struct rest_request *r, const char *action, const char *resource, struct cJSON *ctx);

/*
 * Collection request: validates the query (400 naming the parameter),
 * assembles the page statement with the key's restriction and parks the
 * request on it. scope_value: the path parameter of spec->scope/parent.
 */
void res_list_start(struct rest_request *r, const struct rest_list_spec *spec,
                    const char *scope_value, rest_sql_done done);
/* The same, with hook run by the REST store thread over the page's rows; hook->col indexes spec->cols. */
struct store_rows_hook;
void res_list_start_hook(struct rest_request *r, const struct rest_list_spec *spec, const char *scope_value,
                         const struct store_rows_hook *hook, rest_sql_done done);
/*
 * Its completion: the {"data", "meta"} answer. For a collection under a
 * parent, 404 when the parent is missing (message names what) and 403 when
 * it lies outside the key's chargers.
 */
void res_list_finish(struct rest_request *r, struct store_job *job,
                     const struct rest_list_spec *spec, const char *parent_what);
/* The same, with fix(r, page) run on the {"data", "meta"} answer before it goes. */
void res_list_finish_fix(struct rest_request *r, struct store_job *job, const struct rest_list_spec *spec,
                         const char *parent_what, void (*fix)(struct rest_request *r, struct cJSON *page));

/*
 * "SELECT <columns> <tail>" appended to b; tail goes on from the column
 * list (" FROM chargers c WHERE c.id = $1", ", extra FROM t").
 */
struct rest_sqlb;
void res_select(struct rest_sqlb *b, const struct rest_col *cols, size_t n, const char *tail);
/* The same for a fixed statement: built and interned once into *slot. */
const char *res_select_once(const char **slot, const struct rest_col *cols, size_t n,
                            const char *tail);

/*
 * Parks r on the statement in b (its text handed to the store, parameters
 * copied, a password parameter hashed off the loop with
 * ocpp.password_iterations) and frees b.
 */
void res_sql_run(struct rest_request *r, struct rest_sqlb *b, rest_sql_done done);


/* How one resource row is answered (GET, and the row a write returns). */
struct res_row {
    const struct rest_col *cols;
    size_t ncols;
    const char *what;               /* "charger": for 404 / 403 messages */
    const char *ctx_key;            /* "chargerId": their context key */
    const char *location;           /* "/v1/chargers/": a 201 adds Location + the first column */
    /* the row's charger and site for the key check (charger_field NULL: none); site_field NULL:
       the statement selects the site right after the columns */
    const char *charger_field, *site_field;
};
/*
 * The first row of job with that status: the store error (503/500), 404
 * when there is no row, 403 when the row's charger lies outside the key's.
 * id names the resource in errors.
 */
void res_reply_row(struct rest_request *r, const struct store_job *job, const struct res_row *how,
                   const char *id, int status);

/* Index of the column named name (aborts if there is none: a table bug). */
int res_col(const struct rest_col *cols, size_t n, const char *name);
/* True if the request's key may see the charger (charger list or site list). */
bool res_key_sees(struct rest_request *r, const char *charger_id, const char *site_id);

/* 404 {"<what>Id": id} with "<what> '<id>' not found". */
void res_not_found(struct rest_request *r, const char *what, const char *ctx_key, const char *id);
/* 403: the resource lies outside the key's charger set. */
void res_forbidden(struct rest_request *r, const char *what, const char *ctx_key, const char *id);
/*
 * The common start of a write's completion. A failed statement (409 for a
 * unique violation, 422 for what validation could not foresee, else 503 /
 * 500) or no row back (`empty`: REST_ERR_NOT_FOUND "<what> '<id>' not
 * found", REST_ERR_CONFLICT "... already exists", context {ctx_key: id}) is
 * audited and answered here: false. Otherwise the write is audited "ok" and
 * the caller answers: true.
 */
bool res_write_done(struct rest_request *r, const struct store_job *job, const char *action,
                    const char *what, const char *ctx_key, const char *id, enum rest_err empty);
/*
 * A chargers row (alias c) as the core's registry needs it, after its id:
 * the columns res_charger_committed() reads from `first` on.
 */
#define RES_CHARGER_REGISTRY_COLUMNS                                                           \
    "coalesce(c.auth_hash, ''), c.security_profile, c.registration_status, c.registry_version," \
    " coalesce(c.site_id, ''), coalesce(c.max_available_current::text, '')," \
    " coalesce(c.power_limit::text, '')"
/*
 * The charger row a write just committed (row 0: its id in column 0,
 * RES_CHARGER_REGISTRY_COLUMNS from column first) to this process's core
 * registry, before the answer (rest_charger_committed).
 */
void res_charger_committed(struct rest_request *r, const struct store_job *job, int first);

/* True if s is a positive bigint id in decimal (session and API key ids); else it names nothing. */
bool res_id_ok(const char *s);

/*
 * Audit of a write: detail {"fields": [...]} of the body keys given (never
 * their values: secrets), result "ok", "invalid", "not_found", "conflict",
 * "error".
 */
void res_audit(struct rest_request *r, const char *action, const char *resource,
               const char *result);

/* Percent-encodes a path segment into out (cap bytes). */
void res_path_escape(const char *s, char *out, size_t cap);
/* Adds "Location: <prefix><escaped id>". */
void res_location(struct rest_request *r, const char *prefix, const char *id);

#endif
