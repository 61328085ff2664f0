/*
 * Where an IP address points (src/util/netaddr.c), for the webhook
 * delivery's SSRF rule (events.md, "Safety"): destinations in loopback,
 * private, link-local, multicast and other non-public ranges are refused
 * unless webhooks.allow_private. IPv4-mapped (::ffff:a.b.c.d), IPv4-
 * compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
 * addresses are judged by the IPv4 address inside them.
 */
#ifndef OCPPGW_NETADDR_H
#define OCPPGW_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

enum netaddr_class {
    NETADDR_PUBLIC,
    NETADDR_LOOPBACK,           /* 127/8, ::1 */
    NETADDR_PRIVATE,            /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */
    NETADDR_LINK_LOCAL,         /* 169.254/16, fe80::/10 */
    NETADDR_MULTICAST,          /* 224/4, ff00::/8 */
    NETADDR_UNSPECIFIED,        /* 0/8, :: */
    NETADDR_RESERVED            /* 240/4 and broadcast, 192.0.0/24, 198.18/15, other odd ranges */
};

/* The class of a 4-byte IPv4 address (network order). */
enum netaddr_class netaddr_class_v4(const uint8_t a[4]);
/* The class of a 16-byte IPv6 address (network order). */
enum netaddr_class netaddr_class_v6(const uint8_t a[16]);
/* The class of a socket address (AF_INET / AF_INET6; any other family: NETADDR_RESERVED). */
enum netaddr_class netaddr_class_sa(const struct sockaddr *sa);
/* The class of a numeric address text ("10.0.0.1", "::ffff:127.0.0.1"); false if it is not one. */
bool netaddr_class_text(const char *text, enum netaddr_class *out);
/* "loopback", "private", ... for messages. */
const char *netaddr_class_name(enum netaddr_class c);

#endif
