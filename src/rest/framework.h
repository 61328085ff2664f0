/*
 * Private to the REST framework (src/rest/): what its files share. Resource
 * handlers (res_*.c) use include/rest.h and its companions only; the
 * transport (src/glue/http_lws.c) uses include/rest_transport.h.
 *
 * Who calls whom: each file calls only files on a line below its own (a
 * file reaches upward only through a function pointer it was handed: the
 * route's handler, a job's continuation, the idempotency hooks on the
 * request, the key cache's "key gone"):
 *
 *   transport (src/glue/http_lws.c), loop (src/glue/server_lws.c)
 *   framework.c   lifecycle: rest_init/shutdown, rest_tick (key reload after
 *                 a reconnect, write-behind, orphan sweep), rest_on_store_result
 *   dispatch.c    the checks in order (-> router, version, ratelimit, auth,
 *                 idempotency), then the route's handler
 *   routes.c -> res_*.c handlers (-> audit, live, query, body, cursor)
 *   idempotency.c claim, replay, record
 *   audit.c, live.c (the core, through the request)
 *   reply.c       assembly, headers, CORS, hand-over to the transport -> errors
 *   jobs.c        store routing: rest_sql / rest_fw_sql, job contexts, completions;
 *                 the export threads (rest_export_begin / take / release)
 *   request.c     the request object, its registry and accessors, the config
 *                 and io in force (-> args, auth for key references)
 *   errors.c, version.c, router.c, ratelimit.c, args.c, auth.c (the key
 *   cache), body.c, query.c, cursor.c: tables and pure functions, calling
 *   only one another (router -> args, body -> query -> cursor)
 *
 * A request lives as rest_transport.h describes. One exception to "the
 * client went away, the request is freed": a request holding an idempotency
 * claim lives on without a client until the handler has replied and the
 * reply has been recorded, so a retry with the same key replays what was
 * done (idempotency.c).
 */
#ifndef OCPPGW_REST_FRAMEWORK_H
#define OCPPGW_REST_FRAMEWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest.h"
#include "rest_transport.h"
#include "strbuf.h"

struct cJSON;
struct store_job;
struct store_apikey;

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
#define REST_ARG_VALUE_MAX 2048     /* (REST_ARG_NAME_MAX: rest_transport.h) */

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

/* ---- errors (errors.c): the map, and nothing else ---- */

/* The readable message of rest-api.md's table for e. */
const char *rest_err_readable(enum rest_err e);
/* e itself when it is a known error, else REST_ERR_INTERNAL. */
enum rest_err rest_err_known(enum rest_err e);
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

/* ---- API keys (auth.c): the in-memory cache; no store, no request ---- */

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

/* key_gone(id): a key left the cache (revoked, or gone at a reload). */
void rest_auth_init(void (*key_gone)(int64_t key_id));
void rest_auth_free(void);
/*
 * The key of the request's credentials ("Authorization: Bearer K" or
 * "x-api-key: K"); on OK *out holds a reference (rest_key_unref). hash
 * receives the hex SHA-256 of the secret (when one was presented).
 */
enum rest_auth_result rest_auth_check(const char *authorization, const char *x_api_key,
                                      int64_t now_ms, struct rest_key_entry **out, char hash[65]);
/* The database has no live key with this hash: refuse it from memory for a while. */
void rest_auth_missed(const char *hash, int64_t now_ms);
/* SELECT STORE_APIKEY_COLUMNS of the live key with hash $1. */
extern const char rest_auth_lookup_sql[];
/* SELECT STORE_APIKEY_COLUMNS of every live key (the reload). */
extern const char rest_auth_reload_sql[];
/* Columns of a row of those statements. */
#define REST_AUTH_ROW_COLUMNS 8
/* One row of those statements (REST_AUTH_ROW_COLUMNS cells, NULL = SQL NULL) into the cache. */
void rest_auth_apply_row(const char *const *cells);
void rest_key_unref(struct rest_key_entry *e);
/* Puts a row into the cache (replacing the key of that id); deleted rows are dropped. */
void rest_auth_apply(const struct store_apikey *row);
/* The cache's live entry for a secret's hash now (a reload replaces entries), or NULL. Borrowed. */
struct rest_key_entry *rest_auth_current(const char *hash);
/* Start of a full reload: rows applied until rest_auth_reload_end() are the whole table. */
void rest_auth_reload_begin(void);
void rest_auth_reload_end(void);
size_t rest_auth_count(void);
/*
 * Write-behind of last_used_at: the keys used since the last call, as two
 * PostgreSQL array literals of ids and times (ms) appended to ids and ms,
 * and marked written. Returns how many (0: nothing to write).
 */
