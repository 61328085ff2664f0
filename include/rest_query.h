/*
 * REST collections as data, and the one builder that turns a request's query
 * string into a single parameterised SQL statement and the statement's rows
 * into the `{"data": [...], "meta": {...}}` answer of rest-api.md.
 *
 * A collection (struct rest_list_spec) names its columns, table, sort fields,
 * filters (each a fixed SQL fragment with `$?` where its value goes), the
 * condition tying it to a path parameter and the conditions of a key's
 * charger restriction. rest_list_parse() validates page/perPage or
 * after/before/perPage, sort, order and every filter (a bad value: false with
 * the parameter named); rest_list_sql() assembles the statement from those
 * fragments, numbering the placeholders, so user input only ever travels as
 * parameters. The store prepares each text once per connection, keyed by
 * the text, and keeps a bounded number of them (rest.statement_cache, LRU).
 *
 * Offset pages: ORDER BY the sort column (NULLS LAST), then the id; the
 * total comes in the same statement. Cursor pages: keyset on (sort column,
 * id) with one row more than asked to know whether another page follows;
 * `before` reads backwards and the rows are turned round.
 *
 * Nothing here touches a request or the network: the resource handlers
 * (src/rest/res_*.c) feed it through struct rest_query_source, and unit
 * tests feed it a fake.
 */
#ifndef OCPPGW_REST_QUERY_H
#define OCPPGW_REST_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest_cursor.h"
#include "strbuf.h"

struct cJSON;
struct store_job;
struct rest_request;

#define REST_PER_PAGE_DEFAULT 50
#define REST_PER_PAGE_MAX 500
#define REST_PAGE_MAX 1000000
#define REST_FILTERS_MAX 24
#define REST_LIST_ITEMS_MAX 100     /* values of one list parameter */
#define REST_SQL_PARAMS_MAX 32

/* ---- statement text and parameters ---- */

struct rest_sqlb {
    struct strbuf sql;              /* the statement text (owned) */
    int nparams;
    char *params[REST_SQL_PARAMS_MAX];  /* owned copies; NULL = SQL NULL */
    int password_param;             /* $n holding a plain password to hash off the loop; 0 = none */
};

void rest_sqlb_init(struct rest_sqlb *b);
void rest_sqlb_free(struct rest_sqlb *b);
/* Appends fixed SQL text (never user input). */
void rest_sqlb_add(struct rest_sqlb *b, const char *sql);
/* Adds a parameter (value copied; NULL = SQL NULL); returns its number ($n). Aborts past the maximum. */
int rest_sqlb_param(struct rest_sqlb *b, const char *value);
/*
 * Parameter $n holds a plain password: the store thread replaces it with its
 * PBKDF2 hash before sending (REST_FF_PASSWORD does this for a body field).
 * At most one per statement (aborts on a second).
 */
void rest_sqlb_password(struct rest_sqlb *b, int n);
/* Appends a fixed fragment with every "$?" written as $n. */
void rest_sqlb_frag(struct rest_sqlb *b, const char *frag, int n);
/*
 * The text of a statement shaped by a request (which filters, sort, order,
 * direction, fields, body fields), taken from b (caller frees; b's text is
 * empty afterwards). Any number of shapes is fine: the store keeps the
 * most recently used ones prepared (rest.statement_cache) and lets the
 * others go.
 */
char *rest_sqlb_take_sql(struct rest_sqlb *b);
/*
 * A fixed statement's text (built once per process, never by a request) as
 * a pointer valid for the process's life; equal texts give the same
 * pointer. Loop thread only.
 */
const char *rest_sql_intern(const char *text);

/*
 * Appends `lead` and "(vis_chargers OR vis_sites)" with the key's charger
 * and site lists as text[] parameters (parameters counted in b, text written
 * to text, which may be b); nothing when both lists are NULL (no
 * restriction) or both conditions are (not charger data). vis_sites may be
 * NULL when sites do not apply; vis_chargers NULL when the rows are sites,
 * which a key sees through its site list only ("(false)" without one).
 */
void rest_sqlb_restrict(struct rest_sqlb *b, struct rest_sqlb *text, const char *lead,
                        const char *vis_chargers, const char *vis_sites,
                        char *const *charger_ids, char *const *site_ids);

/* True if s is one of the NULL-terminated v (NULL v or s: false). */
bool rest_strv_has(const char *const *v, const char *s);
/* "a, b, c" of the NULL-terminated v into buf (cut at cap). */
void rest_strv_join(const char *const *v, char *buf, size_t cap);

