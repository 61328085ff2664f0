/*
 * Api-Version: the dated revisions of the v1 API, in one table. A request
 * names one with the `Api-Version: VYYYY_MM_DD` header (absent: the newest,
 * the first row); an unknown name is a 400. A deprecated revision still
 * works and its responses say so (X-API-Deprecated: true, X-API-Sunset-Date).
 * V2026_01_01 exists for the deprecation path to be testable; it behaves as
 * the current revision.
 */
#include <string.h>

#include "framework.h"

static const struct rest_revision revisions[] = {
    { "V2026_11_21", false, NULL },            /* current: first */
    { "V2026_01_01", true, "2027-06-30" },
};

const struct rest_revision *rest_revision_current(void)
{
    return &revisions[0];
}

const struct rest_revision *rest_revision_find(const char *value)
{
    if (!value || !*value)
        return rest_revision_current();
    for (size_t i = 0; i < sizeof revisions / sizeof revisions[0]; i++)
        if (strcmp(value, revisions[i].name) == 0)
            return &revisions[i];
    return NULL;
}
