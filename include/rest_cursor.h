/*
 * Opaque cursors of the REST collections that grow without bound (sessions,
 * meter values, status history, audit log): a keyset position (sort key, row
 * id) plus what it is valid for, so that `after` / `before` resume exactly
 * after / before a row whatever was inserted meanwhile.
 *
 * Encoding: base64url without padding of 28 bytes
 *   version(1) kind(1) sort(1) flags(1) key(8, big-endian) id(8) check(8)
 * where check is the first 8 bytes of SHA-256("ocppgw-cursor" || the first
 * 20 bytes). Decoding is strict: exact length, alphabet, canonical trailing
 * bits, version, check. A cursor carries no authority (every query still
 * applies the key's charger restriction), so the check only has to catch
 * corrupted or hand-made cursors; it is not keyed per process, so cursors
 * survive a restart and work across gateways sharing a database.
 */
#ifndef OCPPGW_REST_CURSOR_H
#define OCPPGW_REST_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#define REST_CURSOR_VERSION 1
/* Encoded length plus NUL. */
#define REST_CURSOR_MAX 40

struct rest_cursor {
    uint8_t kind;       /* which collection (enum rest_list_kind) */
    uint8_t sort;       /* index of the sort field in the collection's table */
    bool desc;          /* order the cursor was made for */
    int64_t key;        /* sort key of the row (microseconds for times, else the value) */
    int64_t id;         /* the row's id (tie-break) */
};

/* Writes the encoded cursor into out (NUL-terminated). */
void rest_cursor_encode(const struct rest_cursor *c, char out[REST_CURSOR_MAX]);
/* Strict decode; false if s is not a cursor this version made. */
bool rest_cursor_decode(const char *s, struct rest_cursor *out);

#endif
