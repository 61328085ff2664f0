/*
 * Private to the REST framework (src/rest/ without the res_*.c resources):
 * what the libwebsockets glue (http_lws.c), the request object
 * (request.c), the dispatcher and its checks (dispatch.c, router.c,
 * version.c, auth.c, ratelimit.c, idempotency.c) share. Resource handlers
 * use include/rest.h only.
 *
 * Life of a request (one per HTTP transaction, known to jobs by its 64-bit
 * id, never by pointer):
 *
 *   READING    http_lws.c collected method, path, query, headers; the body
 *              arrives (limit rest.max_body)
 *   RUNNING    rest_dispatch() ran the checks; the framework (idempotency
 *              claim) or the handler is working, maybe parked on a job
 *   RECORDING  the handler replied to an idempotent POST: the reply is being
 *              stored before it is sent
 *   READY      the reply is complete: the transport writes it (at once when
 *              inside this request's callback, else on the next WRITEABLE)
 *
 * The client may go away at any point (the transport calls
 * rest_request_gone()): a request is then freed at once and its pending
 * completions dropped, unless an idempotency claim is held for it: then it
 * lives on without a client until the handler has replied and the reply has
 * been recorded, so a retry with the same key replays what was done.
 */
#ifndef OCPPGW_REST_FRAMEWORK_H
#define OCPPGW_REST_FRAMEWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest.h"

struct cJSON;
struct store_job;
struct store_apikey;

/* ---- request headers the framework and handlers read ---- */

enum rest_hdr {
    REST_H_AUTHORIZATION,
    REST_H_X_API_KEY,
    REST_H_API_VERSION,
    REST_H_IDEMPOTENCY_KEY,
    REST_H_PREFER,
    REST_H_X_REQUEST_ID,
    REST_H_CONTENT_TYPE,
    REST_H_CONTENT_LENGTH,
    REST_H_TRANSFER_ENCODING,
    REST_H_ORIGIN,
    REST_H_AC_REQUEST_METHOD,       /* CORS preflight */
    REST_H_AC_REQUEST_HEADERS,
    REST_H_COUNT
};
/* Lower-case name without ':' ("x-api-key"). */
const char *rest_hdr_name(enum rest_hdr h);

/* ---- query string (args.c): lws has already split and percent-decoded it ---- */

struct rest_arg {
    char *name;                     /* "chargerIds" for "chargerIds[]" too */
    char *value;                    /* "" when the fragment had no '=' */
    bool list_form;                 /* was "name[]=" */
    bool read;                      /* a handler asked for it */
};

struct rest_args {
    struct rest_arg *items;
    size_t n, cap;
    char **pieces;                  /* split list values handed out (owned) */
    size_t npieces, cappieces;
};

#define REST_ARGS_MAX 64            /* fragments per request */
#define REST_ARG_NAME_MAX 64
#define REST_ARG_VALUE_MAX 2048

/*
 * Adds one decoded fragment "name=value" (len bytes, may hold no NUL). False
 * when it is malformed (bad UTF-8, control characters, empty or too long
 * name, too many parameters): *bad receives the parameter's name (or "" if
 * the name itself is unreadable), copied into bad_buf.
 */
bool rest_args_add(struct rest_args *a, const char *frag, size_t len, char *bad_buf, size_t bad_cap);
/* First value of name (or name[]), NULL if absent; marks it read. Borrowed. */
const char *rest_args_get(struct rest_args *a, const char *name);
/* Every value of name and name[], each split on ',' (empty pieces skipped); at most max. */
size_t rest_args_list(struct rest_args *a, const char *name, const char **out, size_t max);
/* Name of the first parameter nobody read, or NULL. */
const char *rest_args_unread(const struct rest_args *a);
/* "name=value&..." in arrival order (for the idempotency fingerprint); caller frees. */
char *rest_args_joined(const struct rest_args *a);
void rest_args_free(struct rest_args *a);

