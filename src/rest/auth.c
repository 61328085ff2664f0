/*
 * API keys for REST: an in-memory cache of table api_keys, so a request is
 * authenticated without a database round trip (SHA-256 of the presented
 * secret, one hash-map lookup).
 *
 * The cache follows the table: loaded before the loop starts (main.c, like
 * the charger registry), changed by STORE_OP_APIKEY_CHANGED jobs that the
 * REST store makes from NOTIFY on channel ocppgw_apikey (a trigger in
 * sql/003_rest.sql; any process, e.g. `ocppgw apikey revoke`), reloaded in
 * full whenever the REST store (re)connects (notifications sent while it was
 * down are lost), and told directly by the key handlers of this process
 * (rest_auth_key_created/revoked) so that their very next request sees it.
 *
 * Entries are reference-counted: a request keeps the entry it authenticated
 * with, so a revocation while a request is parked never frees what the
 * handler reads. last_used_at is written behind, one statement a second for
 * every key used meanwhile. Secrets are never logged; only ids are.
 *
 * A leaf: no request, no store. The framework runs the statements (the
 * lookup in dispatch.c, the reload and the last_used_at flush in
 * framework.c) and hands the rows here; a key leaving the cache is told to
 * whoever rest_auth_init was given (the dispatcher's rate limiter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "framework.h"
#include "hmap.h"
#include "secret.h"
#include "store_job.h"
#include "util.h"

#define KEY_MAX 512                 /* a longer presented secret is not ours */
#define MISS_MS 60000               /* a hash the database did not know is refused from memory this long */
#define MISS_MAX 10000              /* ... for at most this many hashes */

static struct {
    struct hmap *by_hash;           /* hex SHA-256 -> entry (the cache's reference) */
    struct hmap *by_id;             /* id -> the same entry */
    struct hmap *missed;            /* hex SHA-256 -> int64_t (owned) until when it is refused */
    uint64_t gen;
    bool reloading;
    void (*key_gone)(int64_t key_id);
} A;

const char rest_auth_lookup_sql[] =
    "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";
const char rest_auth_reload_sql[] =
    "SELECT " STORE_APIKEY_COLUMNS " FROM api_keys WHERE revoked_at IS NULL";

void rest_auth_init(void (*key_gone)(int64_t key_id))
{
    A.key_gone = key_gone;
    A.by_hash = hmap_new();
    A.by_id = hmap_new();
    A.missed = hmap_new();
    A.gen = 0;
    A.reloading = false;
}

void rest_auth_missed(const char *hash, int64_t now_ms)
{
    if (!A.missed)
        return;
    if (hmap_count(A.missed) >= MISS_MAX)
        hmap_clear_free(A.missed);
    int64_t *until = hmap_get_str(A.missed, hash);
    if (!until) {
        until = xmalloc(sizeof *until);
        hmap_put_str(A.missed, hash, until);
    }
    *until = now_ms + MISS_MS;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void entry_free(struct rest_key_entry *e)
{
    free_strv(e->key.scopes);
    free_strv(e->key.charger_ids);
    free_strv(e->key.site_ids);
    free(e);
}

void rest_key_unref(struct rest_key_entry *e)
{
    if (e && --e->refs == 0)
        entry_free(e);
}

static int drop_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    struct rest_key_entry *e = val;
    e->live = false;
    rest_key_unref(e);
    return 1;
}

void rest_auth_free(void)
{
    if (!A.by_id)
        return;
    hmap_free(A.by_hash);
    hmap_foreach(A.by_id, drop_cb, NULL);
    hmap_free(A.by_id);
    hmap_clear_free(A.missed);
    hmap_free(A.missed);
    memset(&A, 0, sizeof A);
}

size_t rest_auth_count(void)
{
    return A.by_id ? hmap_count(A.by_id) : 0;
}

/* A JSON array of strings as a NULL-terminated vector; NULL text = NULL. */
static char **strv_from_json(const char *json, bool null_is_empty)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return null_is_empty ? xcalloc(1, sizeof(char *)) : NULL;
    }
    char **v = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *v);
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
        if (cJSON_IsString(it))
            v[n++] = xstrdup(it->valuestring);
    cJSON_Delete(a);
    return v;
}

static void gone(int64_t key_id)
{
    if (A.key_gone)
        A.key_gone(key_id);
}