/* PostgreSQL array literal {"a","b"} of n strings; caller frees. */
char *rest_pg_array(const char *const *items, size_t n);
/* ILIKE pattern matching s anywhere (%, _ and \ escaped); caller frees. */
char *rest_like_pattern(const char *s);

/* ---- result rows to JSON ---- */

enum rest_col_type {
    REST_COL_STR,                   /* text */
    REST_COL_INT,                   /* integer (bigint range) */
    REST_COL_NUM,                   /* numeric / double */
    REST_COL_BOOL,                  /* boolean */
    REST_COL_TIME,                  /* timestamptz: selected as microseconds (ocppgw_us), shown as ISO 8601 */
    REST_COL_JSON,                  /* json text, embedded as is */
    REST_COL_LIVE,                  /* live(r, value, row id): what the core knows now (connected) */
    REST_COL_HIDDEN,                /* selected for the handler, not shown */
    REST_COL_MERGE                  /* not shown itself: a JSON object text (made by a store rows
                                       hook, e.g. an active session's cost estimate) whose members
                                       replace the row's members of the same name; anything else
                                       (NULL, not an object) changes nothing */
};

struct rest_col {
    const char *name;               /* JSON key (static: answers point at it) */
    const char *sql;                /* select expression */
    enum rest_col_type type;
    /*
     * REST_COL_LIVE: the JSON value (caller owns) from the column's value and
     * the row's first column; r is the request the row answers (rest_live.h)
     */
    struct cJSON *(*live)(const struct rest_request *r, const char *value, const char *row_id);
};

/*
 * An object column whose keys are fixed (a site's address): a CSV export
 * writes one column per key, "address.city" (include/rest_export.h).
 */
struct rest_export_flat {
    const char *col;                /* the column's name; NULL ends a list */
    const char *const *keys;        /* its keys, NULL-terminated, in column order */
};

/*
 * Child rows aggregated by PostgreSQL as json_agg(json_build_array(...)),
 * the cheapest shape to make there: [[v0, v1, ...], ...] to
 * [{keys[0]: v0, ...}, ...]. Members whose bit is set in time_mask are
 * PostgreSQL JSON timestamps ("2025-01-02T03:04:05.123456+00:00") and
 * become API times. NULL or malformed text gives []. Caller owns.
 */
struct cJSON *rest_json_rows(const char *json, const char *const *keys, unsigned time_mask);

/* True if s is a JSON number as written (-?digits[.digits][e[+-]digits], no leading zeros, < 64 bytes). */
bool rest_json_number_text(const char *s);

/* "expr, expr, ..." of the columns; caller frees. */
char *rest_select_list(const struct rest_col *cols, size_t n);
/*
 * Row `row` of a completed SQL job as an object; columns start at field
 * col0. r: the request it answers, handed to live columns.
 */
struct cJSON *rest_row_json(const struct rest_request *r, const struct store_job *job, int row,
                            int col0, const struct rest_col *cols, size_t n);
/* Field of a completed SQL job (NULL = SQL NULL or out of range). */
const char *rest_job_value(const struct store_job *job, int row, int col);
int rest_job_rows(const struct store_job *job);

/* ---- collections ---- */

enum rest_paging { REST_PAGING_OFFSET, REST_PAGING_CURSOR };

/* Cursor kinds: a cursor is only accepted by the collection kind that made it. */
enum rest_list_kind {
    REST_LIST_CHARGERS = 1, REST_LIST_SESSIONS, REST_LIST_STATUS_HISTORY,
    REST_LIST_METER_VALUES, REST_LIST_AUDIT, REST_LIST_TOKENS, REST_LIST_API_KEYS,
    REST_LIST_COMMANDS, REST_LIST_SECURITY_EVENTS,
    REST_LIST_EVENTS,
    REST_LIST_WEBHOOK_ENDPOINTS = 32, REST_LIST_WEBHOOK_DELIVERIES = 33,
    REST_LIST_SITES = 34, REST_LIST_TARIFFS = 35
};

struct rest_sort {
    const char *name;               /* value of `sort` */
    const char *column;             /* SQL column (NOT NULL for cursor collections) */
    const char *key;                /* cursor: the column as bigint; NULL = the column is one */
    const char *from_key;           /* cursor: "$?" bigint back to the column's type; NULL = "$?::bigint" */
};

