/*
 * Where the load manager hears of configuration changes (core_internal.h):
 * empty until the load manager (core_load.c) takes these over. Kept apart
 * so that the registries call them whatever the manager does.
 */
#include "core_internal.h"

void core_load_on_site_changed(struct core *c, const char *site_id)
{
    (void)c, (void)site_id;
}

void core_load_on_charger_changed(struct core *c, struct core_charger *ch)
{
    (void)c, (void)ch;
}
