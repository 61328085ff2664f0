/*
 * The REST API framework (src/rest/): what a resource handler sees.
 *
 * A request arrives in the transport (src/glue/http_lws.c, through
 * include/rest_transport.h), which collects method, path, query, the headers
 * we use and the body (JSON, up to rest.max_body, else 413), then
 * rest_dispatch() runs the checks once, in order, for every request (like
 * the OCPP dispatcher):
 *   route (404 / 405 + Allow) -> Api-Version (400) -> credentials (401) ->
 *   rate limit (429) -> scope (403) -> charger restriction on {id} (403) ->
 *   body JSON (400) -> Idempotency-Key replay (POST) -> handler.
 * A handler answers at once with rest_reply_*() or parks the request on a
 * database query (rest_sql) and answers from the completion callback. A
 * request whose client went away meanwhile is dropped safely: handlers never
 * see a dangling request (the framework keeps requests by id).
 *
 * Errors: handlers use enum rest_err; only src/rest/errors.c maps it to the
 * HTTP status, errorCode and readableMessage of rest-api.md.
 *
 * What a handler needs of the process comes through the request, never a
 * global: the settings below (rest_settings) and the core
 * (include/rest_live.h), both given to rest_init by whoever starts the
 * framework.
 */
#ifndef OCPPGW_REST_H
#define OCPPGW_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct store_job;
struct rest_request;

enum rest_method {
    REST_GET, REST_POST, REST_PUT, REST_PATCH, REST_DELETE, REST_HEAD, REST_OPTIONS,
    REST_METHOD_COUNT
};
const char *rest_method_name(enum rest_method m);

enum rest_err {
    REST_ERR_BAD_REQUEST,               /* 400 BAD_REQUEST */
    REST_ERR_UNAUTHORIZED,              /* 401 UNAUTHORIZED: no credentials */
    REST_ERR_INVALID_ACCESS_TOKEN,      /* 401 INVALID_ACCESS_TOKEN: unknown, revoked, expired */
    REST_ERR_FORBIDDEN,                 /* 403 ACCESS_FORBIDDEN */
    REST_ERR_NOT_FOUND,                 /* 404 RESOURCE_NOT_FOUND */
    REST_ERR_METHOD_NOT_ALLOWED,        /* 405 METHOD_NOT_ALLOWED */
    REST_ERR_CHARGER_OFFLINE,           /* 409 CHARGING_CHARGEPOINT_OFFLINE */
    REST_ERR_CHARGER_NOT_AVAILABLE,     /* 409 CHARGING_CHARGEPOINT_NOT_AVAILABLE */
    REST_ERR_IDEMPOTENCY_KEY_REUSED,    /* 409 IDEMPOTENCY_KEY_REUSED */
    REST_ERR_CONFLICT,                  /* 409 CONFLICT (e.g. id already exists) */
    REST_ERR_RESOURCE_IN_USE,           /* 409 RESOURCE_IN_USE: still referenced (a site with chargers) */
    REST_ERR_LENGTH_REQUIRED,           /* 411 LENGTH_REQUIRED (chunked bodies) */
    REST_ERR_PAYLOAD_TOO_LARGE,         /* 413 PAYLOAD_TOO_LARGE */
    REST_ERR_UNSUPPORTED_MEDIA_TYPE,    /* 415 UNSUPPORTED_MEDIA_TYPE */
    REST_ERR_UNPROCESSABLE,             /* 422 UNPROCESSABLE_ENTITY */
    REST_ERR_FAILED_TO_START,           /* 422 CHARGING_FAILED_TO_START */
    REST_ERR_FAILED_TO_STOP,            /* 422 CHARGING_FAILED_TO_STOP */
    REST_ERR_PROFILE_NOT_UPGRADE,       /* 409 SECURITY_PROFILE_NOT_UPGRADE: same or lower profile */
    REST_ERR_PROFILE_PREREQUISITE,      /* 409 SECURITY_PROFILE_PREREQUISITE: key, TLS or client CA missing */
    REST_ERR_PROFILE_REJECTED,          /* 422 SECURITY_PROFILE_REJECTED: the charger refused it */
    REST_ERR_RATE_LIMITED,              /* 429 RATE_LIMITED */
    REST_ERR_INTERNAL,                  /* 500 INTERNAL_SERVER_ERROR */
    REST_ERR_BAD_GATEWAY,               /* 502 BAD_GATEWAY */
    REST_ERR_UNAVAILABLE,               /* 503 SERVICE_UNAVAILABLE */
    REST_ERR_CHARGER_TIMEOUT,           /* 504 CHARGER_TIMEOUT */
    REST_ERR_QUERY_TIMEOUT,             /* 503 QUERY_TIMEOUT: past rest.statement_timeout */
    REST_ERR_SHUTTING_DOWN,             /* 503 SERVICE_UNAVAILABLE: stopping, the command not sent */
    REST_ERR_CUT_BY_SHUTDOWN,           /* 502 BAD_GATEWAY: stopped after the CALL went out */
    REST_ERR_CUT_BY_DISCONNECT,         /* 502 BAD_GATEWAY: charger gone after the CALL went out */
    REST_ERR_RECEIPT_NOT_AVAILABLE,     /* 409 RECEIPT_NOT_AVAILABLE: active, cost pending, or no cost */
    REST_ERR_COUNT
};
int rest_err_status(enum rest_err e);
const char *rest_err_code(enum rest_err e);

