/*
 * Private to src/store/: the statement cache of one store connection, a
 * bounded least-recently-used map from SQL text (STORE_OP_SQL jobs: REST's
 * query shapes) to the name it is prepared under on that connection. Plain
 * C, no libpq: pipeline.c sends the PREPAREs and DEALLOCATEs it asks for.
 *
 * Names are "ocppgw_sql_<n>" with n never reused in the process, so a name
 * whose DEALLOCATE is still on its way cannot collide with a new statement.
 * When a new text would pass the capacity, the least recently used entry
 * goes and, if it had been sent to the server (preparing or ready), its
 * name waits in the eviction queue for pipeline.c to DEALLOCATE. So the
 * server holds at most cap statements plus those evicted during the batch
 * in flight.
 */
#ifndef OCPPGW_STORE_STMT_CACHE_H
#define OCPPGW_STORE_STMT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STMT_CACHE_DEFAULT 256
#define STMT_NAME_MAX 32

enum sql_state { SQL_UNPREPARED, SQL_PREPARING, SQL_READY };

struct stmt_entry {
    char *sql;                      /* owned copy of the text */
    char name[STMT_NAME_MAX];
    uint32_t seq;                   /* the n of the name; finds the entry again (stmt_cache_by_seq) */
    enum sql_state state;
    struct stmt_entry *prev, *next; /* the LRU list, most recently used first */
};

struct stmt_cache {
    struct hmap *by_sql;            /* text -> entry (owned) */
    struct hmap *by_seq;            /* seq -> the same entry */
    struct stmt_entry lru;          /* sentinel of the LRU list */
    size_t n, cap;
    uint32_t next_seq;
    char (*evicted)[STMT_NAME_MAX]; /* names to DEALLOCATE */
    size_t nevicted, capevicted;
    uint64_t evictions;             /* in the process's life, for the log and tests */
};

/* An empty cache of at most cap entries (0 = STMT_CACHE_DEFAULT). */
void stmt_cache_init(struct stmt_cache *c, size_t cap);
void stmt_cache_free(struct stmt_cache *c);

/*
 * The entry of sql (copied when new), now the most recently used. A new
 * entry is SQL_UNPREPARED; making it may evict the least recently used one
 * (its name queued when it had reached the server). The pointer is valid
 * until the next stmt_cache_get or stmt_cache_clear.
 */
struct stmt_entry *stmt_cache_get(struct stmt_cache *c, const char *sql);

/* The entry named with that seq, or NULL when it was evicted since. */
struct stmt_entry *stmt_cache_by_seq(const struct stmt_cache *c, uint32_t seq);

/* Pops a name waiting for DEALLOCATE into name; false when none. */
bool stmt_cache_take_evicted(struct stmt_cache *c, char name[STMT_NAME_MAX]);

/* The connection is gone: every entry and queued name dropped (the server forgot them). */
void stmt_cache_clear(struct stmt_cache *c);

#endif
