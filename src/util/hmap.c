/*
 * Chained hash map with FNV-1a hashing and power-of-two tables that double at
 * load factor 1. Keys are copied into the node; values are borrowed.
 */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "util.h"

struct hnode {
    struct hnode *next;
    uint64_t hash;
    void *val;
    size_t klen;
    unsigned char key[];
};

struct hmap {
    struct hnode **slots;
    size_t nslots;
    size_t count;
};

static uint64_t fnv1a(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct hmap *hmap_new(void)
{
    struct hmap *m = xcalloc(1, sizeof *m);
    m->nslots = 64;
    m->slots = xcalloc(m->nslots, sizeof *m->slots);
    return m;
}

void hmap_free(struct hmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        struct hnode *n = m->slots[i];
        while (n) {
            struct hnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->slots);
    free(m);
}

static struct hnode **find(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
    struct hnode **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    }
    return pp;
}

static void grow(struct hmap *m)
{
    size_t n = m->nslots * 2;
    struct hnode **slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < m->nslots; i++) {
        struct hnode *node = m->slots[i];
        while (node) {
            struct hnode *next = node->next;
            struct hnode **dst = &slots[node->hash & (n - 1)];
            node->next = *dst;
            *dst = node;
            node = next;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
    struct hnode **pp = find(m, key, klen, fnv1a(key, klen));
    return *pp ? (*pp)->val : NULL;
}

void *hmap_put(struct hmap *m, const void *key, size_t klen, void *val)
{
    uint64_t h = fnv1a(key, klen);
    struct hnode **pp = find(m, key, klen, h);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    struct hnode *n = xmalloc(sizeof *n + klen);
    n->next = NULL;
    n->hash = h;
    n->val = val;
    n->klen = klen;
    memcpy(n->key, key, klen);
    *pp = n;
    if (++m->count > m->nslots)
        grow(m);
    return NULL;
}

void *hmap_del(struct hmap *m, const void *key, size_t klen)
{
    struct hnode **pp = find(m, key, klen, fnv1a(key, klen));
    if (!*pp)
        return NULL;
    struct hnode *n = *pp;
    void *val = n->val;
    *pp = n->next;
    free(n);
    m->count--;
    return val;
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

void hmap_foreach(struct hmap *m, int (*fn)(void *ctx, const void *key, size_t klen, void *val),
                  void *ctx)
{
    for (size_t i = 0; i < m->nslots; i++) {
        struct hnode **pp = &m->slots[i];
        while (*pp) {
            struct hnode *n = *pp;
            if (fn(ctx, n->key, n->klen, n->val)) {
                *pp = n->next;
                free(n);
                m->count--;
            } else {
                pp = &n->next;
            }
        }
    }
}

static int free_value(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    free(val);
    return 1;
}

void hmap_clear_free(struct hmap *m)
{
    hmap_foreach(m, free_value, NULL);
}
