/*
 * Opaque keyset cursors (include/rest_cursor.h): fixed 28-byte record,
 * base64url without padding, strictly decoded.
 */
#include <string.h>

#include "rest_cursor.h"
#include "secret.h"

#define RAW_LEN 28
#define BODY_LEN 20
#define CHECK_LEN 8
#define ENC_LEN 38          /* ceil(28 * 8 / 6) */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char domain[] = "ocppgw-cursor";

static void put_be64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        p[i] = (unsigned char)(u & 0xff);
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

static void check_bytes(const unsigned char *body, unsigned char out[CHECK_LEN])
{
    unsigned char digest[32];
    secret_sha256_2(domain, sizeof domain - 1, body, BODY_LEN, digest);
    memcpy(out, digest, CHECK_LEN);
}

void rest_cursor_encode(const struct rest_cursor *c, char out[REST_CURSOR_MAX])
{
    unsigned char raw[RAW_LEN];
    raw[0] = REST_CURSOR_VERSION;
    raw[1] = c->kind;
    raw[2] = c->sort;
    raw[3] = c->desc ? 1 : 0;
    put_be64(raw + 4, c->key);
    put_be64(raw + 12, c->id);
    check_bytes(raw, raw + BODY_LEN);

    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < RAW_LEN; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static int b64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

bool rest_cursor_decode(const char *s, struct rest_cursor *out)
{
    if (!s || strlen(s) != ENC_LEN)
        return false;
    unsigned char raw[RAW_LEN];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < ENC_LEN; i++) {
        int v = b64url_value(s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* the unused low bits of the last character must be zero (one encoding per cursor) */
    if (o != RAW_LEN || (acc & ((1u << bits) - 1)) != 0)
        return false;
    unsigned char want[CHECK_LEN];
    check_bytes(raw, want);
    if (!secret_equal(want, raw + BODY_LEN, CHECK_LEN))
        return false;
    if (raw[0] != REST_CURSOR_VERSION || raw[3] > 1)
        return false;
    out->kind = raw[1];
    out->sort = raw[2];
    out->desc = raw[3] == 1;
    out->key = get_be64(raw + 4);
    out->id = get_be64(raw + 12);
    return true;
}
