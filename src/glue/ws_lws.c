/*
 * libwebsockets glue for the OCPP side. Thin on purpose: it admits or
 * refuses the upgrade (path, subprotocol, credentials: the decision is the
 * core's), reassembles messages up to the frame limit, hands each complete
 * text message to ocpp_dispatch(), and drains a per-connection outbox, one
 * lws_write per WRITEABLE callback. Connections are found by their core id
 * through ws_by_conn, never by a pointer kept across events.
 *
 * See ../shared/notes on lws 4.1.6: the URI arrives already percent-decoded
 * and normalised, an unmatched subprotocol is dropped by lws without a
 * status (so we check the offer in CONFIRM_UPGRADE and answer 400 ourselves),
 * and rx_buffer_size does not limit message size (we count, and close 1009).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "core.h"
#include "gateway.h"
#include "hmap.h"
#include "secret.h"
#include "util.h"

#define MALFORMED_CLOSE_AFTER 10

/*
 * lws 4.1.6's write type for a close frame (its internal LWS_WRITE_CLOSE,
 * between LWS_WRITE_HTTP = 3 and LWS_WRITE_PING = 5; the public header
 * leaves it out). See on_writeable() for why we send the frame ourselves.
 */
#define WS_WRITE_CLOSE ((enum lws_write_protocol)4)

/* Why a websocket ends, when the gateway decides it (struct gw_pss.why). */
enum ws_why {
    WS_WHY_NONE,                    /* the charger closed, or the connection was lost */
    WS_WHY_PING_TIMEOUT,
    WS_WHY_OUTBOX_FULL,
    WS_WHY_TOO_BIG,
    WS_WHY_BINARY,
    WS_WHY_MALFORMED,
    WS_WHY_WRITE_FAILED,
    WS_WHY_SHUTDOWN,
};

static const char *const why_text[] = {
    [WS_WHY_NONE] = NULL,
    [WS_WHY_PING_TIMEOUT] = "ping timeout: nothing heard from the charger since a ping",
    [WS_WHY_OUTBOX_FULL] = "outbox full: the charger does not read what it is sent",
    [WS_WHY_TOO_BIG] = "protocol error: message over ocpp.max_frame (closed with 1009)",
    [WS_WHY_BINARY] = "protocol error: binary frame (closed with 1003)",
    [WS_WHY_MALFORMED] = "protocol error: too many malformed messages in a row (closed with 1008)",
    [WS_WHY_WRITE_FAILED] = "write to the socket failed",
    [WS_WHY_SHUTDOWN] = "shutdown (closed with 1001)",
};

static int64_t now_ms(void)
{
    return time_mono_us() / 1000;
}

/*
 * Ends a websocket from outside its own callbacks, at once, without a close
 * handshake: for a charger that does not read (its outbox is full) or does
 * not answer. LWS_TO_KILL_ASYNC schedules the close for "now", which lws
 * 4.1.6 inserts at the head of its sorted timer list (no walk).
 */
