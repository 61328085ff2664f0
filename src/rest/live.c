/*
 * REST's way to the core (include/rest_live.h): the core given to rest_init
 * (rest_io.core), reached through the request. The one place that decides
 * what handlers get when there is no core: as if no charger were connected
 * to this process (the header lists the answers).
 */
#include "framework.h"
#include "rest_live.h"

/* The core serving r, or NULL (one framework per process: the same for every request). */
static struct core *core_of(const struct rest_request *r)
{
    (void)r;
    return rest_io()->core;
}

bool rest_charger_connected(const struct rest_request *r, const char *charger_id)
{
    struct core *c = core_of(r);
    return c && charger_id && core_charger_connected(c, charger_id);
}

int64_t rest_charger_last_seen(const struct rest_request *r, const char *charger_id)
{
    struct core *c = core_of(r);
    return c && charger_id ? core_charger_last_seen(c, charger_id) : 0;
}

void rest_charger_committed(const struct rest_request *r, const struct store_charger *row)
{
    struct core *c = core_of(r);
    if (c)
        core_charger_upsert(c, row);
}

bool rest_connector_startable(const struct rest_request *r, const char *charger_id,
                              int connector_id, char *status)
{
    struct core *c = core_of(r);
    if (!c) {
        status[0] = '\0';
        return true;
    }
    return core_connector_startable(c, charger_id, connector_id, status);
}

enum core_call_err rest_command_submit(const struct rest_request *r,
                                       const struct core_command_req *req, core_command_cb cb,
                                       void *user, char *out_id)
{
    struct core *c = core_of(r);
    if (!c)
        return CORE_CALL_ERR_OFFLINE;
    return core_command_submit(c, req, cb, user, out_id, NULL);
}

enum core_call_err rest_power_limit_submit(const struct rest_request *r, const struct core_command_req *req,
                                           int32_t limit_da, core_command_cb cb, void *user, char *out_id)
{
    struct core *c = core_of(r);
    if (!c)
        return CORE_CALL_ERR_OFFLINE;
    return core_power_limit_command(c, req, limit_da, cb, user, out_id);
}

bool rest_command_find(const struct rest_request *r, const char *id,
                       void (*fn)(void *user, const struct core_command_view *v), void *user)
{
    struct core *c = core_of(r);
    return c && core_command_find(c, id, fn, user);
}
