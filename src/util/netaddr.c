/*
 * IP address classes for the webhook SSRF rule (include/netaddr.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"

enum netaddr_class netaddr_class_v4(const uint8_t a[4])
{
    if (a[0] == 0)
        return NETADDR_UNSPECIFIED;
    if (a[0] == 127)
        return NETADDR_LOOPBACK;
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
        (a[0] == 100 && (a[1] & 0xc0) == 64))
        return NETADDR_PRIVATE;
    if (a[0] == 169 && a[1] == 254)
        return NETADDR_LINK_LOCAL;
    if ((a[0] & 0xf0) == 224)
        return NETADDR_MULTICAST;
    if ((a[0] & 0xf0) == 240 || (a[0] == 192 && a[1] == 0 && a[2] == 0) || (a[0] == 198 && (a[1] & 0xfe) == 18))
        return NETADDR_RESERVED;
    return NETADDR_PUBLIC;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

enum netaddr_class netaddr_class_v6(const uint8_t a[16])
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (all_zero(a, 15))
        return a[15] == 1 ? NETADDR_LOOPBACK : a[15] == 0 ? NETADDR_UNSPECIFIED : NETADDR_RESERVED;
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 || all_zero(a, 12))
        return netaddr_class_v4(a + 12);            /* ::ffff:v4, 64:ff9b::v4, ::v4 */
    if (a[0] == 0x20 && a[1] == 0x02)
        return netaddr_class_v4(a + 2);             /* 6to4: 2002:v4::/48 */
    if (a[0] == 0xff)
        return NETADDR_MULTICAST;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return NETADDR_LINK_LOCAL;
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0))
        return NETADDR_PRIVATE;                     /* unique local, deprecated site-local */
    if ((a[0] & 0xe0) != 0x20)
        return NETADDR_RESERVED;                    /* outside 2000::/3, the global unicast space */
    return NETADDR_PUBLIC;
}

enum netaddr_class netaddr_class_sa(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return netaddr_class_v4((const uint8_t *)&in->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return netaddr_class_v6(in6->sin6_addr.s6_addr);
    }
    return NETADDR_RESERVED;
}

bool netaddr_class_text(const char *text, enum netaddr_class *out)
{
    uint8_t buf[16];
    if (inet_pton(AF_INET, text, buf) == 1) {
        *out = netaddr_class_v4(buf);
        return true;
    }
    if (inet_pton(AF_INET6, text, buf) == 1) {
        *out = netaddr_class_v6(buf);
        return true;
    }
    return false;
}

const char *netaddr_class_name(enum netaddr_class c)
{
    switch (c) {
    case NETADDR_PUBLIC: return "public";
    case NETADDR_LOOPBACK: return "loopback";
    case NETADDR_PRIVATE: return "private";
    case NETADDR_LINK_LOCAL: return "link-local";
    case NETADDR_MULTICAST: return "multicast";
    case NETADDR_UNSPECIFIED: return "unspecified";
    case NETADDR_RESERVED: return "reserved";
    }
    return "reserved";
}
