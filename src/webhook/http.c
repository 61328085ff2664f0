/*
 * The HTTP side of a delivery (libcurl, on the delivery thread): one easy
 * handle per attempt on the thread's multi handle. What events.md's
 * "Safety" asks of it is set here, per handle:
 *  - http and https only (also for anything a URL could switch to); no
 *    proxy from the environment; redirects are not followed;
 *  - https verified against the system CAs (libcurl's default, kept);
 *  - the address actually connected to is checked in the open-socket
 *    callback, after DNS (so a name that resolves to 127.0.0.1 the second
 *    time is refused too): loopback, private, link-local, multicast and
 *    reserved destinations are refused unless webhooks.allow_private;
 *  - webhooks.timeout bounds the whole attempt; the response body is read
 *    up to 64 KiB, then the transfer ends (its status is what counts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "netaddr.h"
#include "secret.h"
#include "util.h"
#include "wh_internal.h"

void wh_transfer_free(struct wh_transfer *t)
{
    if (!t)
        return;
    if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    strbuf_free(&t->resp);
    free(t);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct wh_transfer *t = user;
    size_t n = size * nmemb;
    size_t room = WH_BODY_MAX - t->resp.len;
    if (n > room) {
        strbuf_put(&t->resp, data, room);
        t->resp_full = true;
        return 0;                       /* ends the transfer: CURLE_WRITE_ERROR, judged by its status */
    }
    strbuf_put(&t->resp, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct wh_transfer *t = user;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t v = n - (sizeof name - 1);
        const char *p = data + sizeof name - 1;
        while (v && (*p == ' ' || *p == '\t')) {
            p++;
            v--;
        }
        while (v && (p[v - 1] == '\r' || p[v - 1] == '\n' || p[v - 1] == ' '))
            v--;
        if (v < sizeof t->retry_after) {
            memcpy(t->retry_after, p, v);
            t->retry_after[v] = '\0';
        }
    }
    return n;
}

/* The SSRF rule, on the address curl is about to connect to. */
static curl_socket_t on_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct wh_transfer *t = user;
    if (purpose == CURLSOCKTYPE_IPCXN && !t->w->cfg.allow_private) {
        enum netaddr_class c = netaddr_class_sa(&addr->addr);
        if (c != NETADDR_PUBLIC) {
            char text[64] = "?";
            const void *a = addr->family == AF_INET6
                                ? (const void *)&((const struct sockaddr_in6 *)(const void *)&addr->addr)->sin6_addr
                                : (const void *)&((const struct sockaddr_in *)(const void *)&addr->addr)->sin_addr;
            inet_ntop(addr->family, a, text, sizeof text);
            snprintf(t->refused, sizeof t->refused,
                     "refused: %s is a %s address (webhooks.allow_private is off)", text, netaddr_class_name(c));
            return CURL_SOCKET_BAD;
        }
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

const char *wh_http_strerror(int result)
{
    return curl_easy_strerror((CURLcode)result);
}

bool wh_http_start(struct webhooks *w, struct wh_transfer *t, const char *url, const char *secret,
                   const char *previous, char *why, size_t cap)
{
    t->w = w;
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(why, cap, "cannot make an HTTP transfer");
        wh_transfer_free(t);
        return false;
    }
    t->easy = e;
    int64_t ts = (int64_t)time(NULL);
    size_t len = strlen(t->body);
    char sig[WH_SIGNATURE_MAX], sig2[WH_SIGNATURE_MAX];
    if (!wh_sign(secret, t->event_id, ts, t->body, len, sig, sizeof sig)) {
        snprintf(why, cap, "the endpoint's secret is malformed");
        wh_transfer_free(t);
        return false;
    }
    char line[512];
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    snprintf(line, sizeof line, "webhook-id: %s", t->event_id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)ts);
    h = curl_slist_append(h, line);
    if (previous && wh_sign(previous, t->event_id, ts, t->body, len, sig2, sizeof sig2))
        snprintf(line, sizeof line, "webhook-signature: %s %s", sig, sig2);
    else
        snprintf(line, sizeof line, "webhook-signature: %s", sig);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "Expect:");           /* no 100-continue round trip */
    secret_wipe(sig, sizeof sig);
    secret_wipe(sig2, sizeof sig2);
    t->headers = h;

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_s * 1000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, w->cfg.user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->started_us = time_mono_us();
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        snprintf(why, cap, "cannot start an HTTP transfer");
        wh_transfer_free(t);
        return false;
    }
    t->next = w->inflight;
    if (w->inflight)
        w->inflight->prev = t;
    w->inflight = t;
    w->ninflight++;
    return true;
}

int wh_http_collect(struct webhooks *w, void (*fn)(struct webhooks *w, struct wh_transfer *t, int result,
                                                   long status))
{
    int done = 0;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        struct wh_transfer *t = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(w->multi, e);
        if (t->prev)
            t->prev->next = t->next;
        else
            w->inflight = t->next;
        if (t->next)
            t->next->prev = t->prev;
        w->ninflight--;
        fn(w, t, (int)rc, status);
        wh_transfer_free(t);
        done++;
    }
    return done;
}