/* ---- routes ---- */

typedef void (*rest_handler)(struct rest_request *r);

enum rest_route_flags {
    REST_NO_AUTH = 1 << 0,              /* public (openapi.json) */
    REST_CHARGER_ID = 1 << 1,           /* path {id} is a charger id: key restriction applies */
    REST_JSON_BODY = 1 << 2,            /* expects a JSON object body */
    REST_SITE_ID = 1 << 3,              /* path {id} is a site id: key restriction applies */
};

struct rest_route {
    enum rest_method method;
    const char *pattern;                /* "/v1/chargers/{id}/sessions"; {name} matches one segment */
    rest_handler handler;
    const char *scope;                  /* required scope ("admin" passes every scope) */
    unsigned flags;
};

/* Every route, for the router and for the OpenAPI check. */
extern const struct rest_route rest_routes[];
extern const size_t rest_routes_count;

/* ---- the authenticated key ---- */

struct rest_key {
    int64_t id;
    char name[128];
    char **scopes;                      /* NULL-terminated */
    char **charger_ids;                 /* NULL = all chargers */
    char **site_ids;                    /* NULL = all sites */
    int64_t expires_ms;                 /* 0 = never */
};
/*
 * Every scope a key can hold, NULL-terminated: the one list that POST
 * /v1/api-keys and `ocppgw apikey create` check against and name in their
 * errors ("admin" holds them all).
 */
extern const char *const rest_scopes[];
/* True if the key has that scope (or admin). */
bool rest_key_has_scope(const struct rest_key *k, const char *scope);
/* True if the key may see that charger (no restriction, or listed). */
bool rest_key_allows_charger(const struct rest_key *k, const char *charger_id);

/* ---- reading the request (all borrowed, valid until the reply) ---- */

enum rest_method rest_method(const struct rest_request *r);
const char *rest_path(const struct rest_request *r);
/* Path parameter by name ({id}), percent-decoded; NULL if none. */
const char *rest_param(const struct rest_request *r, const char *name);
/* First value of a query parameter (decoded), NULL if absent. */
const char *rest_query(const struct rest_request *r, const char *name);
/*
 * Every value of a repeated or comma-separated list parameter: both
 * "chargerIds[]=a&chargerIds[]=b" and "chargerIds=a,b" give {a, b}. Returns
 * the count (at most max).
 */
size_t rest_query_list(const struct rest_request *r, const char *name, const char **out, size_t max);
/* Query parameter names that no handler read (for 400 on unknown parameters). */
const char *rest_query_unread(const struct rest_request *r);
/* Request header (case-insensitive name without ':'), NULL if absent. */
const char *rest_header(const struct rest_request *r, const char *name);
/* The parsed JSON body, or NULL (no body). */
const struct cJSON *rest_body(const struct rest_request *r);
const struct rest_key *rest_key(const struct rest_request *r);
const char *rest_request_id(const struct rest_request *r);
/* The Api-Version revision in force (the request's or the newest). */
const char *rest_api_version(const struct rest_request *r);

/*
 * The quality (0 to 1) an Accept header value gives a media type such as
 * "text/html": the q of the most specific range that matches it (exact,
 * then "text/any", then "any/any"), 0 when none does; 1 when accept is NULL or
 * blank (no preference). Pure.
 */