static void ws_kill(struct gateway *g, struct lws *wsi, struct gw_pss *pss, enum ws_why why)
{
    if (pss->killed)
        return;                         /* already going */
    pss->killed = 1;
    pss->why = (uint8_t)why;
    const char *id = pss->conn_id ? core_conn_charger_id(g->core, pss->conn_id) : NULL;
    if (why == WS_WHY_OUTBOX_FULL)
        log_warn(id, "closing the connection: %s (%zu bytes queued, ocpp.outbox_max)", why_text[why], pss->out_bytes);
    else
        log_warn(id, "closing the connection: %s", why_text[why]);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* ---- transport: how the dispatcher and the core reach a socket ---- */

static struct lws *wsi_of(struct gateway *g, uint64_t conn_id)
{
    return hmap_get_u64(g->ws_by_conn, conn_id);
}

static void transport_send(void *ctx, uint64_t conn_id, char *text, size_t len)
{
    struct gateway *g = ctx;
    struct lws *wsi = wsi_of(g, conn_id);
    if (!wsi) {
        free(text);
        return; /* connection already gone */
    }
    struct gw_pss *pss = lws_wsi_user(wsi);
    if (pss->killed) {
        free(text);                     /* being killed: nothing more goes out */
        return;
    }
    if (pss->out_bytes + len > (size_t)g->cfg.outbox_max) {
        free(text);
        ws_kill(g, wsi, pss, WS_WHY_OUTBOX_FULL);
        return;
    }
    struct ws_frame *f = xmalloc(sizeof *f + LWS_PRE + len);
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    free(text);
    if (pss->out_tail)
        pss->out_tail->next = f;
    else
        pss->out_head = f;
    pss->out_tail = f;
    pss->out_bytes += len;
    lws_callback_on_writable(wsi);
}

static void transport_close(void *ctx, uint64_t conn_id, int code, const char *reason)
{
    struct gateway *g = ctx;
    struct lws *wsi = wsi_of(g, conn_id);
    if (!wsi)
        return;
    struct gw_pss *pss = lws_wsi_user(wsi);
    pss->close_code = (uint16_t)code;
    log_debug(NULL, "closing connection %llu: %s", (unsigned long long)conn_id, reason);
    /* the core forgets the connection now; so do we, so nothing more is sent */
    hmap_del_u64(g->ws_by_conn, conn_id);
    pss->conn_id = 0;
    lws_callback_on_writable(wsi);
}

void ws_init(struct gateway *g)
{
    g->ws_by_conn = hmap_new();
    g->transport.ctx = g;
    g->transport.send_text = transport_send;
    g->transport.close = transport_close;
}

/* ---- upgrade ---- */

int ws_refuse(struct lws *wsi, int status, const char *hdr_name, const char *hdr_value)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end))
        return -1;
    if (hdr_name && lws_add_http_header_by_name(wsi, (const unsigned char *)hdr_name,
                                                (const unsigned char *)hdr_value,
                                                (int)strlen(hdr_value), &p, end))
        return -1;
    if (lws_add_http_header_content_length(wsi, 0, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 1;
}

/*
 * A refusal with a short text/plain body saying why (the client's logs show
 * it; a bare 400 says nothing). body is one line, already safe to send.
 */
static int ws_refuse_text(struct lws *wsi, int status, const char *body)
{
    unsigned char buf[LWS_PRE + 768], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    size_t n = strlen(body);
    static const char ctype[] = "text/plain; charset=utf-8";
    if (lws_add_http_header_status(wsi, (unsigned int)status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)ctype,
                                     (int)sizeof ctype - 1, &p, end) ||
        lws_add_http_header_content_length(wsi, n, &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
        return -1;
    if ((size_t)(end - p) < n)
        return -1;
    memcpy(p, body, n);
    p += n;
    if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    return 1;
}

/* id for a message: printable ASCII kept, anything else as \xNN, at most 64 characters shown. */
static void id_escaped(const char *id, char *out, size_t cap)
{
    size_t at = 0, shown = 0;
    for (const unsigned char *s = (const unsigned char *)id; *s && at + 5 < cap; s++, shown++) {
        if (shown == 64) {
            at += (size_t)snprintf(out + at, cap - at, "...");
            break;
        }
        if (*s >= 0x20 && *s < 0x7f && *s != '\\' && *s != '\'')
            out[at++] = (char)*s;
        else
            at += (size_t)snprintf(out + at, cap - at, "\\x%02x", *s);
    }
    out[at < cap ? at : cap - 1] = '\0';
}

/* True if the comma/space separated offer contains "ocpp1.6". */
static bool offers_ocpp16(const char *offer)
{
    const char *p = offer;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 7 && strncmp(p, "ocpp1.6", 7) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The charge point id from the (already decoded) path, or NULL if not /ocpp/<id>. */
static const char *charger_id_from_path(const char *path)
{
    static const char prefix[] = "/ocpp/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return NULL;
    return path + sizeof prefix - 1;
}

/*
 * Set on a wsi whose upgrade request passed core_admit, and checked again
 * when the websocket is established: a websocket that reached ESTABLISHED
 * some other way (an RFC 8441 websocket over HTTP/2, for which lws 4.1.6
 * never calls the confirm-upgrade callback) is closed before it is a
 * connection. A wsi starts with no opaque data, and an HTTP/1.1 wsi keeps
 * its own across the upgrade.
 */
static const char admitted_mark = 'A';

int ws_confirm_upgrade(struct gateway *g, struct lws *wsi)
{
    char path[256], offer[256] = "", auth[512] = "", addr[64] = "";
    if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0)
        return ws_refuse(wsi, 400, NULL, NULL);
    const char *id = charger_id_from_path(path);
    if (!id) /* "/ocpp/.." too: libwebsockets has removed its dot segments ("/") */
        return ws_refuse_text(wsi, 404, "no charge point id in the path: connect to /ocpp/{chargePointId}"
                                        " ('.' and '..' are not charge point ids)\n");
    lws_get_peer_simple(wsi, addr, sizeof addr);
    const char *problem = core_charger_id_problem(id);
    if (problem) {
        char shown[300], body[400];
        id_escaped(id, shown, sizeof shown);
        snprintf(body, sizeof body, "charge point id '%s' %s\n", shown, problem);
        log_warn_from(addr, NULL, "upgrade from %s refused: charge point id '%s' %s", addr, shown, problem);
        return ws_refuse_text(wsi, 400, body);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0) {
        if (lws_hdr_copy(wsi, offer, sizeof offer, WSI_TOKEN_PROTOCOL) < 0 || !offers_ocpp16(offer)) {
            log_warn_from(addr, id, "upgrade from %s refused: subprotocol ocpp1.6 not offered", addr);
            return ws_refuse_text(wsi, 400, "subprotocol ocpp1.6 not offered\n");
        }
    } else if (g->cfg.require_subprotocol) {
        log_warn_from(addr, id, "upgrade from %s refused: no subprotocol offered", addr);
        return ws_refuse_text(wsi, 400, "no subprotocol offered: ocpp1.6 is required\n");
    }
    char user[128], pass[256];
    bool has_creds = false;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 0)
        has_creds = secret_parse_basic(auth, user, sizeof user, pass, sizeof pass);
    struct core_peer peer = { .tls = lws_is_ssl(wsi) != 0, .cert_cn = NULL };
    char cn_buf[sizeof(union lws_tls_cert_info_results) + 128];
    union lws_tls_cert_info_results *cert = (union lws_tls_cert_info_results *)cn_buf;
    if (peer.tls && lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_VERIFIED, cert, 0) == 0 &&
        cert->verified &&
        lws_tls_peer_cert_info(wsi, LWS_TLS_CERT_INFO_COMMON_NAME, cert, 128) == 0) {
        cert->ns.name[cert->ns.len < 127 ? cert->ns.len : 127] = '\0';
        peer.cert_cn = cert->ns.name;
    }
    enum core_admit verdict = core_admit(g->core, id, addr, has_creds ? user : NULL,
                                         has_creds ? pass : NULL, &peer);
    memset(pass, 0, sizeof pass);
    memset(auth, 0, sizeof auth);
    switch (verdict) {
    case CORE_ADMIT_OK:
        lws_set_opaque_user_data(wsi, (void *)&admitted_mark);
        return 0;
    case CORE_ADMIT_BAD_ID:
        return ws_refuse(wsi, 400, NULL, NULL);
    case CORE_ADMIT_UNKNOWN:
        return ws_refuse(wsi, 404, NULL, NULL);
    case CORE_ADMIT_UNAUTHORIZED:
        return ws_refuse(wsi, 401, "WWW-Authenticate:", "Basic realm=\"ocpp\"");
    case CORE_ADMIT_THROTTLED: {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", g->cfg.auth_block);
        return ws_refuse(wsi, 429, "Retry-After:", secs);
    }
    }
    return -1;
}

