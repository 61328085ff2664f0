/*
 * Secrets: charger AuthorizationKeys stored as salted PBKDF2-HMAC-SHA256
 * hashes ("pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"), compared in
 * constant time; API keys (32 random bytes, shown once, stored as SHA-256);
 * randomness from OpenSSL's RAND_bytes; base64 for HTTP Basic credentials.
 */
#ifndef OCPPGW_SECRET_H
#define OCPPGW_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SECRET_DEFAULT_ITERATIONS 2000

/* Hash of a password for storage; caller frees. */
char *secret_hash_password(const char *password, int iterations);
/* True if password matches the stored encoding (constant-time compare). */
bool secret_verify_password(const char *encoded, const char *password);

/* Cryptographically random bytes; aborts if the RNG fails. */
void secret_random(void *buf, size_t n);

/* Hex SHA-256 of data into out (65 bytes). */
void secret_sha256_hex(const void *data, size_t n, char out[65]);
/* Raw SHA-256 of (key, data) concatenation, into out (32 bytes). */
void secret_sha256_2(const void *a, size_t na, const void *b, size_t nb, unsigned char out[32]);

/* Overwrites n bytes with zeros in a way the compiler keeps (OPENSSL_cleanse). */
void secret_wipe(void *p, size_t n);

/* Constant-time equality of two equal-length buffers. */
bool secret_equal(const void *a, const void *b, size_t n);

/*
 * New API key "ogw_" + 43 base64url characters (32 random bytes); caller
 * frees. prefix receives the first 12 characters (13 bytes) to recognise it.
 */
char *secret_new_api_key(char prefix[13]);

/*
 * New charger AuthorizationKey: 20 random bytes as 40 lower-case hex digits
 * (the form the OCPP 1.6 security white paper gives); caller frees.
 */
char *secret_new_charger_key(void);

/*
 * Decodes standard base64 (with padding) into out (cap bytes, NUL-terminated).
 * Returns the decoded length or -1 if malformed or too long.
 */
int secret_base64_decode(const char *in, size_t inlen, char *out, size_t cap);

/*
 * Parses an "Authorization: Basic ..." header value into user and password
 * (each cap bytes). False if it is not Basic or malformed.
 */
bool secret_parse_basic(const char *header, char *user, size_t ucap, char *pass, size_t pcap);

/*
 * Loads a TLS listener's files once (src/util/tls_files.c): the PEM
 * certificate (chain) cert, the unencrypted PEM private key key, which must
 * match it, and, if ca is not NULL, a PEM CA bundle. False with one line in
 * err naming the config key (server.tls_cert, server.tls_key, server.tls_ca),
 * the file and the reason. Reads files: call before the loop runs.
 */
bool secret_check_tls_files(const char *cert, const char *key, const char *ca, char *err, size_t cap);

#endif
