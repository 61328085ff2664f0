/*
 * Exports (model): what the REST layer asks of an export thread
 * (include/store.h, store_export_begin) and what comes back. An export
 * runs one statement through a cursor on a connection of its own and
 * streams its rows, formatted off the loop by the functions the request
 * carries (the REST layer's CSV / NDJSON formatter, include/rest_export.h),
 * in bounded chunks the loop takes one by one.
 */
#ifndef OCPPGW_STORE_EXPORT_H
#define OCPPGW_STORE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "store_job.h"
#include "strbuf.h"

/* What an export runs and how its rows are written; handed over whole at begin. */
struct store_export_req {
    char *sql;                      /* owned: one SELECT, run through DECLARE ... CURSOR */
    int nparams;
    char **params;                  /* owned array of owned strings (NULL entry = SQL NULL) */
    /*
     * Run over each batch of rows before they are formatted (an active
     * session's cost estimate): the batch is given as a job whose out.sql
     * holds the one column hook.col of the rows (as column 0), which fn
     * may rewrite. fn NULL: none.
     */
    struct store_rows_hook hook;
    /* on the export thread: the lines before the rows (CSV header), then one per row */
    void (*head)(void *fmt, struct strbuf *out);
    void (*row)(void *fmt, const char *const *values, struct strbuf *out);
    void (*fmt_free)(void *fmt);    /* when the export is freed */
    void *fmt;
};

/* Frees what a request owns (its formatter too); NULL fine. */
void store_export_req_clear(struct store_export_req *req);

/* Where an export stands, as the loop sees it (store_export_take). */
enum store_export_state {
    STORE_EXPORT_RUNNING,           /* more will come */
    STORE_EXPORT_DONE,              /* every row was read and formatted (chunks may still wait) */
    STORE_EXPORT_UNAVAILABLE,       /* the database could not be reached or went away */
    STORE_EXPORT_FAILED             /* the statement failed */
};

#endif