double rest_accept_q(const char *accept, const char *media);

/* ---- answering: exactly one reply per request ---- */

/* 2xx/any status with a JSON body (takes ownership of body; NULL = no body). */
void rest_reply_json(struct rest_request *r, int status, struct cJSON *body);
/*
 * The error body of rest-api.md: {status, message, readableMessage,
 * errorCode, context}. context is taken (NULL = {}); message is for
 * developers and may name the offending input.
 */
void rest_reply_error(struct rest_request *r, enum rest_err e, const char *message,
                      struct cJSON *context);
/* Adds a response header ("Location", "/v1/chargers/CP-1") before the reply. */
void rest_add_header(struct rest_request *r, const char *name, const char *value);
/*
 * One-time secrets in a reply (a new API key's "secret", a generated
 * charger "authorizationKey"): marks `field`, a top-level member of the JSON
 * body this request is about to reply with, as a secret. The client gets
 * it in this reply only; the Idempotency-Key record stores the member as
 * null, so a replay answers the same resource with `"field": null` (and
 * `Idempotent-Replayed: true`). Call it before rest_reply_json, once per
 * field (at most REST_SECRET_FIELDS_MAX). field is borrowed for the
 * request's life: pass a string literal. Secrets themselves never go to the
 * database as SQL parameters: send only their hash.
 */
#define REST_SECRET_FIELDS_MAX 4
void rest_reply_secret_field(struct rest_request *r, const char *field);
/*
 * A reply whose body is not built with cJSON (GET /v1/openapi.json): body
 * copied, len bytes, with that Content-Type.
 */
void rest_reply_text(struct rest_request *r, int status, const char *content_type,
                     const char *body, size_t len);

/*
 * Handles for callbacks that outlive the event that made them (core_command_submit,
 * timers): keep the handle, never the pointer. lookup returns NULL once the
 * client has gone (drop the result then); a request holding an idempotency
 * claim stays findable until it has replied, so its outcome is recorded.
 */
uint64_t rest_request_handle(const struct rest_request *r);
/* Monotonic µs since the request's first byte arrived. */
int64_t rest_request_age_us(const struct rest_request *r);
struct rest_request *rest_request_lookup(uint64_t handle);

/* ---- database ---- */

typedef void (*rest_sql_done)(struct rest_request *r, struct store_job *job);

/*
 * Parks the request on one parameterised statement run by the REST store
 * (its own connection, not the OCPP writer). params are copied. done runs on
 * the loop thread with the completed job (borrowed: freed after done
 * returns) — but only if the client is still there (or the request holds an
 * Idempotency-Key claim: then it runs on, so that what was done is recorded
 * for the retry; its reply goes nowhere). A job that failed with
 * STORE_ERR_UNAVAILABLE may be answered with rest_reply_store_error().
 */
void rest_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
              rest_sql_done done);
/*
 * As rest_sql, for a text built for this request (a query shape): takes
 * ownership of sql (malloc'd). The REST store keeps the most recently used
 * texts prepared (rest.statement_cache), so any number of shapes works.
 */
void rest_sql_owned(struct rest_request *r, char *sql, int nparams, const char *const *params,
                    rest_sql_done done);
/*
 * As rest_sql_owned, with parameter $password_param (0 = none) a plain
 * password that the REST store thread replaces with its PBKDF2 hash
 * (secret_hash_password, `iterations`) before sending: the loop never pays
 * for PBKDF2 and PostgreSQL never sees the plain value.
 * The plain value stays with the job for its done callback
 * (rest_job_password), e.g. to show a key the gateway made once.
 */
void rest_sql_owned_password(struct rest_request *r, char *sql, int nparams, const char *const *params,
                             int password_param, int iterations, rest_sql_done done);
/*
 * As rest_sql (owned false: sql static) or rest_sql_owned (owned true), with
 * hook (copied) run by the REST store thread over the rows before the job
 * comes back (include/store_job.h, struct store_rows_hook): work that must
 * not run on the loop, e.g. an active session's cost estimate.
 */
struct store_rows_hook;
void rest_sql_hook(struct rest_request *r, const char *sql, bool owned, int nparams, const char *const *params,
                   const struct store_rows_hook *hook, rest_sql_done done);
/*
 * Exports (include/store.h, "Exports"; res_export.c uses them): an export
 * thread for req (taken whatever happens; NULL when too many run or this
 * process has none), its next chunk (caller frees) and where it stands,
 * and letting go of it. Loop thread.
 */