enum rest_filter_type {
    REST_F_TEXT,                    /* non-empty, at most max_len */
    REST_F_ENUM,                    /* one of values */
    REST_F_LIST,                    /* repeated or comma-separated -> text[] */
    REST_F_BOOL,                    /* true | false */
    REST_F_INT,                     /* decimal in [min, max] */
    REST_F_TIME,                    /* ISO 8601 -> milliseconds since the epoch */
    REST_F_SEARCH                   /* substring -> ILIKE pattern */
};

/*
 * A filter: a query parameter named after a field of the collection's items
 * (rest-api.md: "filters named after fields"), or `search`, `from`, `to`.
 * Ids and counts take REST_F_INT with their range: an integer column
 * [0 or 1, INT32_MAX], a bigint id [1, REST_ID_MAX].
 */
#define REST_ID_MAX 999999999999999999LL    /* the largest id a filter takes (18 digits) */

struct rest_filter {
    const char *param;              /* query parameter */
    enum rest_filter_type type;
    const char *cond;               /* SQL with "$?" for the value */
    size_t max_len;
    const char *const *values;      /* REST_F_ENUM, NULL-terminated */
    long long min, max;             /* REST_F_INT */
    const char *dflt;               /* value used when absent; NULL = no condition */
};

struct rest_list_spec {
    const char *name;               /* "sessions": for messages */
    enum rest_paging paging;
    enum rest_list_kind kind;
    const struct rest_col *cols;
    size_t ncols;
    const char *from;               /* "sessions s" */
    const char *id;                 /* "s.id": tie-break, unique, bigint for cursor collections */
    const struct rest_sort *sorts;  /* [0] is the default */
    size_t nsorts;
    bool desc;                      /* default order */
    const struct rest_filter *filters;
    size_t nfilters;
    const char *scope;              /* condition on the path parameter ("$?"), NULL = none */
    /*
     * Collections under a parent (meter values of a session, the chargers of
     * a site): one row (charger_id, site_id) of the parent identified by the
     * path parameter ("$?"); no row = the parent does not exist.
     */
    const char *parent;
    /*
     * The key's restriction: the row's charger in "$?" (text[]), and the
     * row's charger's site (or the row's site, for sites) in "$?" (text[]).
     * Both NULL = neither charger nor site data (tokens): no restriction;
     * vis_chargers alone NULL: sites, seen through a key's site list only.
     */
    const char *vis_chargers;
    const char *vis_sites;
    /*
     * Exports (CSV, NDJSON) are formatted off the loop, where the core is
     * out of reach: each REST_COL_LIVE column is replaced by the column of
     * the same name here (SQL giving what the table knows: the value every
     * gateway wrote). flat: the object columns a CSV flattens (ended by
     * {NULL}); NULL: none.
     */
    const struct rest_col *export_cols;
    size_t nexport_cols;
    const struct rest_export_flat *flat;
};

enum rest_dir { REST_DIR_FIRST, REST_DIR_AFTER, REST_DIR_BEFORE };

/* A validated list request. */
struct rest_list_req {
    const struct rest_list_spec *spec;
    long page;                      /* offset collections */
    int per_page;
    int sort;                       /* index into spec->sorts */
    bool desc;
    enum rest_dir dir;
    struct rest_cursor cursor;      /* REST_DIR_AFTER / BEFORE */
    char *values[REST_FILTERS_MAX]; /* per filter: parameter text (owned), NULL = absent */
};

/* A rejected query parameter: 400 with context {param: reason}. */
struct rest_param_error {
    char param[64];
    char reason[192];
};

/* Where the query parameters come from (the request, or a test fake). */
struct rest_query_source {
    /* First value, NULL if absent. */
    const char *(*get)(void *ctx, const char *name);
    /* Every value of a repeated or comma-separated parameter (at most max). */
    size_t (*list)(void *ctx, const char *name, const char **out, size_t max);
    void *ctx;
};

/*
 * One query parameter of a route that is no collection (DELETE
 * /v1/sites/{id}?force=true), described as a filter whose cond is unused:
 * its text (owned; the default, or NULL, when absent) into *out; false with
 * err filled when malformed.
 */
bool rest_param_parse(const struct rest_filter *f, const struct rest_query_source *src, char **out,
                      struct rest_param_error *err);

/* Validates the query parameters of spec; false with err filled. Free req either way. */
bool rest_list_parse(const struct rest_list_spec *spec, const struct rest_query_source *src,
                     struct rest_list_req *req, struct rest_param_error *err);
