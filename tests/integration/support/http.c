/*
 * libcurl GET and a small reader of Prometheus text format, enough to
 * check that a counter rose. See http.h.
 */
#include "http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t it_curl_write(char *data, size_t size, size_t nmemb, void *user)
{
    strbuf_put(user, data, size * nmemb);
    return size * nmemb;
}

size_t it_curl_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct strbuf *b = user;
    size_t len = size * nmemb;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        strbuf_reset(b);
    strbuf_put(b, data, len);
    return len;
}

int http_get(int port, const char *path, char **body)
{
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct strbuf b = STRBUF_INIT;
    CURL *h = curl_easy_init();
    if (!h)
        abort();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, it_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    int status = -1;
    if (curl_easy_perform(h) == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        status = (int)code;
    }
    curl_easy_cleanup(h);
    if (body)
        *body = strbuf_take(&b);
    else
        strbuf_free(&b);
    return status;
}

/* Whether the label block "{...}" (without braces, length n) holds pair "k=\"v\"". */
static bool labels_have(const char *block, size_t n, const char *pair, size_t plen)
{
    for (size_t i = 0; i + plen <= n; i++) {
        if ((i == 0 || block[i - 1] == ',') && memcmp(block + i, pair, plen) == 0 &&
            (i + plen == n || block[i + plen] == ','))
            return true;
    }
    return false;
}

static bool labels_match(const char *block, size_t n, const char *labels)
{
    if (!labels || !*labels)
        return true;
    const char *p = labels;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t plen = comma ? (size_t)(comma - p) : strlen(p);
        if (!labels_have(block, n, p, plen))
            return false;
        p += plen;
        if (*p == ',')
            p++;
    }
    return true;
}

double metric_value(const char *text, const char *name, const char *labels)
{
    size_t nlen = strlen(name);
    double sum = 0;
    bool any = false;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line[0] != '#' && len > nlen && strncmp(line, name, nlen) == 0 &&
            (line[nlen] == '{' || line[nlen] == ' ')) {
            const char *rest = line + nlen;
            bool ok = true;
            if (*rest == '{') {
                const char *close = memchr(rest, '}', len - nlen);
                if (!close) {
                    ok = false;
                } else {
                    ok = labels_match(rest + 1, (size_t)(close - rest - 1), labels);
                    rest = close + 1;
                }
            } else if (labels && *labels) {
                ok = false;
            }
            if (ok) {
                sum += strtod(rest, NULL);
                any = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return any ? sum : -1;
}

int metric_has_family(const char *text, const char *name, const char *kind)
{
    char want[256];
    snprintf(want, sizeof want, "# TYPE %s ", name);
    size_t wlen = strlen(want);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, want, wlen) == 0) {
            if (!kind)
                return 1;
            size_t klen = strlen(kind);
            const char *k = line + wlen;
            if (strncmp(k, kind, klen) == 0 && (k[klen] == '\n' || k[klen] == '\0' || k[klen] == ' '))
                return 1;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

double metrics_get(int port, const char *name, const char *labels)
{
    char *body = NULL;
    double v = -1;
    if (http_get(port, "/metrics", &body) == 200)
        v = metric_value(body, name, labels);
    free(body);
    return v;
}