/* ---- websocket events ---- */

static void pss_free(struct gw_pss *pss)
{
    while (pss->out_head) {
        struct ws_frame *f = pss->out_head;
        pss->out_head = f->next;
        free(f);
    }
    pss->out_tail = NULL;
    pss->out_bytes = 0;
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_len = pss->rx_cap = 0;
}

static int too_big(struct lws *wsi, struct gw_pss *pss)
{
    static const char why[] = "message too big";
    pss->why = WS_WHY_TOO_BIG;
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why, sizeof why - 1);
    return -1;
}

static int on_message(struct gateway *g, struct lws *wsi, struct gw_pss *pss, const char *text, size_t len)
{
    if (ocpp_dispatch(g->core, &g->transport, pss->conn_id, text, len) == OCPP_DISPATCH_MALFORMED) {
        if (++pss->malformed_run >= MALFORMED_CLOSE_AFTER) {
            static const char why[] = "too many malformed messages";
            log_warn(core_conn_charger_id(g->core, pss->conn_id), "closing the connection: %s", why);
            pss->why = WS_WHY_MALFORMED;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why, sizeof why - 1);
            return -1;
        }
    } else {
        pss->malformed_run = 0;
    }
    return 0;
}

static int on_receive(struct gateway *g, struct lws *wsi, struct gw_pss *pss, const char *in, size_t len)
{
    size_t max = (size_t)g->cfg.max_frame;
    size_t remaining = lws_remaining_packet_payload(wsi);
    bool final = lws_is_final_fragment(wsi) && remaining == 0;
    if (pss->rx_len + len + remaining > max)
        return too_big(wsi, pss);
    if (!pss->conn_id)
        return 0; /* replaced: being closed, ignore what is still arriving */
    if (final && pss->rx_len == 0)
        return on_message(g, wsi, pss, in, len); /* the common case: no copy */
    if (pss->rx_len + len > pss->rx_cap) {
        pss->rx_cap = pss->rx_len + len + remaining;
        if (pss->rx_cap < 4096)
            pss->rx_cap = 4096;
        if (pss->rx_cap > max)
            pss->rx_cap = max;
        pss->rx = xrealloc(pss->rx, pss->rx_cap);
    }
    memcpy(pss->rx + pss->rx_len, in, len);
    pss->rx_len += len;
    if (!final)
        return 0;
    int r = on_message(g, wsi, pss, pss->rx, pss->rx_len);
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_len = pss->rx_cap = 0;
    return r;
}

