/*
 * Request bodies of the REST writes, validated against a table of fields
 * (name, type, bounds, enum, required/nullable/immutable, the column it is
 * stored in): one walker for every resource, like the OCPP schemas. Every
 * problem is reported at once as the 422 context {"field": "reason", ...};
 * a valid body becomes SQL parameter texts, and the INSERT column/value list
 * or UPDATE SET list is assembled from the table's fixed fragments.
 */
#ifndef OCPPGW_REST_BODY_H
#define OCPPGW_REST_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct rest_sqlb;

#define REST_BODY_FIELDS_MAX 24
#define REST_BODY_LIST_MAX 100      /* items of an array field */

enum rest_ftype {
    REST_FT_STRING,                 /* min..max characters */
    REST_FT_ENUM,                   /* one of values */
    REST_FT_INT,                    /* integral number in min..max */
    REST_FT_NUMBER,                 /* number in dmin..dmax */
    REST_FT_BOOL,
    REST_FT_TIME,                   /* ISO 8601 date-time -> milliseconds */
    REST_FT_DATE,                   /* YYYY-MM-DD */
    REST_FT_STRINGS,                /* array of strings (each min..max, in values if set) -> text[] */
    /*
     * An object (a site's address) whose members are the table's fields
     * named "<field>.<member>", each stored in a column of its own as if it
     * were a field of the body: a member given sets its column, an absent
     * one is left alone (a PATCH merges), and null for the whole object
     * (REST_FF_NULLABLE) clears every member's column. The object itself
     * has no column; its members are nullable, never objects, and are only
     * taken inside it. The 422 context names a member "<field>.<member>".
     */
    REST_FT_OBJECT
};

enum rest_fflag {
    REST_FF_REQUIRED = 1 << 0,      /* on create */
    REST_FF_NULLABLE = 1 << 1,      /* null accepted (stored as SQL NULL) */
    REST_FF_IMMUTABLE = 1 << 2,     /* create only: refused by an update */
    REST_FF_NONEMPTY = 1 << 3,      /* REST_FT_STRINGS: at least one item */
    /*
     * A plain secret stored as its PBKDF2 hash (a charger's AuthorizationKey):
     * rest_body_values/rest_body_set mark its parameter (rest_sqlb.password_param)
     * and the REST store thread replaces it with secret_hash_password() just
     * before the statement is sent. So PBKDF2 never runs on the loop thread,
     * and the plain value never reaches PostgreSQL (nor its statement log).
     * At most one such field per statement.
     */
    REST_FF_PASSWORD = 1 << 4
};

struct rest_field {
    const char *name;               /* JSON key */
    enum rest_ftype type;
    unsigned flags;
    const char *column;             /* SQL column; NULL = the handler stores it */
    const char *value;              /* SQL of the stored value from "$?"; NULL = "$?" */
    long long min, max;             /* characters (strings, items) or integer range */
    double dmin, dmax;              /* REST_FT_NUMBER */
    const char *const *values;      /* REST_FT_ENUM, or allowed items of REST_FT_STRINGS */
    bool (*check)(const char *s);   /* extra rule for a string (or each item), or for the text of
                                       a number in range ("%lld" / "%.17g") */
    const char *rule;               /* what check enforces, for the 422 reason */
};

struct rest_body_value {
    const struct rest_field *field;
    char *text;                     /* SQL parameter text, owned; NULL = JSON null */
};

struct rest_body {
    size_t n;
    struct rest_body_value v[REST_BODY_FIELDS_MAX];
};

/*
 * Validates body (an object) against fields. create: required fields must
 * be there; otherwise immutable fields are refused. NULL on success (out
 * filled), else the 422 context naming every bad field (caller owns).
 */
struct cJSON *rest_body_parse(const struct cJSON *body, const struct rest_field *fields,
                              size_t nfields, bool create, struct rest_body *out);
void rest_body_free(struct rest_body *b);
/* The entry of that field or object member (NULL if absent; its text is NULL for a JSON null). */
struct rest_body_value *rest_body_find(struct rest_body *b, const char *name);

/* Adds a value the handler computed (text copied; NULL = SQL NULL). */
void rest_body_add(struct rest_body *b, const struct rest_field *f, const char *text);

/* "(col, ...)" of the stored fields given. */
void rest_body_columns(const struct rest_body *v, struct rest_sqlb *b);
/* "expr, ..." of the same fields, in the same order. */
void rest_body_values(const struct rest_body *v, struct rest_sqlb *b);
/* "col = expr, ..." of the stored fields given; false if none. */
bool rest_body_set(const struct rest_body *v, struct rest_sqlb *b);

/*
 * The start of a write that answers its row, as one statement: "WITH <cte>
 * AS (INSERT INTO <table> (col, ...) VALUES (expr, ...)"; the caller goes
 * on with its conflict clause and " RETURNING *) SELECT ... FROM <cte>".
 */
void rest_body_insert(const struct rest_body *v, struct rest_sqlb *b, const char *cte, const char *table);
/*
 * The same for a change: "WITH <cte> AS (UPDATE <table> SET col = expr,
 * ..., " (the list and its comma only when fields were given); the caller
 * adds what it sets itself, ending with "updated_at = now()", then WHERE.
 */
void rest_body_update(const struct rest_body *v, struct rest_sqlb *b, const char *cte, const char *table);

#endif
