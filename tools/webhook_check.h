/*
 * What a webhook receiver checks, shared by build/webhook-receiver
 * (tools/webhook_receiver.c, the benchmarks') and the integration tests'
 * receiver (tests/integration/support/receiver.c): the framing of a
 * request on a keep-alive connection, its headers, and its Standard
 * Webhooks signature. Written from the Standard Webhooks specification with
 * OpenSSL, independently of src/webhook/ (which signs): a check of the
 * gateway's signatures must not be the gateway's own code.
 */
#ifndef OCPPGW_TOOLS_WEBHOOK_CHECK_H
#define OCPPGW_TOOLS_WEBHOOK_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The HMAC key of a secret ("whsec_" + base64; the prefix may be left
 * out), written into key (cap bytes). Its length, or -1 if the secret is
 * empty, not base64 or longer than cap.
 */
int whcheck_key(const char *secret, unsigned char *key, size_t cap);

/*
 * Whether the webhook-signature header sig ("v1,<base64>", several
 * separated by spaces while a rotated secret still signs) holds
 * HMAC-SHA256(key, "<id>.<ts>.<body>"): id and ts as the webhook-id and
 * webhook-timestamp headers carry them. All borrowed.
 */
bool whcheck_signed(const unsigned char *key, size_t keylen, const char *id, const char *ts, const char *body,
                    size_t blen, const char *sig);

/*
 * The value of header name (case-insensitive) in a request's head (hlen
 * bytes: the request line, the headers, the blank line), copied into out
 * and cut at cap - 1 bytes; "" when the head has no such header.
 */
void whcheck_header(const char *head, size_t hlen, const char *name, char *out, size_t cap);

/*
 * Whether buf (len bytes received on a connection) starts with a whole
 * request framed by Content-Length (none: no body); then *head_len is the
 * length of its head, blank line included, and *body_len of its body.
 */
bool whcheck_request(const char *buf, size_t len, size_t *head_len, size_t *body_len);

#endif