static int on_writeable(struct gateway *g, struct lws *wsi, struct gw_pss *pss)
{
    if (pss->killed)
        return 0;                       /* being killed */
    if (pss->ping_due) {
        /*
         * A ping with a payload: lws 4.1.6 calls RECEIVE_PONG only for a
         * pong that carries one (notes: empty pongs fire nothing).
         */
        static const char payload[] = "ocppgw";
        unsigned char buf[LWS_PRE + sizeof payload];
        memcpy(buf + LWS_PRE, payload, sizeof payload - 1);
        pss->ping_due = 0;
        if (lws_write(wsi, buf + LWS_PRE, sizeof payload - 1, LWS_WRITE_PING) < 0) {
            pss->why = WS_WHY_WRITE_FAILED;
            return -1;
        }
        if (pss->out_head || pss->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    struct ws_frame *f = pss->out_head;
    if (f) {
        pss->out_head = f->next;
        if (!pss->out_head)
            pss->out_tail = NULL;
        pss->out_bytes -= f->len;
        int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        free(f);
        if (n < 0) {
            pss->why = WS_WHY_WRITE_FAILED;
            return -1;
        }
        if (pss->out_head || pss->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (pss->close_code) {
        /*
         * Not lws_close_reason() + `return -1` here: Debian's lws 4.1.6 is a
         * _DEBUG build whose libuv path closes a wsi a second time right
         * after a callback returned -1 ("uv repeat test"), which tears the
         * socket down before the queued close frame is sent (the charger sees
         * 1006). So the close frame is written like any other frame; the
         * charger's answering close ends the connection (lws answers it), and
         * a timeout ends it if the charger stays mute.
         */
        const char *why = pss->close_code == 1001 ? "going away" : "closed by the central system";
        unsigned char buf[LWS_PRE + 2 + 64];
        size_t n = strlen(why);
        buf[LWS_PRE] = (unsigned char)(pss->close_code >> 8);
        buf[LWS_PRE + 1] = (unsigned char)(pss->close_code & 0xff);
        memcpy(buf + LWS_PRE + 2, why, n);
        pss->close_code = 0;
        if (g->shutting_down && g->ws_closes_unsent)
            g->ws_closes_unsent--;
        if (lws_write(wsi, buf + LWS_PRE, 2 + n, WS_WRITE_CLOSE) < 0)
            return -1;
        /*
         * At shutdown the drain's one deadline (DRAIN_CLOSE_US) bounds every
         * close handshake. A timeout per connection would cost lws 4.1.6 a
         * linear insert into its sorted timeout list each: N² for N chargers
         * (19,000 took over a minute to close).
         */
        if (!g->shutting_down)
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
    }
    return 0;
}

int ws_callback(struct gateway *g, struct lws *wsi, int reason, struct gw_pss *pss, void *in,
                size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        char path[256], addr[64] = "";
        pss->is_ws = 1;
        if (lws_get_opaque_user_data(wsi) != &admitted_mark) {
            log_warn(NULL, "websocket closed: it did not pass the upgrade admission");
            return -1;
        }
        lws_set_opaque_user_data(wsi, NULL);
        if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0)
            return -1;
        const char *id = charger_id_from_path(path);
        if (!id || !core_charger_id_valid(id))
            return -1;
        pss->heard_ms = now_ms();
        if (g->shutting_down) {
            pss->close_code = 1001;
            lws_callback_on_writable(wsi);
            return 0;
        }
        lws_get_peer_simple(wsi, addr, sizeof addr);
        pss->conn_id = core_conn_open(g->core, id, addr);
        if (!pss->conn_id) {
            static const char why[] = "charger removed";
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why, sizeof why - 1);
            return -1;
        }
        hmap_put_u64(g->ws_by_conn, pss->conn_id, wsi);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_PONG:
        pss->heard_ms = now_ms();
        pss->ping_ms = 0;
        return 0;
    case LWS_CALLBACK_RECEIVE:
        pss->heard_ms = now_ms();
        pss->ping_ms = 0;
        if (lws_frame_is_binary(wsi)) {
            static const char why[] = "binary frames are not OCPP-J";
            pss->why = WS_WHY_BINARY;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)why, sizeof why - 1);
            return -1;
        }
        return on_receive(g, wsi, pss, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(g, wsi, pss);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            pss->peer_code = (uint16_t)((b[0] << 8) | b[1]);
        } else {
            pss->peer_code = 1005;      /* a close frame with no code */
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss->close_code && g->shutting_down && g->ws_closes_unsent)
            g->ws_closes_unsent--;      /* gone before its close frame was written */
        if (pss->conn_id) {
            char peer[64];
            const char *why = why_text[pss->why];
            if (!why) {
                if (pss->peer_code)
                    snprintf(peer, sizeof peer, "closed by the charger (%u)", pss->peer_code);
                else
                    snprintf(peer, sizeof peer, "connection lost (no close frame)");
                why = peer;
            }
            hmap_del_u64(g->ws_by_conn, pss->conn_id);
            core_conn_closed(g->core, pss->conn_id, why);
            pss->conn_id = 0;
        }
        pss_free(pss);
        return 0;
    default:
        return 0;
    }
}

