/*
 * Unit tests for src/util: configuration layering and errors, password
 * hashes and Basic credentials, API key format, the hash map, metrics text,
 * country codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "hmap.h"
#include "iso3166.h"
#include "metrics.h"
#include "secret.h"
#include "strbuf.h"
#include "tz.h"
#include "util.h"

static char *write_tmp(const char *text)
{
    char *path = xstrdup("/tmp/ocppgw-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config_defaults_valid_with_db(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_string_equal(c.listen, "0.0.0.0:8080");
    assert_int_equal(c.heartbeat_interval, 300);
    assert_true(c.require_subprotocol);
    assert_false(c.auto_register);
    assert_false(config_validate(&c, err, sizeof err)); /* no database */
    assert_non_null(strstr(err, "database"));
    assert_true(config_set(&c, "database", "url", "host=/tmp dbname=x", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    config_free(&c);
}

/* tariffs.idle_power_w: 100 W by default (sites-and-tariffs.md), a non-negative integer up to 1 MW */
static void test_config_idle_power(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(c.tariffs_idle_power_w, 100);
    assert_true(config_set(&c, "tariffs", "idle_power_w", "0", err, sizeof err));
    assert_int_equal(c.tariffs_idle_power_w, 0);
    assert_true(config_set(&c, "tariffs", "idle_power_w", "1500", err, sizeof err));
    assert_int_equal(c.tariffs_idle_power_w, 1500);
    assert_false(config_set(&c, "tariffs", "idle_power_w", "-1", err, sizeof err));
    assert_false(config_set(&c, "tariffs", "idle_power_w", "1000001", err, sizeof err));
    assert_false(config_set(&c, "tariffs", "idle_power_w", "12.5", err, sizeof err));
    assert_false(config_set(&c, "tariffs", "idle_power_w", "", err, sizeof err));
    assert_int_equal(c.tariffs_idle_power_w, 1500);
    config_free(&c);
}

/*
 * retention.*: whole days or never (0 = never); the defaults of the spec;
 * retention.events and events.retention are one setting: either alone
 * decides, both must agree.
 */
static void test_config_retention(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_true(config_set(&c, "database", "url", "dbname=x", err, sizeof err));
    assert_int_equal(c.retention_meter_values, 400);
    assert_int_equal(c.retention_status_history, 400);
    assert_int_equal(c.retention_commands, 90);
    assert_int_equal(c.retention_audit_log, 0);
    assert_int_equal(config_events_retention_s(&c), 7 * 86400);
    assert_true(config_set(&c, "retention", "meter_values", "never", err, sizeof err));
    assert_int_equal(c.retention_meter_values, 0);
    assert_true(config_set(&c, "retention", "audit_log", "3650", err, sizeof err));
    assert_int_equal(c.retention_audit_log, 3650);
    assert_true(config_set(&c, "retention", "commands", "0", err, sizeof err));
    assert_int_equal(c.retention_commands, 0);
    static const char *const bad[] = { "soon", "-1", "1.5", "", "36501", "Never", "7d" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(config_set(&c, "retention", "status_history", bad[i], err, sizeof err));
        assert_non_null(strstr(err, "retention.status_history"));
    }
    assert_int_equal(c.retention_status_history, 400);
    /* the older key alone */
    assert_true(config_set(&c, "events", "retention", "3600", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    assert_int_equal(config_events_retention_s(&c), 3600);
    /* both, different: refused, naming both */
    assert_true(config_set(&c, "retention", "events", "2", err, sizeof err));
    assert_false(config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "retention.events"));
    assert_non_null(strstr(err, "events.retention"));
    /* both, the same */
    assert_true(config_set(&c, "events", "retention", "172800", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    assert_int_equal(config_events_retention_s(&c), 172800);
    config_free(&c);
    /* the new key alone */
    config_defaults(&c);
    assert_true(config_set(&c, "database", "url", "dbname=x", err, sizeof err));
    assert_true(config_set(&c, "retention", "events", "never", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    assert_int_equal(config_events_retention_s(&c), 0);
    config_free(&c);
}

/* security.ca_cert / ca_key / organization: both files or neither, and an organization with them */
static void test_config_security_ca(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(c.cert_days, 365);
    assert_null(c.ca_cert);
    assert_true(config_set(&c, "database", "url", "dbname=x", err, sizeof err));
    assert_true(config_set(&c, "security", "ca_cert", "/etc/ca.pem", err, sizeof err));
    assert_false(config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "security.ca_key"));
    assert_true(config_set(&c, "security", "ca_key", "/etc/ca.key", err, sizeof err));
    assert_false(config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "security.organization"));
    assert_true(config_set(&c, "security", "organization", "ACME Charging", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    assert_true(config_set(&c, "security", "cert_days", "30", err, sizeof err));
    assert_int_equal(c.cert_days, 30);
    assert_false(config_set(&c, "security", "cert_days", "0", err, sizeof err));
    assert_false(config_set(&c, "security", "cert_days", "3651", err, sizeof err));
    config_free(&c);

    config_defaults(&c);
    assert_true(config_set(&c, "database", "url", "dbname=x", err, sizeof err));
    assert_true(config_set(&c, "security", "ca_key", "/etc/ca.key", err, sizeof err));
    assert_false(config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "security.ca_cert"));
    config_free(&c);
}

static void test_config_file_and_errors(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    char *good = write_tmp("; comment\n[server]\nlisten = 127.0.0.1:9000\n[ocpp]\nauto_register = true\n"
                           "heartbeat_interval = 60\n[database]\nurl = dbname=a\n");
    config_defaults(&c);
    assert_true(config_load_file(&c, good, err, sizeof err));
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_true(c.auto_register);
    assert_int_equal(c.heartbeat_interval, 60);
    assert_string_equal(c.db_url, "dbname=a");
    config_free(&c);

    char *unknown = write_tmp("[ocpp]\nbogus = 1\n");
    config_defaults(&c);
    assert_false(config_load_file(&c, unknown, err, sizeof err));
    assert_non_null(strstr(err, "ocpp.bogus"));
    assert_non_null(strstr(err, "line 2"));
    config_free(&c);

    char *badint = write_tmp("[ocpp]\nheartbeat_interval = soon\n");
    config_defaults(&c);
    assert_false(config_load_file(&c, badint, err, sizeof err));
    assert_non_null(strstr(err, "heartbeat_interval"));
    config_free(&c);

    config_defaults(&c);
    assert_false(config_load_file(&c, "/nonexistent/ocppgw.conf", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/ocppgw.conf"));
    config_free(&c);

    unlink(good), unlink(unknown), unlink(badint);
    free(good), free(unknown), free(badint);
}

static void test_config_env_overrides_file(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_true(config_set(&c, "server", "listen", "1.2.3.4:1", err, sizeof err));
    setenv("OCPPGW_LISTEN", "127.0.0.1:7000", 1);
    setenv("DATABASE_URL", "dbname=env", 1);
    config_apply_env(&c);
    assert_string_equal(c.listen, "127.0.0.1:7000");
    assert_string_equal(c.db_url, "dbname=env");
    unsetenv("OCPPGW_LISTEN");
    unsetenv("DATABASE_URL");
    config_free(&c);
}

static void test_config_bool_and_listen(void **state)
{
    (void)state;
    struct config c;
    char err[256], addr[64];
    int port;
    config_defaults(&c);
    assert_false(config_set(&c, "ocpp", "auto_register", "maybe", err, sizeof err));
    assert_true(config_set(&c, "ocpp", "auto_register", "yes", err, sizeof err));
    assert_true(c.auto_register);
    assert_false(config_set(&c, "ocpp", "max_frame", "10", err, sizeof err)); /* below minimum */
    assert_true(config_split_listen("[::1]:8080", addr, sizeof addr, &port));
    assert_string_equal(addr, "::1");
    assert_int_equal(port, 8080);
    assert_false(config_split_listen("8080", addr, sizeof addr, &port));
    assert_false(config_split_listen("host:99999", addr, sizeof addr, &port));
    assert_true(config_set(&c, "server", "listen", "nonsense", err, sizeof err));
    assert_true(config_set(&c, "database", "url", "x", err, sizeof err));
    assert_false(config_validate(&c, err, sizeof err));
    assert_non_null(strstr(err, "server.listen"));
    config_free(&c);
}

/* cluster.*: the node id (given or derived from host and port) and the heartbeat interval. */
static void test_config_cluster(void **state)
{
    (void)state;
    struct config c;
    char err[256], id[65];
    config_defaults(&c);
    assert_int_equal(c.cluster_heartbeat_interval, 10);
    assert_string_equal(c.node_id, "");
    assert_true(config_set(&c, "database", "url", "dbname=x", err, sizeof err));
    assert_true(config_set(&c, "server", "listen", "127.0.0.1:9123", err, sizeof err));
    config_node_id(&c, id, sizeof id);
    assert_true(config_node_id_valid(id));          /* host name characters outside the set became '-' */
    assert_true(strlen(id) > 5);
    assert_string_equal(id + strlen(id) - 5, ":9123");
    char again[65];
    config_node_id(&c, again, sizeof again);        /* the same for a restart of the same service */
    assert_string_equal(id, again);

    assert_true(config_set(&c, "cluster", "node_id", "gw-a.eu_1:8080", err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    config_node_id(&c, id, sizeof id);
    assert_string_equal(id, "gw-a.eu_1:8080");
    const char *bad[] = { "gw a", "gw/a", "gw%a", "\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(config_set(&c, "cluster", "node_id", bad[i], err, sizeof err));
        assert_false(config_validate(&c, err, sizeof err));
        assert_non_null(strstr(err, "cluster.node_id"));
    }
    char longid[80];
    memset(longid, 'n', 65);
    longid[65] = '\0';
    assert_false(config_set(&c, "cluster", "node_id", longid, err, sizeof err));   /* over 64 */
    longid[64] = '\0';
    assert_true(config_set(&c, "cluster", "node_id", longid, err, sizeof err));
    assert_true(config_validate(&c, err, sizeof err));
    assert_false(config_node_id_valid(""));

    assert_true(config_set(&c, "cluster", "heartbeat_interval", "1", err, sizeof err));
    assert_int_equal(c.cluster_heartbeat_interval, 1);
    assert_false(config_set(&c, "cluster", "heartbeat_interval", "0", err, sizeof err));
    assert_false(config_set(&c, "cluster", "heartbeat_interval", "3601", err, sizeof err));
    config_free(&c);
}

static void test_password_hash_roundtrip(void **state)
{
    (void)state;
    char *h = secret_hash_password("0123456789abcdef0123", 1000);
    assert_true(strncmp(h, "pbkdf2-sha256$1000$", 19) == 0);
    assert_true(secret_verify_password(h, "0123456789abcdef0123"));
    assert_false(secret_verify_password(h, "0123456789abcdef0124"));
    assert_false(secret_verify_password(h, ""));
    char *h2 = secret_hash_password("0123456789abcdef0123", 1000);
    assert_string_not_equal(h, h2); /* salted */
    assert_false(secret_verify_password("plain-text", "plain-text"));
    assert_false(secret_verify_password("pbkdf2-sha256$0$AAAA$AAAA", "x"));
    free(h);
    free(h2);
}

static void test_basic_auth_parse(void **state)
{
    (void)state;
    char user[64], pass[64];
    /* "CP-1:secret-password-16" */
    assert_true(secret_parse_basic("Basic Q1AtMTpzZWNyZXQtcGFzc3dvcmQtMTY=", user, sizeof user, pass, sizeof pass));
    assert_string_equal(user, "CP-1");
    assert_string_equal(pass, "secret-password-16");
    /* password containing ':' */
    assert_true(secret_parse_basic("basic YTpiOmM=", user, sizeof user, pass, sizeof pass));
    assert_string_equal(user, "a");
    assert_string_equal(pass, "b:c");
    assert_false(secret_parse_basic("Bearer abc", user, sizeof user, pass, sizeof pass));
    assert_false(secret_parse_basic("Basic !!!!", user, sizeof user, pass, sizeof pass));
    assert_false(secret_parse_basic("Basic YWJj", user, sizeof user, pass, sizeof pass)); /* no colon */
    assert_false(secret_parse_basic("Basic ", user, sizeof user, pass, sizeof pass));
}

static void test_api_key_format(void **state)
{
    (void)state;
    char prefix[13];
    char *a = secret_new_api_key(prefix);
    char *b = secret_new_api_key(prefix);
    assert_int_equal(strlen(a), 4 + 43);
    assert_true(strncmp(a, "ogw_", 4) == 0);
    assert_string_not_equal(a, b);
    assert_true(strncmp(b, prefix, 12) == 0);
    for (const char *p = a + 4; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    char hex[65];
    secret_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(a);
    free(b);
}

static int count_and_drop_even(void *ctx, const void *key, size_t klen, void *val)
{
    (void)key, (void)klen;
    (*(int *)ctx)++;
    return ((intptr_t)val % 2) == 0;
}

static void test_hmap(void **state)
{
    (void)state;
    struct hmap *m = hmap_new();
    char key[32];
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof key, "CP-%ld", (long)i);
        assert_null(hmap_put_str(m, key, (void *)i));
    }
    assert_int_equal(hmap_count(m), 5000);
    assert_ptr_equal(hmap_get_str(m, "CP-4242"), (void *)4242);
    assert_null(hmap_get_str(m, "CP-0"));
    assert_ptr_equal(hmap_put_str(m, "CP-1", (void *)7), (void *)1);
    assert_ptr_equal(hmap_del_str(m, "CP-2"), (void *)2);
    assert_null(hmap_get_str(m, "CP-2"));
    int seen = 0;
    hmap_foreach(m, count_and_drop_even, &seen);
    assert_int_equal(seen, 4999);
    assert_null(hmap_get_str(m, "CP-4242"));
    assert_ptr_equal(hmap_get_str(m, "CP-4243"), (void *)4243);
    assert_ptr_equal(hmap_put_u64(m, 42, (void *)3), NULL);
    assert_ptr_equal(hmap_get_u64(m, 42), (void *)3);
    hmap_free(m);
}

/* The one string buffer: always NUL-terminated, grows past its first block, hands over its text. */
static void test_strbuf(void **state)
{
    (void)state;
    struct strbuf b = STRBUF_INIT;
    assert_string_equal(strbuf_str(&b), "");
    strbuf_reserve(&b, 10);                 /* allocated, still empty and terminated */
    assert_string_equal(strbuf_str(&b), "");
    assert_int_equal(b.len, 0);
    strbuf_puts(&b, "a=");
    strbuf_put_int(&b, INT64_MIN);
    strbuf_putc(&b, ',');
    strbuf_put_int(&b, 0);
    strbuf_printf(&b, ",%s=%d", "x", 42);
    assert_string_equal(strbuf_str(&b), "a=-9223372036854775808,0,x=42");
    assert_int_equal(b.len, strlen(strbuf_str(&b)));
    /* a printf larger than what is left, then many small puts: past the first 256 bytes */
    char big[600];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    strbuf_printf(&b, "[%s]", big);
    for (int i = 0; i < 1000; i++)
        strbuf_putc(&b, 'z');
    assert_int_equal(b.len, 29 + 601 + 1000);
    assert_true(b.cap > b.len);
    assert_int_equal(strbuf_str(&b)[b.len], '\0');
    strbuf_truncate(&b, 3);
    assert_string_equal(strbuf_str(&b), "a=-");
    strbuf_put(&b, "\0q", 2);              /* bytes, NUL included: the length counts */
    assert_int_equal(b.len, 5);
    char *s = strbuf_take(&b);
    assert_memory_equal(s, "a=-\0q", 6);
    assert_null(b.buf);
    assert_int_equal(b.len + b.cap, 0);
    free(s);
    s = strbuf_take(&b);                    /* an empty buffer still hands over a string */
    assert_string_equal(s, "");
    free(s);
    strbuf_puts(&b, "reused");
    strbuf_reset(&b);
    assert_string_equal(strbuf_str(&b), "");
    strbuf_free(&b);
    /* a whole file, larger than one read */
    char path[] = "/tmp/ocppgw-strbuf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 20000; i++)
        fprintf(f, "%04d\n", i % 10000);
    fclose(f);
    strbuf_puts(&b, ">");
    assert_true(strbuf_read_file(&b, path));
    assert_int_equal(b.len, 1 + 20000 * 5);
    assert_memory_equal(strbuf_str(&b), ">0000\n0001\n", 11);
    assert_string_equal(strbuf_str(&b) + b.len - 5, "9999\n");
    unlink(path);
    assert_false(strbuf_read_file(&b, path));
    strbuf_free(&b);
    char num[24];
    assert_int_equal(fmt_int64(num, -42), 3);
    assert_string_equal(num, "-42");
}

static void test_metrics_text(void **state)
{
    (void)state;
    metrics_frame(METRICS_IN, OCPP_ACTION_HEARTBEAT, METRICS_OK);
    metrics_callerror(OCPP_ERR_FORMATION);
    metrics_batch(7, 1500);
    struct metrics_gauges g = { .connected_chargers = 3, .known_chargers = 5, .db_queue_depth = 2, .db_up = 1 };
    char *t = metrics_render(&g);
    assert_non_null(strstr(t, "ocppgw_connected_chargers 3\n"));
    assert_non_null(strstr(t, "ocppgw_frames_total{dir=\"in\",action=\"Heartbeat\",result=\"ok\"} 1\n"));
    assert_non_null(strstr(t, "ocppgw_callerrors_total{code=\"FormationViolation\"} 1\n"));
    assert_non_null(strstr(t, "ocppgw_db_batch_size_bucket{le=\"8\"} 1\n"));
    assert_non_null(strstr(t, "ocppgw_db_commit_seconds_count 1\n"));
    assert_non_null(strstr(t, "ocppgw_db_up 1\n"));
    assert_non_null(strstr(t, "ocppgw_presence_chargers_cleared_total{reason=\"node_lost\"} 0\n"));
    free(t);
    metrics_presence_cleared(METRICS_PRESENCE_RESTART, 9);
    metrics_presence_node_lost();
    metrics_presence_resumed(4);
    t = metrics_render(&g);
    assert_non_null(strstr(t, "# TYPE ocppgw_presence_chargers_cleared_total counter\n"));
    assert_non_null(strstr(t, "ocppgw_presence_chargers_cleared_total{reason=\"restart\"} 9\n"));
    assert_non_null(strstr(t, "ocppgw_presence_nodes_lost_total 1\n"));
    assert_non_null(strstr(t, "ocppgw_presence_chargers_resumed_total 4\n"));
    free(t);
}

/*
 * The compiled-in country codes are exactly those of the tz database's
 * iso3166.tab (tzdata, a dependency): each of its codes is taken, and of
 * every two capital letters no other is.
 */
static void test_iso3166_alpha2(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/iso3166.tab", tz_dir());
    struct strbuf tab = STRBUF_INIT;
    if (!strbuf_read_file(&tab, path))
        fail_msg("%s cannot be read (tzdata is a dependency: make deps)", path);
    bool listed[26][26] = { { false } };
    int n = 0;
    for (const char *line = strbuf_str(&tab), *nl; *line; line = nl ? nl + 1 : "") {
        nl = strchr(line, '\n');
        if (line[0] == '#' || line[0] == '\n')
            continue;
        assert_true(line[0] >= 'A' && line[0] <= 'Z' && line[1] >= 'A' && line[1] <= 'Z' && line[2] == '\t');
        listed[line[0] - 'A'][line[1] - 'A'] = true;
        n++;
    }
    strbuf_free(&tab);
    assert_int_equal(n, 249);
    for (int a = 0; a < 26; a++)
        for (int b = 0; b < 26; b++) {
            char code[3] = { (char)('A' + a), (char)('A' + b), '\0' };
            if (iso3166_alpha2(code) != listed[a][b])
                fail_msg("%s: iso3166_alpha2 says %d, iso3166.tab %d", code, iso3166_alpha2(code), listed[a][b]);
        }
    assert_true(iso3166_alpha2("DE"));
    assert_false(iso3166_alpha2("de"));
    assert_false(iso3166_alpha2("De"));
    assert_false(iso3166_alpha2("DEU"));
    assert_false(iso3166_alpha2("D"));
    assert_false(iso3166_alpha2(""));
    assert_false(iso3166_alpha2(NULL));
    assert_false(iso3166_alpha2("EU"));     /* reserved, not assigned */
    assert_false(iso3166_alpha2("XK"));     /* user-assigned */
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_valid_with_db),
        cmocka_unit_test(test_config_file_and_errors),
        cmocka_unit_test(test_config_security_ca),
        cmocka_unit_test(test_config_idle_power),
        cmocka_unit_test(test_config_retention),
        cmocka_unit_test(test_config_env_overrides_file),
        cmocka_unit_test(test_config_bool_and_listen),
        cmocka_unit_test(test_config_cluster),
        cmocka_unit_test(test_password_hash_roundtrip),
        cmocka_unit_test(test_basic_auth_parse),
        cmocka_unit_test(test_api_key_format),
        cmocka_unit_test(test_hmap),
        cmocka_unit_test(test_strbuf),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_iso3166_alpha2),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
