/*
 * Files compiled into the binary by tools/embed.c: the OCPP 1.6 JSON schemas
 * and the SQL migrations. Nothing has to be found on disk at run time, so the
 * installed binary, the tests and `make run` all see the same bytes.
 */
#ifndef OCPPGW_EMBEDDED_H
#define OCPPGW_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name;           /* base name, e.g. "001_init.sql" */
    const unsigned char *data;  /* NUL-terminated (not counted in len) */
    size_t len;
};

/* Sorted by name. Static storage: borrowed, never freed. */
extern const struct embedded_file embedded_files[];
extern const size_t embedded_files_count;

/* Borrowed pointer to the file with that base name, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
