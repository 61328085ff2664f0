/*
 * Load management configuration rules (include/load_config.h): the texts a
 * current may have, deci-amperes, and a site's effective limit.
 */
#include <stdlib.h>
#include <string.h>

#include "load_config.h"

static const char *const strategy_names[] = { "equal", "priority" };

bool load_strategy_parse(const char *s, enum load_strategy *out)
{
    for (int i = 0; i < 2; i++)
        if (s && strcmp(s, strategy_names[i]) == 0) {
            *out = (enum load_strategy)i;
            return true;
        }
    return false;
}

const char *load_strategy_name(enum load_strategy s)
{
    return s == LOAD_STRATEGY_PRIORITY ? "priority" : "equal";
}

/*
 * The text of a JSON number as REST writes it ("%.17g": 32.1 is
 * "32.100000000000001") or as PostgreSQL prints a numeric: at most one
 * decimal once read as a double.
 */
bool load_current_text_valid(const char *text)
{
    char *end;
    double d = strtod(text, &end);
    if (end == text || *end)
        return false;
    double tenths = d * 10;
    double whole = (double)(long long)(tenths + (tenths >= 0 ? 0.5 : -0.5));
    double diff = tenths - whole;
    return diff < 1e-6 && diff > -1e-6;
}

bool load_phases_text_valid(const char *text)
{
    return strcmp(text, "1") == 0 || strcmp(text, "3") == 0;
}

bool load_current_parse_da(const char *text, int32_t *out)
{
    *out = LOAD_NONE;
    if (!text || !*text)
        return true;
    char *end;
    double d = strtod(text, &end);
    if (end == text || *end || !(d >= 0) || d > 214748364.0)
        return false;
    /* rounded down, but 32.1 read as 32.0999... is still 321 */
    *out = (int32_t)(d * 10 + 1e-6);
    return true;
}

int32_t load_effective_current_da(int32_t max_current_da, int64_t max_power_w, int voltage, int phases)
{
    int32_t from_power = LOAD_NONE;
    if (max_power_w > 0 && voltage > 0 && phases > 0) {
        int64_t da = max_power_w * 10 / ((int64_t)voltage * phases);
        from_power = da > INT32_MAX ? INT32_MAX : (int32_t)da;
    }
    if (max_current_da < 0)
        return from_power;
    if (from_power < 0)
        return max_current_da;
    return from_power < max_current_da ? from_power : max_current_da;
}