void rest_list_req_free(struct rest_list_req *req);

/*
 * The page statement into b (initialised by the caller). scope_value is the
 * path parameter when spec->scope or spec->parent is set; charger_ids and
 * site_ids are the key's restriction (NULL-terminated; both NULL = none).
 */
void rest_list_sql(const struct rest_list_req *req, const char *scope_value,
                   char *const *charger_ids, char *const *site_ids, struct rest_sqlb *b);
/*
 * The statement of an export of req into b (initialised by the caller):
 * every row the filters, the cursor if one was given (the rows after it,
 * or before it, in reading order) and the key's restriction let through,
 * in the collection's order, no LIMIT; its fields are exactly cols (the
 * spec's columns with the live ones replaced: rest_list_export_cols). The
 * parent of a collection under one is not checked here.
 */
void rest_list_export_sql(const struct rest_list_req *req, const char *scope_value,
                          char *const *charger_ids, char *const *site_ids, const struct rest_col *cols,
                          size_t ncols, struct rest_sqlb *b);
/*
 * spec's columns for an export: a copy (caller frees) with each
 * REST_COL_LIVE column replaced by spec->export_cols' of the same name
 * (kept, shown as null, when there is none).
 */
struct rest_col *rest_list_export_cols(const struct rest_list_spec *spec);

/* The field of the page statement's rows where spec->cols start (the parent's, then total|key and id, first). */
int rest_list_col0(const struct rest_list_spec *spec);

/*
 * For collections with a parent: false if the parent does not exist; else
 * its charger and site (borrowed from job, may be NULL).
 */
bool rest_list_parent(const struct rest_list_req *req, const struct store_job *job,
                      const char **charger_id, const char **site_id);

/* {"data": [...], "meta": {...}} of the completed page statement for r (caller owns). */
struct cJSON *rest_list_page(const struct rest_request *r, const struct rest_list_req *req,
                             const struct store_job *job);

/* ---- reports (report.c): GET /v1/reports/energy and /utilization ---- */

enum rest_report_kind { REST_REPORT_ENERGY, REST_REPORT_UTILIZATION };
enum rest_report_key { REST_RKEY_SITE, REST_RKEY_CHARGER, REST_RKEY_PERIOD };

#define REST_REPORT_MAX_DAYS 400    /* from .. to at most this far apart */

/* A validated report request (../shared/spec/reports.md). */
struct rest_report_req {
    enum rest_report_kind kind;
    int64_t from_ms, to_ms;
    char *site_id;                  /* owned; NULL = every site */
    char *charger_ids;              /* owned PostgreSQL array text; NULL = every charger */
    const char *period;             /* "day", "week", "month" (static) or NULL */
    enum rest_report_key keys[3];   /* the groupBy keys in the order given */
    int nkeys;
};

/*
 * Validates from, to (required ISO 8601, from < to, at most
 * REST_REPORT_MAX_DAYS apart), siteId, chargerIds and groupBy (site,
 * charger, day, week, month, comma-separated or repeated, each once, at
 * most one of day/week/month); false with err filled. Free req either way.
 */
bool rest_report_parse(enum rest_report_kind kind, const struct rest_query_source *src,
                       struct rest_report_req *req, struct rest_param_error *err);
void rest_report_req_free(struct rest_report_req *req);
bool rest_report_by(const struct rest_report_req *req, enum rest_report_key k);
/*
 * The report's columns, in the order the statement selects them: the group
 * columns the request asks for (siteId also when grouping by charger), then
 * the figures, copied into out (REST_REPORT_COLS_MAX); returns how many.
 */
#define REST_REPORT_COLS_MAX 16
size_t rest_report_cols(const struct rest_report_req *req, struct rest_col *out);
/*
 * The statement into b (initialised by the caller): the SQL function of the
 * kind (ocppgw_report_energy / ocppgw_report_utilization) over the chargers
 * the filters and the key's restriction (charger_ids / site_ids, NULL =
 * none) leave, ordered by the group keys in the order given.
 */
void rest_report_sql(const struct rest_report_req *req, char *const *charger_ids, char *const *site_ids,
                     struct rest_sqlb *b);

/* True if a key restricted to charger_ids / site_ids (NULL = unrestricted) may see the charger. */
bool rest_visible(char *const *charger_ids, char *const *site_ids, const char *charger_id,
                  const char *site_id);

#endif
