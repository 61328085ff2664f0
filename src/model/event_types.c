/*
 * Event types and subscription patterns (include/event_types.h).
 */
#include <string.h>

#include "event_types.h"

const char *const event_types[] = {
    "charger.created", "charger.updated", "charger.deleted",
    "charger.connected", "charger.disconnected", "charger.booted",
    "connector.status_changed",
    "session.started", "session.updated", "session.stopped",
    EVENT_TYPE_METER_VALUES,
    "command.completed", "command.failed",
    "firmware.status_changed", "diagnostics.status_changed", "data_transfer.received",
    "security.event",
    "token.created", "token.updated", "token.deleted",
    "load.allocation_changed", "load.profile_rejected",
    NULL
};

_Static_assert(sizeof event_types / sizeof event_types[0] <= EVENT_TYPES_MAX + 1, "EVENT_TYPES_MAX too small");

bool event_type_known(const char *type)
{
    for (size_t i = 0; event_types[i]; i++)
        if (strcmp(event_types[i], type) == 0)
            return true;
    return false;
}

bool event_type_matches(const char *pattern, const char *type)
{
    if (strcmp(pattern, type) == 0)
        return true;
    if (strcmp(type, EVENT_TYPE_METER_VALUES) == 0)
        return false;
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t n = strlen(pattern);
    return n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*' && strncmp(type, pattern, n - 1) == 0;
}

bool event_type_pattern_valid(const char *pattern)
{
    if (strcmp(pattern, "*") == 0 || event_type_known(pattern))
        return true;
    size_t n = strlen(pattern);
    if (n < 3 || pattern[n - 2] != '.' || pattern[n - 1] != '*' || memchr(pattern, '*', n - 1))
        return false;
    for (size_t i = 0; event_types[i]; i++)
        if (strcmp(event_types[i], EVENT_TYPE_METER_VALUES) != 0 && event_type_matches(pattern, event_types[i]))
            return true;
    return false;
}