struct store_export_req;
enum store_export_state;
bool rest_exports_available(void);
void *rest_export_begin(struct store_export_req *req);
char *rest_export_take(void *export, size_t *len, enum store_export_state *state, char *why, size_t cap);
void rest_export_release(void *export);
/* The plain password of a job whose password parameter was hashed (borrowed), or NULL. */
const char *rest_job_password(const struct store_job *job);
/*
 * A statement that must run whether or not anyone waits for it (what a
 * command's answer commits, e.g. a charger's new security profile): done(job,
 * user) runs on the loop thread when it comes back, always (job borrowed);
 * the caller finds its request again by handle if it replies. params are
 * copied. user is one malloc'd block the caller owns until done, which must
 * free it; jobs that never come back (shutdown) have it free()d for them.
 */
typedef void (*rest_sql_detached_done)(struct store_job *job, void *user);
void rest_sql_detached(const char *sql, int nparams, const char *const *params,
                       rest_sql_detached_done done, void *user);
/*
 * 503 for an unavailable database (QUERY_TIMEOUT when the statement ran
 * past rest.statement_timeout), 500 otherwise (logged with the request id).
 */
void rest_reply_store_error(struct rest_request *r, const struct store_job *job);

/* Field of row `row`, column `col` of a completed SQL job (NULL = SQL NULL). */
const char *rest_value(const struct store_job *job, int row, int col);

/*
 * Audit log (src/rest/audit.c): one row in audit_log with actor
 * "apikey:<id>" of the request's key and its X-Request-Id, written behind
 * (the reply does not wait). detail_json is JSON text or NULL; every string
 * borrowed. action like "charger.create", result "ok" / "rejected" / ...
 */
void rest_audit(struct rest_request *r, const char *action, const char *resource,
                const char *detail_json, const char *result);
/*
 * The same for an action that outlives its request (a command ending): key id
 * 0 = anonymous; detail borrowed, may be NULL.
 */
void rest_audit_as(int64_t key_id, const char *request_id, const char *action,
                   const char *resource, const struct cJSON *detail, const char *result);

/* ---- test deliveries of webhook endpoints (src/rest/webhook_test.c) ---- */

/* What the delivery thread answered to POST /v1/webhook-endpoints/{id}/test (all borrowed). */
struct rest_webhook_test_result {
    bool found;                         /* the endpoint exists */
    bool delivered;                     /* a 2xx within webhooks.timeout */
    int status_code;                    /* 0: no HTTP answer */
    int latency_ms;
    const char *event_id;               /* "" when none was made */
    const char *error;                  /* "" when delivered */
    const char *response_body;          /* up to 64 KiB */
};
typedef void (*rest_webhook_test_done)(struct rest_request *r, const struct rest_webhook_test_result *res);
/*
 * Parks r on a test delivery to endpoint_id by the delivery thread
 * (rest_io.webhook_test); done runs on the loop thread with its result,
 * unless the client has gone. False when this process has no delivery
 * thread (nothing was asked).
 */
bool rest_webhook_test(struct rest_request *r, const char *endpoint_id, rest_webhook_test_done done);

/* ---- API key cache (src/rest/auth.c) ---- */

/*
 * Keys are checked against an in-memory cache that follows table api_keys
 * (LISTEN/NOTIFY, reloaded after every reconnect). The key handlers tell it
 * at once, so that the very next request sees the change:
 * created: after the INSERT committed (arrays of strings; NULL = unrestricted
 * for chargers/sites), revoked: after the UPDATE/DELETE committed.
 */
void rest_auth_key_created(int64_t id, const char *name, const char *key_hash_hex,
                           const struct cJSON *scopes, const struct cJSON *charger_ids,
                           const struct cJSON *site_ids, int64_t expires_ms);
void rest_auth_key_revoked(int64_t id);

/* ---- streaming answers (src/rest/stream.c) ---- */

/* A client that reads nothing for this long while its queue is full is cut. */
#define REST_STREAM_STALL_MS 2000

struct rest_stream_hooks {
    /* the request is freed (client gone, cut, ended, shutdown): free user; r is invalid */
    void (*gone)(void *user);
    /* the client has read: the queue is below half the bound again (may be NULL) */
    void (*drained)(void *user);
};

