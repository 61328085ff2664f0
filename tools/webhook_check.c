/*
 * A webhook receiver's checks (webhook_check.h): request framing, headers,
 * the Standard Webhooks signature, with OpenSSL's HMAC and base64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "webhook_check.h"

int whcheck_key(const char *secret, unsigned char *key, size_t cap)
{
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    size_t slen = strlen(secret);
    if (slen == 0 || slen % 4 || slen / 4 * 3 > cap)
        return -1;
    int klen = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)slen);
    if (klen < 0)
        return -1;
    return klen - (secret[slen - 1] == '=') - (secret[slen - 2] == '=');
}

bool whcheck_signed(const unsigned char *key, size_t keylen, const char *id, const char *ts, const char *body,
                    size_t blen, const char *sig)
{
    size_t plen = strlen(id) + strlen(ts) + 2;
    unsigned char *msg = malloc(plen + blen + 1);
    if (!msg)
        abort();
    snprintf((char *)msg, plen + 1, "%s.%s.", id, ts);
    memcpy(msg + plen, body, blen);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)keylen, msg, plen + blen, mac, &maclen);
    free(msg);
    char want[3 + 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1] = "v1,";
    EVP_EncodeBlock((unsigned char *)want + 3, mac, (int)maclen);
    size_t wlen = strlen(want);
    for (const char *p = sig; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == wlen && memcmp(p, want, n) == 0)
            return true;
        p += n;
    }
    return false;
}

void whcheck_header(const char *head, size_t hlen, const char *name, char *out, size_t cap)
{
    const char *end = head + hlen;
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = head; p && p + nl < end; p = memchr(p, '\n', (size_t)(end - p))) {
        if (*p == '\n')
            p++;
        if (p + nl >= end || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
            continue;
        const char *v = p + nl + 1;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        size_t n = 0;
        while (v + n < end && v[n] != '\r' && v[n] != '\n')
            n++;
        if (n >= cap)
            n = cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return;
    }
}

bool whcheck_request(const char *buf, size_t len, size_t *head_len, size_t *body_len)
{
    const char *blank = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    if (!blank)
        return false;
    size_t hlen = (size_t)(blank - buf) + 4;
    char cl[32];
    whcheck_header(buf, hlen, "content-length", cl, sizeof cl);
    size_t blen = (size_t)strtoul(cl, NULL, 10);
    if (len < hlen + blen)
        return false;
    *head_len = hlen;
    *body_len = blen;
    return true;
}