/* Takes the cache's entry for id out of both maps (unreferenced by the caller). */
static struct rest_key_entry *take(int64_t id)
{
    struct rest_key_entry *e = hmap_del_u64(A.by_id, (uint64_t)id);
    if (e && hmap_get_str(A.by_hash, e->hash) == e)
        hmap_del_str(A.by_hash, e->hash);
    if (e)
        e->live = false;
    return e;
}

void rest_auth_apply(const struct store_apikey *row)
{
    if (!A.by_id)
        return;
    struct rest_key_entry *old = take(row->id);
    if (row->deleted || strlen(row->key_hash) != 64) {
        if (old)
            log_info(NULL, "rest: API key %lld revoked", (long long)row->id);
        rest_key_unref(old);
        gone(row->id);
        return;
    }
    struct rest_key_entry *e = xcalloc(1, sizeof *e);
    e->key.id = row->id;
    str_copy(e->key.name, sizeof e->key.name, row->name);
    e->key.scopes = strv_from_json(row->scopes_json, true);
    e->key.charger_ids = strv_from_json(row->charger_ids_json, false);
    e->key.site_ids = strv_from_json(row->site_ids_json, false);
    e->key.expires_ms = row->expires_ms;
    for (size_t i = 0; i < 64; i++)     /* hex of the table is lower-case; make sure */
        e->hash[i] = (char)(row->key_hash[i] >= 'A' && row->key_hash[i] <= 'F'
                            ? row->key_hash[i] - 'A' + 'a' : row->key_hash[i]);
    e->refs = 1;
    e->live = true;
    e->gen = A.gen;
    if (old) {
        e->used_ms = old->used_ms;
        e->flushed_ms = old->flushed_ms;
        rest_key_unref(old);
    }
    /* a hash that belonged to another id (impossible: key_hash is UNIQUE) loses the old one */
    struct rest_key_entry *clash = hmap_get_str(A.by_hash, e->hash);
    if (clash)
        rest_key_unref(take(clash->key.id));
    free(hmap_del_str(A.missed, e->hash));
    hmap_put_str(A.by_hash, e->hash, e);
    hmap_put_u64(A.by_id, (uint64_t)e->key.id, e);
}

struct rest_key_entry *rest_auth_current(const char *hash)
{
    return A.by_hash ? hmap_get_str(A.by_hash, hash) : NULL;
}

void rest_auth_reload_begin(void)
{
    A.gen++;
    A.reloading = true;
}

static int stale_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct rest_key_entry *e = val;
    if (e->gen == *(uint64_t *)ctx)
        return 0;
    if (hmap_get_str(A.by_hash, e->hash) == e)
        hmap_del_str(A.by_hash, e->hash);
    log_info(NULL, "rest: API key %lld no longer valid", (long long)e->key.id);
    gone(e->key.id);
    e->live = false;
    rest_key_unref(e);
    return 1;
}

void rest_auth_reload_end(void)
{
    if (!A.reloading)
        return;
    A.reloading = false;
    hmap_foreach(A.by_id, stale_cb, &A.gen);
}

/*
 * No constant-time comparison here, on purpose: the secret is never compared
 * with anything. Its SHA-256 is the hash-map key; a timing difference in the
 * lookup can tell an attacker at most something about the SHA-256 of a value
 * they chose themselves, which does not help find a secret whose hash is
 * stored (that would need a preimage). The stored hashes never leave the
 * process and the secret itself is never logged.
 */
enum rest_auth_result rest_auth_check(const char *authorization, const char *x_api_key,
                                      int64_t now_ms, struct rest_key_entry **out, char hash[65])
{
    *out = NULL;
    hash[0] = '\0';
    const char *secret = NULL;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0)
        secret = authorization + 7;
    else if (x_api_key)
        secret = x_api_key;
    if (!secret)
        return REST_AUTH_NONE;
    while (*secret == ' ')
        secret++;
    size_t n = strlen(secret);
    while (n && secret[n - 1] == ' ')
        n--;
    if (n == 0)
        return REST_AUTH_NONE;
    if (n > KEY_MAX || !A.by_hash)
        return REST_AUTH_INVALID;
    secret_sha256_hex(secret, n, hash);
    struct rest_key_entry *e = hmap_get_str(A.by_hash, hash);
    if (!e) {
        /* made a moment ago (its NOTIFY not here yet), or not a key at all */
        int64_t *until = hmap_get_str(A.missed, hash);
        if (until && now_ms < *until)
            return REST_AUTH_INVALID;
        return REST_AUTH_UNKNOWN;
    }
    if (e->key.expires_ms && now_ms >= e->key.expires_ms)
        return REST_AUTH_INVALID;
    e->refs++;
    e->used_ms = now_ms;
    *out = e;
    return REST_AUTH_OK;
}

