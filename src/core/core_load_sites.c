/*
 * What the load manager asks the registry (core_internal.h, "core_load.c"):
 * a site's load balancing and a charger's site and current.
 * MERGE: placeholders until the site registry lands (loadcfg).
 */
#include "core_internal.h"

bool core_site_load_cfg(struct core *c, const char *site_id, struct core_load_site_cfg *out)
{
    (void)c, (void)site_id;
    *out = (struct core_load_site_cfg){ 0 };
    return false;
}

const char *core_charger_site_id(const struct core_charger *ch)
{
    (void)ch;
    return NULL;
}

int32_t core_charger_cap_da(const struct core *c, const struct core_charger *ch)
{
    (void)ch;
    return c->cfg.load_charger_max_da;
}
