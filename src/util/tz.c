/* Time zones by name from the system tz database (include/tz.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tz.h"

const char *tz_dir(void)
{
    const char *d = getenv("OCPPGW_ZONEINFO");
    return d && *d ? d : "/usr/share/zoneinfo";
}

/* The name's characters and components (no "", ".", ".." component: no way out of tz_dir). */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (const char *s = name; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '/' ||
              *s == '_' || *s == '-' || *s == '+' || *s == '.'))
            return false;
    for (const char *c = name; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
        size_t len = strcspn(c, "/");
        if (len == 0 || c[0] == '.')
            return false;
    }
    return true;
}

bool tz_exists(const char *name)
{
    if (!name || !name_ok(name))
        return false;
    char path[512];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", tz_dir(), name) >= sizeof path)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char magic[4];
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    return got == 4 && memcmp(magic, "TZif", 4) == 0;
}
