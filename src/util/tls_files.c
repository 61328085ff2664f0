/*
 * The TLS listener's certificate, key and CA bundle, loaded once with
 * OpenSSL's libcrypto before the server starts, so that a file that cannot
 * be used stops the start with one clear line instead of a listener that
 * does not speak TLS (lws would only log its own complaint). The glue hands
 * the paths to lws afterwards; nothing here is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "secret.h"

/* " (OpenSSL: reason)" of the last queued error, or "" if none; clears the queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    buf[0] = '\0';
    if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, cap, " (OpenSSL: %s)", r ? r : "unknown error");
    }
    ERR_clear_error();
    return buf;
}

/* Opens path for reading, or says why not in err. */
static FILE *open_or_say(const char *key, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        snprintf(err, cap, "%s %s: %s", key, path, strerror(errno));
    return f;
}

bool secret_check_tls_files(const char *cert, const char *key, const char *ca, char *err, size_t cap)
{
    char why[160];
    bool ok = false;
    X509 *x = NULL;
    EVP_PKEY *pk = NULL;
    X509_STORE *store = NULL;
    FILE *f = open_or_say("server.tls_cert", cert, err, cap);
    if (!f)
        goto out;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) {
        snprintf(err, cap, "server.tls_cert %s: no PEM certificate in it%s", cert, ssl_reason(why, sizeof why));
        goto out;
    }
    if (!(f = open_or_say("server.tls_key", key, err, cap)))
        goto out;
    pk = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
    fclose(f);
    if (!pk) {
        snprintf(err, cap, "server.tls_key %s: no unencrypted PEM private key in it%s", key,
                 ssl_reason(why, sizeof why));
        goto out;
    }
    if (X509_check_private_key(x, pk) != 1) {
        snprintf(err, cap, "server.tls_key %s does not match the certificate in server.tls_cert %s", key, cert);
        goto out;
    }
    if (ca) {
        if (!(f = open_or_say("server.tls_ca", ca, err, cap)))
            goto out;
        fclose(f);
        store = X509_STORE_new();
        if (!store || X509_STORE_load_locations(store, ca, NULL) != 1) {
            snprintf(err, cap, "server.tls_ca %s: no PEM CA certificate in it%s", ca, ssl_reason(why, sizeof why));
            goto out;
        }
    }
    ok = true;
out:
    ERR_clear_error();
    X509_STORE_free(store);
    EVP_PKEY_free(pk);
    X509_free(x);
    return ok;
}
