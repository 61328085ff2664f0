/*
 * ISO 3166-1 alpha-2 country codes: the 249 officially assigned ones (the
 * list the tz database ships as iso3166.tab), compiled in.
 */
#ifndef OCPPGW_ISO3166_H
#define OCPPGW_ISO3166_H

#include <stdbool.h>

/* True if s is an assigned alpha-2 code, in capitals ("DE"; not "de", "EU" or "XK"). */
bool iso3166_alpha2(const char *s);

#endif
