/*
 * What the load manager asks the registries (core_internal.h, "core_load.c"):
 * a site's load balancing, a charger's site and the current it may draw.
 */
#include <string.h>

#include "core_internal.h"

bool core_site_load_cfg(struct core *c, const char *site_id, struct core_load_site_cfg *out)
{
    *out = (struct core_load_site_cfg){ 0 };
    const struct core_site *s = site_id ? core_site_get(c, site_id) : NULL;
    if (!s)
        return false;
    *out = (struct core_load_site_cfg){
        .enabled = s->lb_enabled && s->limit_da != LOAD_NONE,
        .limit_da = s->limit_da == LOAD_NONE ? 0 : s->limit_da,
        .strategy = s->strategy,
        .min_da = s->min_current_da == LOAD_NONE ? 0 : s->min_current_da,
        .phases = s->phases,
        .voltage = s->voltage,
        .redistribute = s->redistribute,
    };
    return true;
}

const char *core_charger_site_id(const struct core_charger *ch)
{
    return ch && ch->site_id[0] ? ch->site_id : NULL;
}

int32_t core_charger_cap_da(const struct core *c, const struct core_charger *ch)
{
    int32_t cap = ch && ch->max_current_da != LOAD_NONE ? ch->max_current_da : c->cfg.load_charger_max_da;
    if (ch && ch->power_limit_da != LOAD_NONE && ch->power_limit_da < cap)
        cap = ch->power_limit_da;
    return cap;
}