/* True if s[0..len) is valid UTF-8 without control characters (C0, DEL). */
bool rest_text_ok(const char *s, size_t len);

/* ---- router (router.c): pure matching over a table ---- */

#define REST_PARAMS_MAX 4
#define REST_PARAM_MAX 255          /* bytes of one decoded path segment */

enum rest_match_result {
    REST_MATCH_OK,
    REST_MATCH_NOT_FOUND,           /* no pattern fits the path: 404 */
    REST_MATCH_METHOD,              /* patterns fit, none with this method: 405 + Allow */
    REST_MATCH_BAD_PARAM            /* a {param} segment is not acceptable text: 400 */
};

struct rest_match {
    const struct rest_route *route;
    size_t nparams;
    struct {
        char name[32];
        char value[REST_PARAM_MAX + 1];
    } params[REST_PARAMS_MAX];
    unsigned allow;                 /* bit per enum rest_method of the path's routes */
    char bad_param[32];             /* REST_MATCH_BAD_PARAM: its name */
};

/*
 * Matches an already decoded path ("/v1/chargers/CP 1/sessions", a trailing
 * '/' ignored) against routes. {name} matches one non-empty segment. The
 * most specific pattern wins (a literal segment beats a parameter at the
 * first place they differ); HEAD uses the GET routes.
 */
enum rest_match_result rest_route_match(const struct rest_route *routes, size_t n,
                                        enum rest_method m, const char *path,
                                        struct rest_match *out);
/* "GET, POST" of an allow mask into buf. */
void rest_allow_string(unsigned allow, char *buf, size_t cap);
/* Parses "GET" etc. (case-sensitive, as HTTP methods are); false if unknown. */
bool rest_method_parse(const char *s, enum rest_method *out);

/* ---- Api-Version revisions (version.c) ---- */

struct rest_revision {
    const char *name;               /* "V2026_11_21" */
    bool deprecated;
    const char *sunset_date;        /* "2027-01-31" when deprecated */
};

/* The revision a request asks for: NULL/"" = the newest; NULL if unknown. */
const struct rest_revision *rest_revision_find(const char *value);
const struct rest_revision *rest_revision_current(void);

/* ---- errors (errors.c) ---- */

/* The readable message of rest-api.md's table for e. */
const char *rest_err_readable(enum rest_err e);
/* The error body {status, message, readableMessage, errorCode, context}; takes context. */
struct cJSON *rest_error_body(enum rest_err e, const char *message, struct cJSON *context);

/* ---- token bucket per key (ratelimit.c), clock passed in ---- */

struct rest_ratelimit;
struct rest_rl_result {
    bool allowed;
    long limit;                     /* burst (bucket size) */
    long remaining;                 /* whole tokens left after this request */
    long retry_after_s;             /* when refused: seconds until one token */
};
struct rest_ratelimit *rest_rl_new(double rate_per_s, double burst);
void rest_rl_free(struct rest_ratelimit *rl);
/* Takes one token of key's bucket at now_us (monotonic). */
struct rest_rl_result rest_rl_take(struct rest_ratelimit *rl, int64_t key_id, int64_t now_us);
/* Drops key's bucket (key revoked). */
void rest_rl_forget(struct rest_ratelimit *rl, int64_t key_id);
size_t rest_rl_count(const struct rest_ratelimit *rl);

/* ---- API keys (auth.c) ---- */

/* A cached key, reference-counted: a request holds one while it lives. */
struct rest_key_entry {
    struct rest_key key;
    char hash[65];                  /* hex SHA-256 of the secret */
    int refs;
    bool live;                      /* in the cache (false once revoked/replaced) */
    int64_t used_ms;                /* last authenticated use (wall clock) */
    int64_t flushed_ms;             /* used_ms last written to last_used_at */
    uint64_t gen;                   /* reload generation that last saw the row */
};

