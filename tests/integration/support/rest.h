/*
 * The REST API as an integrator calls it (libcurl), for the it_rest_*
 * tests: API keys made the way an operator makes them (`ocppgw apikey
 * create`, which prints the secret), authenticated requests with any
 * headers, the answer's status, headers and parsed JSON body, assertions on
 * the error shape of rest-api.md, a cursor walk, and raw HTTP for what
 * libcurl would not send (chunked bodies, broken percent-encoding).
 *
 * Include it as "support/rest.h": include/rest.h (the gateway's REST
 * framework) has the same base name. Functions are prefixed api_ because the
 * test binaries link libocppgw.a, whose REST functions are rest_*.
 *
 *     struct api_resp *r = api_get(port, key, "/v1/chargers/ir-a");
 *     const cJSON *c = api_expect(r, 200);
 *     assert_string_equal(js(c, "id"), "ir-a");
 *     api_free(r);
 */
#ifndef OCPPGW_IT_REST_H
#define OCPPGW_IT_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

struct api_resp {
    int status;                 /* HTTP status; -1 when nothing answered */
    char *body;                 /* NUL-terminated ("" when none); owned */
    size_t body_len;
    cJSON *json;                /* the body parsed, NULL if empty or not JSON; owned */
    char *headers;              /* header lines of the final answer ("Name: value\r\n"...); owned */
    char what[300];             /* "GET /v1/..." for messages */
};

struct api_req {
    const char *method;         /* "GET", "POST", ... */
    const char *path;           /* "/v1/chargers?perPage=2", sent as is */
    const char *key;            /* the API key, or NULL for none */
    bool x_api_key;             /* send the key as "x-api-key: K" instead of "Authorization: Bearer K" */
    const char *body;           /* request body (Content-Type: application/json unless given), NULL = none */
    size_t body_len;            /* 0 = strlen(body) */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
};

/* Sends the request (10 s timeout) and returns the answer; never fails the test. Caller api_free()s. */
struct api_resp *api_send(int port, const struct api_req *q);
void api_free(struct api_resp *r);

/* Shorthands with "Authorization: Bearer key" (key may be NULL). */
struct api_resp *api_get(int port, const char *key, const char *path);
struct api_resp *api_post(int port, const char *key, const char *path, const char *body);
struct api_resp *api_patch(int port, const char *key, const char *path, const char *body);
struct api_resp *api_delete(int port, const char *key, const char *path);

/* Value of a response header (case-insensitive name, no colon), or NULL. Borrowed: valid for the next 7 calls. */
const char *api_header(const struct api_resp *r, const char *name);

/*
 * Fails the test, showing the request and the body, unless the status is
 * `status`. Returns the parsed body (borrowed; NULL when there is none);
 * fails if the status has a body that is not JSON (204 has none).
 */
const cJSON *api_expect(const struct api_resp *r, int status);

/*
 * Fails unless the answer is the error body of rest-api.md with that status
 * and errorCode: {"status": N, "message": "...", "readableMessage": "...",
 * "errorCode": "...", "context": {...}} (both messages non-empty). Returns
 * the body (borrowed).
 */
const cJSON *api_expect_error(const struct api_resp *r, int status, const char *error_code);

/* api_expect_error, then fails unless context (or, failing that, message) mentions `word`. */
void api_expect_error_naming(const struct api_resp *r, int status, const char *error_code, const char *word);

/*
 * Field checks that fail the test naming the field and showing the object:
 * a string member equal to want; an integer; a boolean; present and JSON
 * null.
 */
void api_check_str(const cJSON *o, const char *key, const char *want);
void api_check_int(const cJSON *o, const char *key, int64_t want);
void api_check_bool(const cJSON *o, const char *key, bool want);
void api_check_null(const cJSON *o, const char *key);

/*
 * Every answer these functions receive (api_send and its shorthands,
 * api_raw, api_raw_finish) is appended to the run's record
 * ($OCPPGW_REST_ANSWERS, one JSON line each), and at the end of the run
 * tests/node/check_rest_answers.js validates every one with ajv against
 * docs/openapi.json: the operation its method and path resolve to, the
 * status, Content-Type, body schema (oneOf, anyOf, pattern, formats and
 * all; objects closed to undocumented members) and documented headers. A
 * violation fails the run (scripts/run-integration.sh lists it).
 *
 * A test that gets answers another way (its own curl handles) records each
 * with api_record_answer; an answer never received (status -1) is recorded
 * and skipped by the check.
 */
void api_record_answer(const char *method, const char *path, const struct api_resp *r);

/*
 * Records value to be validated with the answers against
 * #/components/schemas/<name> of docs/openapi.json (a part of an answer, or
 * an answer that must be that one of a oneOf). Fails at once only when
 * value is NULL; a mismatch fails the run's check, which names it.
 */
void api_check_schema(const cJSON *value, const char *name);
/* docs/openapi.json parsed (borrowed; freed by api_group_teardown). */
const cJSON *api_openapi(void);

/* The collection body's "data" array; fails unless body is {data: [...], meta: {...}}. Borrowed. */
const cJSON *api_data(const cJSON *body);
/* How many items of an array have member key equal to the string value. */
int api_count_with(const cJSON *items, const char *key, const char *value);

