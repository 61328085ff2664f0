/*
 * cJSON allocates through xmalloc, so running out of memory inside a parse
 * or a print aborts like everywhere else (STYLE: out of memory aborts)
 * instead of surfacing as a NULL that would read as "malformed". Both JSON
 * sides (this wire layer and src/rest/) rely on it; the process and every
 * test that builds JSON call ocpp_json_init() once before the first parse.
 */
#include <stdlib.h>

#include <cJSON.h>

#include "ocpp.h"
#include "util.h"

static void *json_malloc(size_t n)
{
    return xmalloc(n);
}

void ocpp_json_init(void)
{
    cJSON_Hooks hooks = { .malloc_fn = json_malloc, .free_fn = free };
    cJSON_InitHooks(&hooks);
}