enum rest_auth_result {
    REST_AUTH_OK,
    REST_AUTH_NONE,                 /* no credentials: 401 UNAUTHORIZED */
    REST_AUTH_INVALID,              /* unknown, revoked or expired: 401 INVALID_ACCESS_TOKEN */
    REST_AUTH_UNKNOWN               /* not in the cache and not known to be missing: ask the database */
};

/*
 * The key of the request's credentials ("Authorization: Bearer K" or
 * "x-api-key: K"); on OK *out holds a reference (rest_key_unref). hash
 * receives the hex SHA-256 of the secret (when one was presented).
 */
enum rest_auth_result rest_auth_check(const char *authorization, const char *x_api_key,
                                      int64_t now_ms, struct rest_key_entry **out, char hash[65]);
/* The database has no live key with this hash: refuse it from memory for a while. */
void rest_auth_missed(const char *hash, int64_t now_ms);
/* Row `row` of a job selecting STORE_APIKEY_COLUMNS into the cache. */
void rest_auth_apply_sql_row(const struct store_job *job, int row);
/* SELECT STORE_APIKEY_COLUMNS of the live key with hash $1. */
extern const char rest_auth_lookup_sql[];
void rest_key_unref(struct rest_key_entry *e);
/* Puts a row into the cache (replacing the key of that id); deleted rows are dropped. */
void rest_auth_apply(const struct store_apikey *row);
/* Start of a full reload: rows applied until rest_auth_reload_end() are the whole table. */
void rest_auth_reload_begin(void);
void rest_auth_reload_end(void);
size_t rest_auth_count(void);
void rest_auth_init(void);
void rest_auth_free(void);
/* Write-behind of last_used_at: submits one job for the keys used since the last flush. */
void rest_auth_flush_used(int64_t now_ms);

/* ---- idempotency (idempotency.c) ---- */

enum rest_idem_state {
    REST_IDEM_NONE,                 /* no Idempotency-Key, or not a POST */
    REST_IDEM_CLAIMING,             /* the claim is in the database's hands */
    REST_IDEM_CLAIMED,              /* ours: the handler acts, its reply will be recorded */
    REST_IDEM_RECORDING,            /* the reply is being stored */
};

#define REST_IDEM_KEY_MAX 255

/* Hex SHA-256 identifying a request: method, path, query and body. */
void rest_idem_fingerprint(const char *method, const char *path, const char *query,
                           const void *body, size_t body_len, char out[65]);
/* Whether an Idempotency-Key value is acceptable (1..255 printable ASCII). */
bool rest_idem_key_valid(const char *key);
/* Starts the claim of r's key; the request continues in the job's completion. */
void rest_idem_claim(struct rest_request *r);
/*
 * r's handler replied: records (or, for a reply that says nothing was done,
 * releases) the claim; then the reply is sent.
 */
void rest_idem_finish(struct rest_request *r);
/* r went away before its handler ran (claim held): releases the claim. */
void rest_idem_abandon(struct rest_request *r);
/* Deletes records older than the retention; write-behind. */
void rest_idem_cleanup(void);

/* ---- the request ---- */

enum rest_req_state { REST_REQ_READING, REST_REQ_RUNNING, REST_REQ_RECORDING, REST_REQ_READY };

struct rest_pair {
    char *name;                     /* without ':' */
    char *value;
};

struct rest_request {
    uint64_t id;
    enum rest_req_state state;
    void *conn;                     /* transport handle (struct lws *); NULL: client gone */
    int64_t started_us;
    int64_t gone_ms;                /* when the client went away (orphans) */

    enum rest_method method;
    char *path;
    struct rest_args args;
    char *hdr[REST_H_COUNT];        /* owned values, NULL = absent */
    char *body;                     /* owned, NUL-terminated, body_len bytes */
    size_t body_len, body_cap;
    struct cJSON *json;

    struct rest_match match;
    struct rest_key_entry *key;     /* reference while the request lives */
    const struct rest_revision *rev;
    char request_id[72];
    bool rl_headers;
    struct rest_rl_result rl;

    enum rest_idem_state idem;
    char fingerprint[65];
    unsigned pending;               /* store jobs out for it */

