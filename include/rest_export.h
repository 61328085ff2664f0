/*
 * CSV and NDJSON exports of REST collections: the row formatting
 * (src/rest/export_fmt.c). Pure: no request, no socket, no database, no
 * global state, so it runs on the export threads (include/store.h,
 * store_export_begin) and in unit tests alike.
 *
 * A formatter is made once per export from the collection's column list
 * (include/rest_query.h, struct rest_col: the list the JSON answer uses)
 * and turns each database row (one text per column, NULL = SQL NULL, times
 * as microseconds like the JSON path selects them) into one line:
 *
 * - CSV (RFC 4180): UTF-8, CRLF line ends, a header row of the JSON names;
 *   a cell is quoted when it holds a comma, a quote, CR or LF (quotes
 *   doubled), and an empty string is written "" while NULL is an empty
 *   cell. Booleans true/false, times ISO 8601 as in JSON, numbers as
 *   PostgreSQL prints them. An object column listed in `flat` (its keys
 *   fixed: a site's address) becomes one column per key, named
 *   "address.city"; any other JSON value (arrays, payloads, event data) is
 *   its compact JSON text in one cell.
 * - NDJSON: one JSON object per line, "\n" ended, exactly the object the
 *   JSON collection shows in `data` (same keys, order and values).
 *
 * REST_COL_HIDDEN columns are not shown; REST_COL_LIVE ones have no value
 * off the loop (the caller substitutes SQL equivalents first) and show as
 * null. A REST_COL_MERGE column (an object text made by a rows hook: an
 * active session's cost estimate) replaces the members of the same names,
 * as rest_row_json does; in NDJSON, members not among the columns are
 * added at the end, in CSV they have no column and are left out.
 */
#ifndef OCPPGW_REST_EXPORT_H
#define OCPPGW_REST_EXPORT_H

#include <stddef.h>

#include "rest_query.h"
#include "strbuf.h"

enum rest_export_format {
    REST_EXPORT_NONE,               /* the JSON answer */
    REST_EXPORT_CSV,                /* text/csv */
    REST_EXPORT_NDJSON              /* application/x-ndjson */
};

/*
 * What an Accept header asks of a collection: CSV or NDJSON when the
 * header prefers it to application/json (by q, then specificity); NONE
 * otherwise, also with no header, blank, or any of its wildcards (JSON
 * stays the default).
 */
enum rest_export_format rest_export_accept(const char *accept);
/* "text/csv; charset=utf-8", "application/x-ndjson" (static). */
const char *rest_export_content_type(enum rest_export_format f);
/* "csv", "ndjson" (static). */
const char *rest_export_extension(enum rest_export_format f);

struct rest_export_fmt;
/*
 * A formatter for rows of cols (copied; the names and SQL they point to
 * stay borrowed: static tables). flat: the object columns CSV flattens,
 * ended by an entry with col NULL (NULL: none); borrowed, static.
 */
struct rest_export_fmt *rest_export_fmt_new(enum rest_export_format f, const struct rest_col *cols,
                                            size_t ncols, const struct rest_export_flat *flat);
void rest_export_fmt_free(struct rest_export_fmt *fmt);
/* The header row (CSV) appended to out; nothing for NDJSON. */
void rest_export_fmt_head(const struct rest_export_fmt *fmt, struct strbuf *out);
/* One row (ncols values, NULL = SQL NULL) appended to out as a line. */
void rest_export_fmt_row(const struct rest_export_fmt *fmt, const char *const *values, struct strbuf *out);
/* Index of the REST_COL_MERGE column, -1 when there is none. */
int rest_export_fmt_merge_col(const struct rest_export_fmt *fmt);

#endif