bool rest_key_has_scope(const struct rest_key *k, const char *scope)
{
    if (!k)
        return false;
    for (char **s = k->scopes; s && *s; s++)
        if (strcmp(*s, "admin") == 0 || (scope && strcmp(*s, scope) == 0))
            return true;
    return !scope;
}

bool rest_key_allows_charger(const struct rest_key *k, const char *charger_id)
{
    if (!k || !k->charger_ids)
        return k != NULL;
    for (char **s = k->charger_ids; *s; s++)
        if (charger_id && strcmp(*s, charger_id) == 0)
            return true;
    return false;
}

void rest_auth_apply_row(const char *const *cells)
{
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    const char *v;
    k.id = (v = cells[0]) ? strtoll(v, NULL, 10) : 0;
    str_copy(k.name, sizeof k.name, (v = cells[1]) ? v : "");
    str_copy(k.key_hash, sizeof k.key_hash, (v = cells[2]) ? v : "");
    k.scopes_json = (char *)cells[3];      /* borrowed: apply copies */
    k.charger_ids_json = (char *)cells[4];
    k.site_ids_json = (char *)cells[5];
    k.expires_ms = (v = cells[6]) ? strtoll(v, NULL, 10) : 0;
    k.deleted = (v = cells[7]) && v[0] == 't';
    rest_auth_apply(&k);
}

/* ---- told by the key handlers ---- */

static char *json_text(const struct cJSON *a)
{
    return cJSON_IsArray(a) ? cJSON_PrintUnformatted(a) : NULL;
}

void rest_auth_key_created(int64_t id, const char *name, const char *key_hash_hex,
                           const struct cJSON *scopes, const struct cJSON *charger_ids,
                           const struct cJSON *site_ids, int64_t expires_ms)
{
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    k.id = id;
    str_copy(k.name, sizeof k.name, name ? name : "");
    str_copy(k.key_hash, sizeof k.key_hash, key_hash_hex ? key_hash_hex : "");
    k.scopes_json = json_text(scopes);
    k.charger_ids_json = json_text(charger_ids);
    k.site_ids_json = json_text(site_ids);
    k.expires_ms = expires_ms;
    rest_auth_apply(&k);
    store_apikey_clear(&k);
}

void rest_auth_key_revoked(int64_t id)
{
    struct store_apikey k;
    memset(&k, 0, sizeof k);
    k.id = id;
    k.deleted = true;
    rest_auth_apply(&k);
}

/* ---- last_used_at, written behind ---- */

struct used_batch {
    struct strbuf *ids, *ms;
    size_t n;
};

static int used_cb(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct used_batch *b = ctx;
    struct rest_key_entry *e = val;
    if (e->used_ms <= e->flushed_ms)
        return 0;
    strbuf_putc(b->ids, b->n ? ',' : '{');
    strbuf_put_int(b->ids, e->key.id);
    strbuf_putc(b->ms, b->n ? ',' : '{');
    strbuf_put_int(b->ms, e->used_ms);
    e->flushed_ms = e->used_ms;
    b->n++;
    return 0;
}

const char rest_auth_used_sql[] =
    "UPDATE api_keys k SET last_used_at = to_timestamp(u.ms / 1000.0)"
    " FROM unnest($1::bigint[], $2::bigint[]) AS u(id, ms)"
    " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < to_timestamp(u.ms / 1000.0))";

size_t rest_auth_take_used(struct strbuf *ids, struct strbuf *ms)
{
    if (!A.by_id)
        return 0;
    struct used_batch b = { ids, ms, 0 };
    hmap_foreach(A.by_id, used_cb, &b);
    if (b.n) {
        strbuf_putc(ids, '}');
        strbuf_putc(ms, '}');
    }
    return b.n;
}