struct close_ctx {
    int code;
    size_t n;
};

static int close_one(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct close_ctx *cc = ctx;
    struct lws *wsi = val;
    struct gw_pss *pss = lws_wsi_user(wsi);
    pss->close_code = (uint16_t)cc->code;
    if (cc->code == 1001 && !pss->why)
        pss->why = WS_WHY_SHUTDOWN;
    if (!pss->close_code || pss->killed)
        return 0;
    cc->n++;
    lws_callback_on_writable(wsi);
    return 0;
}

size_t ws_close_all(struct gateway *g, int code)
{
    struct close_ctx cc = { code, 0 };
    hmap_foreach(g->ws_by_conn, close_one, &cc);
    return cc.n;
}

struct sweep_ctx {
    struct gateway *g;
    int64_t now, interval_ms, timeout_ms;
};

static int sweep_one(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    struct sweep_ctx *sc = ctx;
    struct lws *wsi = val;
    struct gw_pss *pss = lws_wsi_user(wsi);
    if (pss->killed || pss->close_code)
        return 0;
    if (pss->ping_ms) {
        if (sc->now - pss->ping_ms >= sc->timeout_ms)
            ws_kill(sc->g, wsi, pss, WS_WHY_PING_TIMEOUT); /* closes later: the map is not changed here */
    } else if (sc->now - pss->heard_ms >= sc->interval_ms) {
        pss->ping_ms = sc->now;
        pss->ping_due = 1;
        lws_callback_on_writable(wsi);
    }
    return 0;
}

void ws_sweep(struct gateway *g, int64_t now)
{
    struct sweep_ctx sc = { g, now, (int64_t)g->cfg.ping_interval * 1000, (int64_t)g->cfg.ping_timeout * 1000 };
    hmap_foreach(g->ws_by_conn, sweep_one, &sc);
}

size_t ws_open_count(const struct gateway *g)
{
    return hmap_count(g->ws_by_conn);
}
