/*
 * Standard Webhooks signatures (include/webhook.h): the receiver recomputes
 * HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the key
 * that the endpoint's secret encodes ("whsec_" + base64) and compares.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/params.h>

#include "secret.h"
#include "util.h"
#include "webhook.h"

#define SECRET_PREFIX "whsec_"
#define KEY_MAX 128

bool wh_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t len,
             char *out, size_t cap)
{
    size_t plen = strlen(SECRET_PREFIX);
    if (strncmp(secret, SECRET_PREFIX, plen) == 0)
        secret += plen;
    char key[KEY_MAX + 1];
    int klen = secret_base64_decode(secret, strlen(secret), key, sizeof key);
    if (klen <= 0)
        return false;
    char head[160];
    int hlen = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp);
    if (hlen < 0 || (size_t)hlen >= sizeof head) {
        secret_wipe(key, sizeof key);
        return false;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_END };
    size_t outl = 0;
    bool ok = c && EVP_MAC_init(c, (const unsigned char *)key, (size_t)klen, params) == 1 &&
              EVP_MAC_update(c, (const unsigned char *)head, (size_t)hlen) == 1 &&
              (len == 0 || EVP_MAC_update(c, (const unsigned char *)body, len) == 1) &&
              EVP_MAC_final(c, mac, &outl, sizeof mac) == 1 && outl == 32;
    maclen = (unsigned int)outl;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(m);
    secret_wipe(key, sizeof key);
    /* "v1," + 44 base64 characters + NUL */
    if (!ok || cap < 3 + 4 * ((maclen + 2) / 3) + 1)
        return false;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    return true;
}

char *wh_secret_new(void)
{
    unsigned char raw[32];
    secret_random(raw, sizeof raw);
    char *s = xmalloc(strlen(SECRET_PREFIX) + 4 * ((sizeof raw + 2) / 3) + 1);
    strcpy(s, SECRET_PREFIX);
    EVP_EncodeBlock((unsigned char *)s + strlen(SECRET_PREFIX), raw, sizeof raw);
    secret_wipe(raw, sizeof raw);
    return s;
}