size_t rest_auth_take_used(struct strbuf *ids, struct strbuf *ms);
/* UPDATE of last_used_at with $1 ids and $2 times of rest_auth_take_used. */
extern const char rest_auth_used_sql[];

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
/*
 * Starts the claim of r's key (r->fingerprint set); the request continues in
 * the job's completion: a replay, a 409, or then(r) once the claim is ours.
 * While the claim is held, r's reply is recorded before it is sent.
 */
void rest_idem_claim(struct rest_request *r, rest_handler then);
/* Deletes records older than the retention; write-behind. */
void rest_idem_cleanup(void);

/* ---- the request (request.c) ---- */

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
    struct strbuf body;             /* owned; body.len bytes, NUL-terminated once any arrived */
    struct cJSON *json;

    struct rest_match match;
    struct rest_key_entry *key;     /* reference while the request lives */
    const struct rest_revision *rev;
    char request_id[72];
    bool rl_headers;
    struct rest_rl_result rl;

    enum rest_idem_state idem;
    char fingerprint[65];
    /* idempotency's hooks: then runs the handler once the claim is ours; a
     * complete reply passes through finish (the record) before it is sent */
    rest_handler then;
    void (*finish)(struct rest_request *r);

    /* the reply */
    bool replied;
    struct rest_reply reply;        /* what the transport writes */
    int err;                        /* enum rest_err of an error reply; -1 = none */
    size_t cap_headers;
    size_t n_handler_hdrs;          /* the first n headers were added by the handler (recorded) */
    const char *secret_fields[REST_SECRET_FIELDS_MAX]; /* rest_reply_secret_field: nulled in the record */
    size_t n_secret_fields;
    struct rest_stream *stream;     /* a streaming reply (stream.c), NULL otherwise */
    bool brief_park;                /* parked on one short query: lws's own request timeout suffices */
};

/* Sets up the registry and the config and io in force (rest_init). cfg and io copied. */
void rest_requests_init(const struct rest_config *cfg, const struct rest_io *io);
/* Frees every request and forgets the config (rest_shutdown). */
void rest_requests_free(void);
/* Whether rest_init ran and rest_shutdown did not yet. */
bool rest_running(void);
/* Frees the requests without client whose claim's handler never replied for too long. */
void rest_requests_sweep(int64_t now_ms);
/* The registered request of that id in any state, or NULL. */
struct rest_request *rest_request_by_id(uint64_t id);
/* Number of live requests (with and without a client). */
size_t rest_request_count(void);
const struct rest_io *rest_io(void);

/* ---- replies (reply.c) ---- */

/* Whether the request's Origin is one of rest.cors_origins. */
bool rest_cors_allowed(const struct rest_request *r);
/* Records done, or no recording needed: add the standard headers and hand to the transport. */
void rest_reply_send(struct rest_request *r);

/* ---- streaming replies (stream.c) ---- */

/* From rest_request_free: unlinks r's stream and runs the handler's gone(). */
void rest_stream_free(struct rest_request *r);
/* From rest_tick: cuts the streams whose client read nothing for REST_STREAM_STALL_MS while full. */
void rest_streams_tick(void);

/* ---- store routing (jobs.c) ---- */

void rest_jobs_init(void);
/* Frees the contexts of jobs that never came back (after the REST store stopped). */
void rest_jobs_free(void);
/* A completed job of rest_sql / rest_fw_sql: to its continuation (takes the job). */
void rest_jobs_complete(struct store_job *job);
/*
 * A framework statement on the REST store. done runs on the loop thread with
 * the request (NULL when it has gone or none was given) and the job
 * (borrowed). A NULL done just frees the job (write-behind).
 */
typedef void (*rest_fw_done)(struct rest_request *r, struct store_job *job);
void rest_fw_sql(struct rest_request *r, const char *sql, int nparams, const char *const *params,
                 bool write_behind, rest_fw_done done);

/* ---- dispatch (dispatch.c) ---- */

/* The dispatcher's own state (routes, rate limiters), made and freed by rest_init/rest_shutdown. */
void rest_dispatch_init(void);
void rest_dispatch_free(void);
/* A key left the cache: its rate-limit bucket goes too. */
void rest_dispatch_key_gone(int64_t key_id);

#endif
