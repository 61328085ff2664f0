/*
 * Secrets with OpenSSL: PBKDF2-HMAC-SHA256 password hashes, RAND_bytes,
 * SHA-256, base64. See include/secret.h for the formats.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "secret.h"
#include "util.h"

#define SALT_LEN 16
#define HASH_LEN 32

void secret_random(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        log_error(NULL, "RAND_bytes failed");
        abort();
    }
}

static void b64(const unsigned char *in, size_t n, char *out, size_t cap)
{
    /* EVP_EncodeBlock writes 4*ceil(n/3)+1 bytes */
    if (cap < 4 * ((n + 2) / 3) + 1)
        abort();
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int secret_base64_decode(const char *in, size_t inlen, char *out, size_t cap)
{
    if (inlen == 0 || inlen % 4 != 0 || (inlen / 4) * 3 + 1 > cap + 2)
        return -1;
    unsigned char *tmp = xmalloc(inlen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)inlen);
    if (n < 0) {
        free(tmp);
        return -1;
    }
    /* EVP_DecodeBlock counts padding bytes as data: strip them */
    if (in[inlen - 1] == '=')
        n--;
    if (in[inlen - 2] == '=')
        n--;
    if ((size_t)n >= cap) {
        free(tmp);
        return -1;
    }
    memcpy(out, tmp, (size_t)n);
    out[n] = '\0';
    free(tmp);
    return n;
}

char *secret_hash_password(const char *password, int iterations)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    secret_random(salt, sizeof salt);
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt, iterations,
                          EVP_sha256(), sizeof hash, hash) != 1)
        abort();
    char s64[32], h64[48];
    b64(salt, sizeof salt, s64, sizeof s64);
    b64(hash, sizeof hash, h64, sizeof h64);
    char *out = xmalloc(160);
    snprintf(out, 160, "pbkdf2-sha256$%d$%s$%s", iterations, s64, h64);
    return out;
}

bool secret_verify_password(const char *encoded, const char *password)
{
    int iterations;
    char s64[64], h64[80];
    if (sscanf(encoded, "pbkdf2-sha256$%d$%63[^$]$%79s", &iterations, s64, h64) != 3)
        return false;
    if (iterations < 1 || iterations > 10000000)
        return false;
    char salt[SALT_LEN + 8], want[HASH_LEN + 8];
    int sl = secret_base64_decode(s64, strlen(s64), salt, sizeof salt);
    int hl = secret_base64_decode(h64, strlen(h64), want, sizeof want);
    if (sl <= 0 || hl != HASH_LEN)
        return false;
    unsigned char got[HASH_LEN];
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (unsigned char *)salt, sl, iterations,
                          EVP_sha256(), HASH_LEN, got) != 1)
        return false;
    return CRYPTO_memcmp(got, want, HASH_LEN) == 0;
}

void secret_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data, n, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[64] = '\0';
}

void secret_sha256_2(const void *a, size_t na, const void *b, size_t nb, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        abort();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, na);
    EVP_DigestUpdate(ctx, b, nb);
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
}

void secret_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

bool secret_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

char *secret_new_api_key(char prefix[13])
{
    unsigned char raw[32];
    secret_random(raw, sizeof raw);
    char enc[48];
    b64(raw, sizeof raw, enc, sizeof enc);
    /* base64url, no padding */
    size_t n = strlen(enc);
    while (n && enc[n - 1] == '=')
        enc[--n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (enc[i] == '+')
            enc[i] = '-';
        else if (enc[i] == '/')
            enc[i] = '_';
    }
    char *key = xmalloc(4 + n + 1);
    memcpy(key, "ogw_", 4);
    memcpy(key + 4, enc, n + 1);
    memcpy(prefix, key, 12);
    prefix[12] = '\0';
    return key;
}

bool secret_parse_basic(const char *header, char *user, size_t ucap, char *pass, size_t pcap)
{
    if (strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *p = header + 6;
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    char buf[512];
    int n = secret_base64_decode(p, len, buf, sizeof buf);
    if (n < 0 || memchr(buf, '\0', (size_t)n))
        return false;
    char *colon = strchr(buf, ':');
    if (!colon)
        return false;
    *colon = '\0';
    if (strlen(buf) >= ucap || strlen(colon + 1) >= pcap)
        return false;
    strcpy(user, buf);
    strcpy(pass, colon + 1);
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

char *secret_new_charger_key(void)
{
    unsigned char raw[20];
    secret_random(raw, sizeof raw);
    char *key = xmalloc(2 * sizeof raw + 1);
    for (size_t i = 0; i < sizeof raw; i++)
        sprintf(key + 2 * i, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    return key;
}