/* An input the API must refuse, and the parameter or field its error must name. */
struct api_bad {
    const char *input;          /* a JSON body, or a query string without '?' */
    const char *name;
};
/* Sends each body with method to path: each must be 422 UNPROCESSABLE_ENTITY naming its field. */
void api_expect_bad_bodies(int port, const char *key, const char *method, const char *path,
                           const struct api_bad *cases, size_t n);
/* GETs path?input for each: each must be 400 BAD_REQUEST naming its parameter. */
void api_expect_bad_queries(int port, const char *key, const char *path, const struct api_bad *cases, size_t n);
#define API_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The usual world of an it_rest_* file: an admin key (CLI) made first, then
 * the file's gateway W.gw with a rate limit its tests never meet (it loads
 * the key at start). Returns the key; api_group_teardown frees it and stops
 * the gateway (cmocka group teardown).
 */
char *api_group_start(const char *gw_name, const char *admin_name);
/* The same, with more INI text for the gateway (after API_UNLIMITED_INI; NULL = none). */
char *api_group_start_ini(const char *gw_name, const char *admin_name, const char *ini);
int api_group_teardown(void **state);
#define API_UNLIMITED_INI "[rest]\nrate_per_second = 1000000\nrate_burst = 10000000\n"

/*
 * A new key made with `ocppgw apikey create --name NAME --scopes S --db
 * $OCPPGW_TEST_DB`; the secret it prints (caller frees). Fails the test if
 * the CLI fails or prints no key.
 */
char *api_key_create(const char *name, const char *scopes);
/*
 * A key limited to the chargers of the comma-separated list, written to
 * table api_keys in one INSERT (the CLI cannot limit keys) with a random
 * secret of the gateway's format; returns the secret (caller frees).
 */
char *api_key_create_limited(const char *name, const char *scopes_csv, const char *charger_ids_csv);
/*
 * Waits until the gateway on port knows the key (a request with it is not
 * answered 401), at most IT_WAIT_MS; fails the test if it never does. The
 * gateway learns of keys made outside it (CLI, SQL) by a database
 * notification, a moment after they are committed; the tests that are not
 * about that wait here before using such a key.
 */
void api_key_wait_known(int port, const char *key);
/* The api_keys id of a secret (by its SHA-256), or DB_NONE. */
int64_t api_key_id(const char *secret);
/* `ocppgw apikey revoke ID` from another process; fails the test unless it exits 0. */
void api_key_revoke_cli(int64_t id);

/*
 * Follows a cursor collection: GETs path, then path with after=<meta.after>
 * appended, until meta.after is null. Returns every item of every page in
 * order as a new array (caller deletes). Fails the test on a non-200 page,
 * a page that is not {data: [], meta: {}}, or more than max_pages pages.
 * *pages (optional) receives the number of pages read.
 */
cJSON *api_walk(int port, const char *key, const char *path, int max_pages, int *pages);

/*
 * Reads an offset collection (path has a query string) per_page items at a
 * time, page 0, 1, ... until its total: each page must be schema (the
 * list's #/components/schemas name) with a meta that agrees (page,
 * perPage, itemCount, one total throughout). Returns every item in order
 * (caller deletes); *total (optional) receives the total.
 */
cJSON *api_offset_walk(int port, const char *key, const char *path, int per_page, const char *schema,
                       int64_t *total);

/*
 * GETs path (200) and fails unless its items' member values, in order and
 * comma-separated, are want ("" for none): "CP-1,CP-2".
 */
void api_expect_listed(int port, const char *key, const char *path, const char *member, const char *want);

/*
 * A resource that does not exist: GET, PATCH (with patch_body) and DELETE
 * of path must each answer 404 RESOURCE_NOT_FOUND; the GET's error names id.
 */
void api_expect_missing(int port, const char *key, const char *path, const char *patch_body, const char *id);

/* Fails unless items hold "<prefix>1" ... "<prefix><n>" under key once each, and nothing else. */
void api_expect_each_once(const cJSON *items, const char *key, const char *prefix, int n);

/* Percent-encodes s for a query value or a path segment (caller frees). */
char *api_escape(const char *s);

/*
 * Sends the bytes of a whole HTTP request as they are over a new TCP
 * connection and reads until the server closes or one full answer (by
 * Content-Length) arrived, at most 10 s. Returns the status of the answer
 * (-1 if none); *answer (optional) receives the whole answer text (caller
 * frees, "" if none).
 */
int api_raw(int port, const char *request, size_t len, char **answer);

/*
 * The same in two steps, for requests that must overlap: api_raw_start
 * connects and sends the whole request (fails the test if it cannot) and
 * returns the socket; api_raw_finish reads the answer as api_raw does and
 * closes the socket.
 */
int api_raw_start(int port, const char *request, size_t len);
int api_raw_finish(int fd, char **answer);

/* Header value inside a raw answer (case-insensitive), copied into buf; NULL if absent. */
const char *api_raw_header(const char *answer, const char *name, char *buf, size_t cap);

#endif
