/*
 * Plain HTTP GET with libcurl for the gateway's own endpoints (/healthz,
 * /readyz, /metrics).
 */
#ifndef OCPPGW_IT_HTTP_H
#define OCPPGW_IT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* libcurl CURLOPT_WRITEFUNCTION appending to the struct strbuf in WRITEDATA. */
size_t it_curl_write(char *data, size_t size, size_t nmemb, void *user);
/*
 * libcurl CURLOPT_HEADERFUNCTION keeping, in the struct strbuf in
 * HEADERDATA, the header lines of the last answer only (a 100 Continue
 * starts a new block).
 */
size_t it_curl_header(char *data, size_t size, size_t nmemb, void *user);

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
