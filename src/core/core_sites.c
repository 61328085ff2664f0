/*
 * The site registry: each site's load management configuration (sql/020)
 * in memory, for the load manager on the loop thread. It follows the sites
 * table as the charger registry follows chargers (core.c): every row at
 * start (serve.c), each row a NOTIFY on ocppgw_site announces
 * (STORE_OP_SITE_CHANGED, from any process), the whole table after the
 * database came back (STORE_OP_SITES_ALL, core_sites_sync). A row older
 * than the one held (registry_version) is not applied. Every change that
 * is applied is told to core_load_on_site_changed().
 */
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"
#include "util.h"

static bool same_config(const struct core_site *s, const struct store_site *row)
{
    return s->max_current_da == row->max_current_da && s->max_power_w == row->max_power_w &&
           s->lb_enabled == row->lb_enabled && s->strategy == row->strategy &&
           s->min_current_da == row->min_current_da && s->phases == row->phases &&
           s->voltage == row->voltage && s->redistribute == row->redistribute;
}

static void log_site(const struct core_site *s, const char *what)
{
    if (s->limit_da >= 0)
        log_info(NULL, "site registry: site '%s' %s: limit %d.%d A, load balancing %s (%s)", s->id, what,
                 s->limit_da / 10, s->limit_da % 10, s->lb_enabled ? "on" : "off",
                 load_strategy_name(s->strategy));
    else
        log_info(NULL, "site registry: site '%s' %s: no limit, load balancing %s", s->id, what,
                 s->lb_enabled ? "on" : "off");
}

void core_site_upsert(struct core *c, const struct store_site *row)
{
    struct core_site *s = hmap_get_str(c->sites, row->id);
    if (row->deleted) {
        if (!s)
            return;
        hmap_del_str(c->sites, row->id);
        log_info(NULL, "site registry: site '%s' deleted", row->id);
        free(s);
        c->registry_seq++;
        core_load_on_site_changed(c, row->id);
        return;
    }
    if (s && row->version < s->version) {
        log_debug(NULL, "site '%s': row version %lld older than the one held (%lld): not applied", row->id,
                  (long long)row->version, (long long)s->version);
        return;
    }
    bool added = !s;
    if (added) {
        s = xcalloc(1, sizeof *s);
        str_copy(s->id, sizeof s->id, row->id);
        hmap_put_str(c->sites, s->id, s);
    } else if (same_config(s, row)) {
        s->version = row->version;
        return;
    }
    s->max_current_da = row->max_current_da;
    s->max_power_w = row->max_power_w;
    s->lb_enabled = row->lb_enabled;
    s->strategy = row->strategy;
    s->min_current_da = row->min_current_da;
    s->phases = row->phases;
    s->voltage = row->voltage;
    s->redistribute = row->redistribute;
    s->limit_da = load_effective_current_da(row->max_current_da, row->max_power_w, row->voltage, row->phases);
    s->version = row->version;
    s->seq = ++c->registry_seq;
    log_site(s, added ? "added" : "changed");
    core_load_on_site_changed(c, s->id);
}

struct sites_sync {
    struct hmap *seen;
    uint64_t mark;
    char (*gone)[STORE_SITE_ID_MAX + 1];
    size_t n_gone;
};

static int collect_gone(void *ctx, const void *key, size_t klen, void *val)
{
    struct sites_sync *y = ctx;
    const struct core_site *s = val;
    if (!hmap_get(y->seen, key, klen) && s->seq <= y->mark)
        str_copy(y->gone[y->n_gone++], sizeof y->gone[0], s->id);
    return 0;
}

void core_sites_sync(struct core *c, const struct store_site *rows, size_t n, uint64_t mark)
{
    struct sites_sync y = { hmap_new(), mark, NULL, 0 };
    for (size_t i = 0; i < n; i++) {
        const struct core_site *s = hmap_get_str(c->sites, rows[i].id);
        if (!s || s->seq <= mark)
            core_site_upsert(c, &rows[i]);
        hmap_put_str(y.seen, rows[i].id, (void *)&rows[i]);
    }
    y.gone = xcalloc(hmap_count(c->sites) + 1, sizeof *y.gone);
    hmap_foreach(c->sites, collect_gone, &y);
    for (size_t i = 0; i < y.n_gone; i++) {
        struct store_site del = { .deleted = true };
        str_copy(del.id, sizeof del.id, y.gone[i]);
        core_site_upsert(c, &del);
    }
    log_info(NULL, "site registry reloaded: %zu sites, %zu removed", n, y.n_gone);
    free(y.gone);
    hmap_free(y.seen);
}

const struct core_site *core_site_get(const struct core *c, const char *site_id)
{
    return site_id && *site_id ? hmap_get_str(c->sites, site_id) : NULL;
}

size_t core_site_count(const struct core *c)
{
    return hmap_count(c->sites);
}

static int free_site(void *ctx, const void *key, size_t klen, void *val)
{
    (void)ctx, (void)key, (void)klen;
    free(val);
    return 0;
}

void core_sites_free(struct core *c)
{
    if (!c->sites)
        return;
    hmap_foreach(c->sites, free_site, NULL);
    hmap_free(c->sites);
    c->sites = NULL;
}