    /* the reply */
    bool replied;
    int status;
    int err;                        /* enum rest_err of an error reply; -1 = none */
    bool close_after;               /* close the connection after this reply (411, broken body) */
    const char *content_type;       /* static text; NULL = no body */
    char *resp_body;
    size_t resp_len;
    struct rest_pair *resp_hdrs;
    size_t n_resp_hdrs, cap_resp_hdrs;
    size_t n_handler_hdrs;          /* the first n were added by the handler (recorded) */
    bool replayed;                  /* an idempotent replay */
};

/* How the framework reaches the transport, the REST store and the clocks. */
struct rest_io {
    void *ctx;
    /* The reply of r is READY: write it now if inside r's callback, else when writable. */
    void (*send)(void *ctx, struct rest_request *r);
    /* A job for the REST store (takes ownership); it comes back through rest_on_store_result. */
    void (*submit)(void *ctx, struct store_job *job);
    bool (*store_ready)(void *ctx);
    int64_t (*now_ms)(void *ctx);   /* wall clock */
    int64_t (*mono_us)(void *ctx);  /* monotonic */
};

/* Sets up the framework (before any request). cfg and io are copied. */
void rest_init(const struct rest_config *cfg, const struct rest_io *io);
/* Frees every request, cached key and pending job context (after the REST store stopped). */
void rest_shutdown(void);
const struct rest_config *rest_cfg(void);
const struct rest_io *rest_io(void);

/* A new request in state READING, registered under a fresh id. path copied. */
struct rest_request *rest_request_new(void *conn, enum rest_method m, const char *path, size_t plen);
/* Sets a collected header (value copied, len bytes). */
void rest_request_set_header(struct rest_request *r, enum rest_hdr h, const char *value, size_t len);
/* Appends body bytes; false once the total would pass rest.max_body. */
bool rest_request_body_append(struct rest_request *r, const void *data, size_t len);
/* The transport lost the client (closed, timed out). */
void rest_request_gone(struct rest_request *r);
/* Frees a request (unregisters it). The transport calls it after writing the reply. */
void rest_request_free(struct rest_request *r);
/* Number of live requests (with and without a client). */
size_t rest_request_count(void);

/*
 * The transport refuses a request before dispatch (body too large, chunked,
 * bad query): an error reply with context {ctx_name: ctx_value} (none when
 * ctx_name is NULL); close: close the connection after it.
 */
void rest_reply_transport_error(struct rest_request *r, enum rest_err e, const char *message,
                                const char *ctx_name, const char *ctx_value, bool close);
/* Whether the request's Origin is one of rest.cors_origins. */
bool rest_cors_allowed(const struct rest_request *r);
/* The handler's (or the framework's) reply is complete: record if idempotent, then send. */
void rest_reply_complete(struct rest_request *r);
/* Records done, or no recording needed: add the standard headers and hand to the transport. */
void rest_reply_send(struct rest_request *r);

/* The checks of rest.h in order, then the handler (request READING -> RUNNING). */
void rest_dispatch(struct rest_request *r);
/* The route table in use: http_init installs rest_routes, unit tests their own. */
void rest_dispatch_set_routes(const struct rest_route *routes, size_t n);
/* The dispatcher's own state (rate limiter), made and freed by rest_init/rest_shutdown. */
void rest_dispatch_init(void);
void rest_dispatch_free(void);
/* A key was revoked: its rate-limit bucket goes too. */
void rest_dispatch_key_gone(int64_t key_id);
/* Runs r's handler (after the checks, and after a successful idempotency claim). */
void rest_run_handler(struct rest_request *r);

/*
 * A framework statement on the REST store. done runs on the loop thread with
 * the request (NULL when it has gone or none was given) and the job
 * (borrowed). A NULL done just frees the job (write-behind).
 */
typedef void (*rest_fw_done)(struct rest_request *r, struct store_job *job);
void rest_fw_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
                 bool write_behind, rest_fw_done done);

#endif
