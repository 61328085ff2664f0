/*
 * The statement cache of a store connection: a bounded LRU from SQL text to
 * prepared-statement name (stmt_cache.h). A hash map finds an entry by text
 * (and by its name's number, for the PREPARE's result); a doubly linked
 * list keeps the use order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "stmt_cache.h"
#include "util.h"

static void unlink_entry(struct stmt_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void push_front(struct stmt_cache *c, struct stmt_entry *e)
{
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

void stmt_cache_init(struct stmt_cache *c, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->cap = cap ? cap : STMT_CACHE_DEFAULT;
    c->by_sql = hmap_new();
    c->by_seq = hmap_new();
    c->lru.next = c->lru.prev = &c->lru;
}

static void queue_evicted(struct stmt_cache *c, const char *name)
{
    if (c->nevicted == c->capevicted) {
        c->capevicted = c->capevicted ? c->capevicted * 2 : 16;
        c->evicted = xrealloc(c->evicted, c->capevicted * sizeof *c->evicted);
    }
    memcpy(c->evicted[c->nevicted++], name, STMT_NAME_MAX);
}

static void drop(struct stmt_cache *c, struct stmt_entry *e)
{
    unlink_entry(e);
    hmap_del_str(c->by_sql, e->sql);
    hmap_del(c->by_seq, &e->seq, sizeof e->seq);
    free(e->sql);
    free(e);
    c->n--;
}

struct stmt_entry *stmt_cache_get(struct stmt_cache *c, const char *sql)
{
    struct stmt_entry *e = hmap_get_str(c->by_sql, sql);
    if (e) {
        unlink_entry(e);
        push_front(c, e);
        return e;
    }
    while (c->n >= c->cap) {
        struct stmt_entry *old = c->lru.prev;
        if (old->state != SQL_UNPREPARED)
            queue_evicted(c, old->name);
        c->evictions++;
        drop(c, old);
    }
    e = xcalloc(1, sizeof *e);
    e->sql = xstrdup(sql);
    e->seq = c->next_seq++;
    snprintf(e->name, sizeof e->name, "ocppgw_sql_%u", (unsigned)e->seq);
    e->state = SQL_UNPREPARED;
    hmap_put_str(c->by_sql, e->sql, e);
    hmap_put(c->by_seq, &e->seq, sizeof e->seq, e);
    push_front(c, e);
    c->n++;
    return e;
}

struct stmt_entry *stmt_cache_by_seq(const struct stmt_cache *c, uint32_t seq)
{
    return hmap_get(c->by_seq, &seq, sizeof seq);
}

bool stmt_cache_take_evicted(struct stmt_cache *c, char name[STMT_NAME_MAX])
{
    if (!c->nevicted)
        return false;
    memcpy(name, c->evicted[--c->nevicted], STMT_NAME_MAX);
    return true;
}

void stmt_cache_clear(struct stmt_cache *c)
{
    while (c->lru.next != &c->lru)
        drop(c, c->lru.next);
    c->nevicted = 0;
}

void stmt_cache_free(struct stmt_cache *c)
{
    if (!c->by_sql)
        return;
    stmt_cache_clear(c);
    hmap_free(c->by_sql);
    hmap_free(c->by_seq);
    free(c->evicted);
    memset(c, 0, sizeof *c);
}