/*
 * Answers r with a long-lived 200 of content_type (static text) and no
 * Content-Length (GET /v1/events/stream): the headers, with the standard
 * ones and Cache-Control: no-cache, go out now; the body is what
 * rest_stream_send() queues, written as the client reads, until
 * rest_stream_end() or the client leaves. At most `bound` bytes (0 = 1 MiB)
 * wait for the client: a send past it is refused (REST_STREAM_FULL) and
 * the handler offers it again when hooks->drained runs; a client that
 * reads nothing for REST_STREAM_STALL_MS while its queue is full is cut
 * (logged, the connection closed at once). hooks->gone runs exactly once,
 * when the request is freed. hooks copied.
 */
void rest_stream_start(struct rest_request *r, const char *content_type, size_t bound,
                       const struct rest_stream_hooks *hooks, void *user);
enum rest_stream_put {
    REST_STREAM_QUEUED,             /* queued (copied) */
    REST_STREAM_FULL,               /* no room now: offer it again after drained() */
    REST_STREAM_CLOSED              /* the stream takes nothing more (cut, ended, client gone) */
};
enum rest_stream_put rest_stream_send(struct rest_request *r, const char *data, size_t len);
/* Bytes queued and not yet written. */
size_t rest_stream_queued(const struct rest_request *r);
/* True while the stream takes bytes (not cut, not ended, client there). */
bool rest_stream_live(const struct rest_request *r);
/*
 * For a stream whose end must not look complete (an export): a client that
 * reads nothing for stall_ms while its queue is full is cut (instead of
 * REST_STREAM_STALL_MS), and at shutdown the stream is cut rather than
 * ended, so its client sees an incomplete body.
 */
void rest_stream_set_export(struct rest_request *r, int64_t stall_ms);
/* Cuts the stream now (logged with why): the connection closes without its last chunk. */
void rest_stream_abort(struct rest_request *r, const char *why);
/* Ends the body after what is queued; the connection then closes. */
void rest_stream_end(struct rest_request *r);
/* Open streams (for /metrics and tests). */
size_t rest_stream_count(void);
/*
 * r waits for one short query only (statement_timeout bounds it): the
 * transport leaves lws's own request timeout in place instead of arming the
 * long park timeout (in lws 4.1.6 a timer insert walks a sorted list).
 */
void rest_request_brief_park(struct rest_request *r);
/*
 * Whether the key that opened r still holds as it did (not revoked or
 * expired, the route's scope and the same charger and site restriction): a
 * long-lived answer re-checks it from time to time.
 */
bool rest_request_key_valid(const struct rest_request *r);

/* ---- the process's settings handlers read (given to rest_init) ---- */

struct rest_settings {
    int password_iterations;            /* PBKDF2 of a charger's authorizationKey; 0 = the default */
    int call_timeout_s;                 /* ocpp.call_timeout (a CHARGER_TIMEOUT's context) */
    int call_queue;                     /* ocpp.call_queue (a full queue's context) */
    int stale_session_after_s;          /* ocpp.stale_session_after (0 = never mark silent sessions) */
    bool tls_listener;                  /* server.tls_listen is set (security profiles 2 and 3) */
    bool tls_client_ca;                 /* server.tls_ca is set too (profile 3: client certificates) */
    size_t stream_buffer;               /* events.stream_buffer: bytes waiting for one stream's client */
    int stream_keepalive_s;             /* events.stream_keepalive: seconds between ": keepalive" */
    int idle_power_w;                   /* tariffs.idle_power_w: an active session's cost estimate */
};
/* Borrowed, for the framework's life; password_iterations is never 0 here. */
const struct rest_settings *rest_settings(const struct rest_request *r);

/* ---- the loop's entry points (main; the transport's are in rest_transport.h) ---- */

struct store_apikey;

/* Start-up: one row of api_keys into the key cache (store_admin_apikey_load's callback). */
void rest_keys_add(void *ctx, const struct store_apikey *row);
/* A job of the REST store came back (loop thread; takes ownership). */
void rest_on_store_result(struct store_job *job);
/* Periodic work (loop thread, from the main tick): key reload after a reconnect, write-behind. */
void rest_tick(void);
/* Requests not yet answered, open streams included (shutdown waits for them a little). */
size_t rest_in_flight(void);
/* Shutdown: every stream ends after what is queued (one with a backlog is cut). */
void rest_streams_shutdown(void);

#endif
