/*
 * Plain HTTP GET with libcurl for the gateway's own endpoints (/healthz,
 * /readyz, /metrics).
 */
#ifndef OCPPGW_IT_HTTP_H
#define OCPPGW_IT_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* A growing NUL-terminated byte buffer (p starts as calloc(1, 1)). */
struct it_buf {
    char *p;
    size_t n;
};
/* Appends len bytes; aborts when out of memory. */
void it_buf_add(struct it_buf *b, const char *data, size_t len);
/* libcurl CURLOPT_WRITEFUNCTION appending to the struct it_buf in WRITEDATA. */
size_t it_buf_curl_write(char *data, size_t size, size_t nmemb, void *user);

/*
 * GET http://127.0.0.1:port<path> with a 5 s timeout. Returns the HTTP
 * status, or -1 when nothing answered. *body (optional) receives the body
 * (caller frees; set even on -1, then empty).
 */
int http_get(int port, const char *path, char **body);

/*
 * Sum of the values of every sample of a Prometheus metric in text
 * exposition `text` whose name is exactly `name` and whose label set
 * contains every "k=\"v\"" pair of `labels` (comma-separated, may be NULL or
 * ""). Returns -1 when no sample matched.
 */
double metric_value(const char *text, const char *name, const char *labels);

/* GET /metrics and metric_value() on it; -1 also when /metrics does not answer 200. */
double metrics_get(int port, const char *name, const char *labels);

/* Whether `text` declares the family (a "# TYPE name kind" line; kind may be NULL = any). */
int metric_has_family(const char *text, const char *name, const char *kind);

#endif
