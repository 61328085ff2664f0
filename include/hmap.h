/*
 * A chained hash map from byte-string keys to borrowed pointers. Used for the
 * charger registry (id -> charger), connections (64-bit id -> connection) and
 * per-IP throttling. The map copies keys and never owns values.
 */
#ifndef OCPPGW_HMAP_H
#define OCPPGW_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap;

struct hmap *hmap_new(void);
/* Frees the map and its keys, not the values. */
void hmap_free(struct hmap *m);

void *hmap_get(const struct hmap *m, const void *key, size_t klen);
/* Inserts or replaces; returns the previous value or NULL. */
void *hmap_put(struct hmap *m, const void *key, size_t klen, void *val);
/* Removes; returns the value or NULL. */
void *hmap_del(struct hmap *m, const void *key, size_t klen);
size_t hmap_count(const struct hmap *m);

/*
 * Calls fn for every entry. fn may delete the entry it is given (and only
 * that one) by returning 1; return 0 to keep it.
 */
void hmap_foreach(struct hmap *m, int (*fn)(void *ctx, const void *key, size_t klen, void *val),
                  void *ctx);

/* Removes every entry, passing each value to free() (maps that own malloc'd values). */
void hmap_clear_free(struct hmap *m);

/* Convenience for NUL-terminated string keys and 64-bit ids. */
#define hmap_get_str(m, s) hmap_get((m), (s), strlen(s))
#define hmap_put_str(m, s, v) hmap_put((m), (s), strlen(s), (v))
#define hmap_del_str(m, s) hmap_del((m), (s), strlen(s))
#define hmap_get_u64(m, id) hmap_get((m), &(uint64_t){ (id) }, sizeof(uint64_t))
#define hmap_put_u64(m, id, v) hmap_put((m), &(uint64_t){ (id) }, sizeof(uint64_t), (v))
#define hmap_del_u64(m, id) hmap_del((m), &(uint64_t){ (id) }, sizeof(uint64_t))

#endif
