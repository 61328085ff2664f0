/*
 * Integration: the administration command line as an operator types it
 * (interfaces.md, docs/operations.md "Command line"), the real binary
 * against the real database, with a running gateway for what a change does
 * to a live connection.
 *
 * - --help per command and subcommand: exit 0, usage on stdout; a wrong
 *   command line: the problem and the usage on stderr, exit 2, nothing done.
 * - `apikey create` with an unknown scope names every valid one (the list
 *   REST checks, rest_scopes); `apikey list` and `revoke`.
 * - `charger add` says what it did (profile, the key shown once, the
 *   warning for profile 0); `charger list` (table and --json); `charger
 *   remove` and `charger set-key`, which a gateway learns of through the
 *   chargers NOTIFY and which close the live connection (1008); unknown ids
 *   refused with exit 1.
 *
 * Charger ids start with "icl-".
 */
#include "it.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "calls.h"
#include "db.h"
#include "fixture.h"
#include "gw.h"
#include "proc.h"
#include "rest.h"
#include "sim.h"
#include "support/rest.h"

#define KEY_A "icl-key-A-0123456789abcdef"
#define KEY_B "icl-key-B-0123456789abcdef"
#define LENIENT_INI API_UNLIMITED_INI "[ocpp]\nauth_fail_max = 100000\n"

static int group_setup(void **state)
{
    (void)state;
    gw_migrate_once();
    db_exec("DELETE FROM chargers WHERE id LIKE 'icl-%'");
    struct gw_opts o = { .name = "it_cli", .ini = LENIENT_INI };
    W.gw = gw_start(&o);
    return 0;
}

/*
 * Runs `ocppgw ARGS...` (NULL-terminated, after argv[0]); with_db appends
 * --db. The environment's database and listeners are unset, so only what
 * the command line says counts.
 */
static void cli_run(bool with_db, const char *const *args, struct proc_result *r)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = it_env("OCPPGW_BIN");
    for (const char *const *a = args; *a && n < 21; a++)
        argv[n++] = *a;
    if (with_db) {
        argv[n++] = "--db";
        argv[n++] = it_env("OCPPGW_TEST_DB");
    }
    argv[n] = NULL;
    const char *env[] = { "DATABASE_URL", "OCPPGW_LISTEN", "OCPPGW_API_LISTEN", "OCPPGW_LOG_LEVEL", NULL };
    proc_run(argv, env, 60000, r);
    if (!r->out)
        r->out = strdup("");
    if (!r->err)
        r->err = strdup("");
}

static char *joined(const char *const *args)
{
    char buf[512] = "";
    for (const char *const *a = args; *a; a++) {
        strncat(buf, " ", sizeof buf - strlen(buf) - 1);
        strncat(buf, *a, sizeof buf - strlen(buf) - 1);
    }
    return strdup(buf);
}

/* Runs it and fails the test unless the exit status is `status`. Caller frees r. */
static void cli_expect(bool with_db, const char *const *args, int status, struct proc_result *r)
{
    cli_run(with_db, args, r);
    if (r->status != status) {
        char *line = joined(args);
        fail_msg("ocppgw%s: exit %d, expected %d\nstdout: %s\nstderr: %s", line, r->status, status, r->out,
                 r->err);
    }
}

static void expect_in(const char *what, const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("%s does not say \"%s\":\n%s", what, needle, text);
}

/* stdout as one key alone on its line (caller frees), or a failure. */
static char *printed_key(const struct proc_result *r, const char *what)
{
    char *key = strdup(r->out);
    key[strcspn(key, "\n")] = '\0';
    if (!it_is_hex40(key) || strlen(r->out) != 41)
        fail_msg("%s printed \"%s\" on stdout, expected a 40 hex digit key alone", what, r->out);
    return key;
}

static int upgrade_status(const char *id, const char *password)
{
    struct sim_charger_opts o = { .id = id, .password = password };
    int status = 0;
    struct sim_charger *c = it_try_connect(W.sim, &o, &status, NULL);
    if (c) {
        sim_disconnect(c);
        return 101;
    }
    return status;
}

static void expect_closed_1008(struct sim_charger *c, const char *what)
{
    if (!sim_wait_closed(c, IT_WAIT_MS))
        fail_msg("%s: the live connection of %s stayed open", what, sim_charger_id(c));
    if (sim_close_code(c) != 1008)
        fail_msg("%s: %s closed with %d (%s), expected 1008", what, sim_charger_id(c), sim_close_code(c),
                 sim_close_reason(c));
    sim_disconnect(c);
}

/* ---------------------------------------------------------------- --help and usage errors */

static void test_help_per_command(void **state)
{
    (void)state;
    static const struct { const char *args[4]; const char *says[3]; } cases[] = {
        { { "--help" }, { "ocppgw charger set-key ID", "ocppgw apikey create", "ocppgw migrate" } },
        { { "charger", "--help" },
          { "ocppgw charger list", "ocppgw charger remove ID", "ocppgw charger set-key ID" } },
        { { "charger", "add", "--help" }, { "usage: ocppgw charger add ID", "shown only", "--security-profile 0" } },
        { { "charger", "list", "--help" }, { "usage: ocppgw charger list", "--json", "last seen" } },
        { { "charger", "remove", "--help" }, { "usage: ocppgw charger remove ID", "1008", NULL } },
        { { "charger", "set-key", "--help" }, { "usage: ocppgw charger set-key ID", "--auth-key", "1008" } },
        { { "apikey", "--help" }, { "ocppgw apikey create", "ocppgw apikey list", "ocppgw apikey revoke ID" } },
        { { "apikey", "create", "--help" }, { "usage: ocppgw apikey create", "sessions:read", "admin" } },
        { { "apikey", "revoke", "--help" }, { "usage: ocppgw apikey revoke ID", NULL, NULL } },
        { { "migrate", "--help" }, { "usage: ocppgw migrate", NULL, NULL } },
        /* help wins over what is missing: no ID, no database */
        { { "charger", "set-key", "--help", "--auth-key" }, { "usage: ocppgw charger set-key ID", NULL, NULL } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_result r;
        cli_expect(false, cases[i].args, 0, &r);
        char *line = joined(cases[i].args);
        for (int k = 0; k < 3 && cases[i].says[k]; k++)
            expect_in(line, r.out, cases[i].says[k]);
        if (r.err[0])
            fail_msg("ocppgw%s wrote to stderr: %s", line, r.err);
        free(line);
        proc_result_free(&r);
    }
}

static void test_usage_errors_exit_2_with_usage_on_stderr(void **state)
{
    (void)state;
    static const struct { const char *args[6]; const char *problem; const char *usage; } cases[] = {
        { { "charger" }, "charger needs a subcommand: list, add, remove or set-key", "ocppgw charger set-key ID" },
        { { "charger", "frob" }, "unknown charger subcommand 'frob'", "ocppgw charger list" },
        { { "charger", "set-key" }, "charger set-key needs a charger ID", "usage: ocppgw charger set-key ID" },
        { { "charger", "remove" }, "charger remove needs a charger ID", "usage: ocppgw charger remove ID" },
        { { "charger", "add", "icl-a", "icl-b" }, "unexpected argument 'icl-b'", "usage: ocppgw charger add ID" },
        { { "charger", "list", "--scopes", "admin" }, "option --scopes does not apply to charger list",
          "usage: ocppgw charger list" },
        { { "charger", "remove", "icl-x", "--auth-key", KEY_A }, "option --auth-key does not apply to charger remove",
          "usage: ocppgw charger remove ID" },
        { { "charger", "add", "icl-x", "--bogus" }, "unknown or incomplete option '--bogus'",
          "usage: ocppgw charger add ID" },
        { { "charger", "set-key", "icl-x", "--auth-key", "short" }, "--auth-key must be 16 to 40", NULL },
        { { "charger", "add", "icl-x", "--security-profile", "7" }, "--security-profile must be 0, 1, 2 or 3", NULL },
        { { "apikey" }, "apikey needs a subcommand: create, list or revoke", "ocppgw apikey revoke ID" },
        { { "apikey", "create", "--name", "icl" }, "apikey create needs --name and --scopes",
          "usage: ocppgw apikey create" },
        { { "apikey", "revoke", "seven" }, "apikey revoke needs a numeric key ID", "usage: ocppgw apikey revoke ID" },
    };
    int64_t keys = db_int("SELECT count(*) FROM api_keys");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_result r;
        /* with a database: nothing is done all the same */
        cli_expect(true, cases[i].args, 2, &r);
        char *line = joined(cases[i].args);
        if (strncmp(r.err, "ocppgw: ", 8) != 0)
            fail_msg("ocppgw%s: stderr does not start with \"ocppgw: \": %s", line, r.err);
        char first[512];
        snprintf(first, sizeof first, "%s", r.err);
        first[strcspn(first, "\n")] = '\0';
        expect_in(line, first, cases[i].problem);
        if (cases[i].usage)
            expect_in(line, r.err, cases[i].usage);
        if (r.out[0])
            fail_msg("ocppgw%s wrote to stdout: %s", line, r.out);
        free(line);
        proc_result_free(&r);
    }
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id LIKE 'icl-x%' OR id LIKE 'icl-a%'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys"), keys);
}

/* ---------------------------------------------------------------- API keys */

static void test_unknown_scope_lists_the_valid_ones(void **state)
{
    (void)state;
    int64_t keys = db_int("SELECT count(*) FROM api_keys");
    const char *args[] = { "apikey", "create", "--name", "icl-typo", "--scopes", "chargers:read,sessions:reed",
                           NULL };
    struct proc_result r;
    cli_expect(true, args, 2, &r);
    expect_in("apikey create --scopes sessions:reed", r.err, "unknown scope 'sessions:reed'; valid scopes: admin, chargers:read, ");
    /* every scope REST takes, from the same table */
    for (const char *const *s = rest_scopes; *s; s++)
        expect_in("the valid scopes", r.err, *s);
    assert_int_equal(proc_count_lines(r.err), 1);
    assert_string_equal(r.out, "");
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys"), keys);

    const char *empty[] = { "apikey", "create", "--name", "icl-empty", "--scopes", " , ", NULL };
    cli_expect(true, empty, 2, &r);
    expect_in("apikey create --scopes ' , '", r.err, "--scopes needs at least one scope; valid scopes: admin");
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM api_keys"), keys);
}

static void test_apikey_create_list_revoke(void **state)
{
    (void)state;
    char *key = api_key_create("icl-listed", "sessions:read, chargers:read");
    int64_t id = api_key_id(key);
    assert_true(id > 0);
    char ids[24], line[96];
    snprintf(ids, sizeof ids, "%lld", (long long)id);

    const char *list[] = { "apikey", "list", NULL };
    struct proc_result r;
    cli_expect(true, list, 0, &r);
    snprintf(line, sizeof line, "%s\ticl-listed\t", ids);
    expect_in("apikey list", r.out, line);
    expect_in("apikey list", r.out, "\tsessions:read,chargers:read\t");
    if (strstr(r.out, key))
        fail_msg("apikey list shows a secret: %s", r.out);
    proc_result_free(&r);

    const char *revoke[] = { "apikey", "revoke", ids, NULL };
    cli_expect(true, revoke, 0, &r);
    expect_in("apikey revoke", r.err, "revoked");
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE actor = 'cli' AND action = 'apikey.revoke'"
                            " AND resource = $1", ids), 1);
    cli_expect(true, list, 0, &r);
    char *at = strstr(r.out, line);
    assert_non_null(at);
    char row[256];
    snprintf(row, sizeof row, "%s", at);
    row[strcspn(row, "\n")] = '\0';
    expect_in("apikey list after revoke", row, "\trevoked");
    proc_result_free(&r);

    /* again, and an id that never was: exit 1 with a reason */
    cli_expect(true, revoke, 1, &r);
    expect_in("apikey revoke (again)", r.err, "no active API key with id");
    proc_result_free(&r);
    const char *nobody[] = { "apikey", "revoke", "987654321", NULL };
    cli_expect(true, nobody, 1, &r);
    expect_in("apikey revoke 987654321", r.err, "no active API key with id 987654321");
    proc_result_free(&r);
    free(key);
}

/* ---------------------------------------------------------------- chargers */

static void test_charger_add_says_what_it_did(void **state)
{
    (void)state;
    const char *add[] = { "charger", "add", "icl-made", NULL };
    struct proc_result r;
    cli_expect(true, add, 0, &r);
    char *key = printed_key(&r, "charger add icl-made");
    expect_in("charger add", r.err, "charger icl-made added with security profile 1");
    expect_in("charger add", r.err, "shown only this once");
    if (strstr(r.err, key))
        fail_msg("charger add repeats the key on stderr: %s", r.err);
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icl-made' AND security_profile = 1"
                            " AND auth_hash LIKE 'pbkdf2-sha256$%' AND strpos(auth_hash, $1) = 0", key), 1);
    struct sim_charger *ch = it_connect_when_known(W.sim, "icl-made", key);
    sim_disconnect(ch);
    free(key);

    const char *given[] = { "charger", "add", "icl-given", "--auth-key", KEY_A, "--name", "Bay 1", NULL };
    cli_expect(true, given, 0, &r);
    assert_string_equal(r.out, "");
    expect_in("charger add --auth-key", r.err, "security profile 1");
    expect_in("charger add --auth-key", r.err, "given with --auth-key");
    proc_result_free(&r);

    const char *open[] = { "charger", "add", "icl-open", "--security-profile", "0", NULL };
    cli_expect(true, open, 0, &r);
    assert_string_equal(r.out, "");
    expect_in("charger add --security-profile 0", r.err, "security profile 0");
    expect_in("charger add --security-profile 0", r.err, "warning: icl-open connects without credentials");
    proc_result_free(&r);

    /* the same id again: exit 1, nothing printed on stdout, the row unchanged */
    cli_expect(true, add, 1, &r);
    assert_string_equal(r.out, "");
    expect_in("charger add (exists)", r.err, "charger 'icl-made' already exists");
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE actor = 'cli' AND action = 'charger.create'"
                            " AND resource = 'icl-made'"), 1);
}

static const cJSON *json_charger(const cJSON *arr, const char *id)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
        if (strcmp(js(c, "id"), id) == 0)
            return c;
    fail_msg("charger list --json has no %s", id);
    return NULL;
}

/* The table line of a charger, split on blanks into at most 8 words. */
static int table_words(const char *out, const char *id, char words[8][64])
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "\n%s ", id);
    const char *at = strstr(out, prefix);
    if (!at)
        fail_msg("charger list has no line for %s:\n%s", id, out);
    char line[512];
    snprintf(line, sizeof line, "%s", at + 1);
    line[strcspn(line, "\n")] = '\0';
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " ", &save); w && n < 8; w = strtok_r(NULL, " ", &save))
        snprintf(words[n++], 64, "%s", w);
    return n;
}

static void test_charger_list(void **state)
{
    (void)state;
    db_add_charger("icl-l-key", KEY_A, 1);
    db_add_charger("icl-l-open", NULL, 0);
    db_exec("UPDATE chargers SET registration_status = 'Pending' WHERE id = 'icl-l-open'");
    struct sim_charger *ch = it_connect_when_known(W.sim, "icl-l-key", KEY_A);
    assert_true(it_heartbeat_ok(ch));
    assert_int_equal(db_wait_int(IT_WAIT_MS, 1, "SELECT count(*) FROM chargers WHERE id = 'icl-l-key'"
                                 " AND connected AND last_seen_at IS NOT NULL"), 1);

    const char *list[] = { "charger", "list", NULL };
    struct proc_result r;
    cli_expect(true, list, 0, &r);
    if (strncmp(r.out, "ID ", 3) != 0)
        fail_msg("charger list has no header line: %s", r.out);
    expect_in("charger list header", r.out, "PROFILE");
    expect_in("charger list header", r.out, "REGISTRATION");
    expect_in("charger list header", r.out, "CONNECTED");
    expect_in("charger list header", r.out, "LAST SEEN");
    char w[8][64];
    /* id, profile, key, registration, connected, last seen, name */
    assert_true(table_words(r.out, "icl-l-key", w) >= 6);
    assert_string_equal(w[1], "1");
    assert_string_equal(w[2], "yes");
    assert_string_equal(w[3], "Accepted");
    assert_string_equal(w[4], "yes");
    if (strlen(w[5]) != 20 || w[5][10] != 'T')
        fail_msg("last seen of icl-l-key is \"%s\", expected a UTC time", w[5]);
    assert_true(table_words(r.out, "icl-l-open", w) >= 6);
    assert_string_equal(w[1], "0");
    assert_string_equal(w[2], "no");
    assert_string_equal(w[3], "Pending");
    assert_string_equal(w[4], "no");
    assert_string_equal(w[5], "never");
    proc_result_free(&r);

    const char *json[] = { "charger", "list", "--json", NULL };
    cli_expect(true, json, 0, &r);
    cJSON *arr = cJSON_Parse(r.out);
    if (!cJSON_IsArray(arr))
        fail_msg("charger list --json is not a JSON array: %s", r.out);
    assert_int_equal(cJSON_GetArraySize(arr), db_int("SELECT count(*) FROM chargers"));
    const cJSON *k = json_charger(arr, "icl-l-key");
    assert_int_equal(ji(k, "securityProfile"), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(k, "hasAuthorizationKey")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(k, "connected")));
    assert_non_null(js(k, "lastSeenAt"));
    assert_string_equal(js(k, "registrationStatus"), "Accepted");
    const cJSON *o = json_charger(arr, "icl-l-open");
    assert_int_equal(ji(o, "securityProfile"), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "connected")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "lastSeenAt")));
    if (strstr(r.out, "pbkdf2") || strstr(r.out, KEY_A))
        fail_msg("charger list --json shows a key or its hash: %s", r.out);
    cJSON_Delete(arr);
    proc_result_free(&r);
    sim_disconnect(ch);
}

static void test_charger_remove(void **state)
{
    (void)state;
    const char *nobody[] = { "charger", "remove", "icl-nobody", NULL };
    struct proc_result r;
    cli_expect(true, nobody, 1, &r);
    expect_in("charger remove icl-nobody", r.err, "no charger 'icl-nobody'");
    proc_result_free(&r);

    /* the gateway holding the connection learns of it by NOTIFY and closes it */
    db_add_charger("icl-rm", KEY_A, 1);
    struct sim_charger *ch = it_connect_when_known(W.sim, "icl-rm", KEY_A);
    assert_true(it_heartbeat_ok(ch));
    const char *rm[] = { "charger", "remove", "icl-rm", NULL };
    cli_expect(true, rm, 0, &r);
    expect_in("charger remove", r.err, "charger icl-rm removed");
    proc_result_free(&r);
    expect_closed_1008(ch, "charger remove");
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icl-rm'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE actor = 'cli' AND action = 'charger.delete'"
                            " AND resource = 'icl-rm'"), 1);
    assert_int_equal(upgrade_status("icl-rm", KEY_A), 404);
    cli_expect(true, rm, 1, &r);
    proc_result_free(&r);
}

static void test_charger_set_key_closes_the_session(void **state)
{
    (void)state;
    db_add_charger("icl-rekey", KEY_A, 1);
    struct sim_charger *ch = it_connect_when_known(W.sim, "icl-rekey", KEY_A);
    it_boot(ch);

    /* a given key: nothing on stdout; the live connection is closed (1008) by NOTIFY */
    const char *given[] = { "charger", "set-key", "icl-rekey", "--auth-key", KEY_B, NULL };
    struct proc_result r;
    cli_expect(true, given, 0, &r);
    assert_string_equal(r.out, "");
    expect_in("charger set-key --auth-key", r.err, "charger icl-rekey has a new AuthorizationKey");
    proc_result_free(&r);
    expect_closed_1008(ch, "set-key with --auth-key");
    assert_int_equal(upgrade_status("icl-rekey", KEY_A), 401);
    ch = it_connect(W.sim, "icl-rekey", KEY_B);
    assert_true(it_heartbeat_ok(ch));

    /* a made key: printed alone, once, stored only as its PBKDF2 hash */
    const char *made[] = { "charger", "set-key", "icl-rekey", NULL };
    cli_expect(true, made, 0, &r);
    char *key = printed_key(&r, "charger set-key icl-rekey");
    expect_in("charger set-key", r.err, "shown only this once");
    proc_result_free(&r);
    expect_closed_1008(ch, "set-key with a made key");
    assert_int_equal(upgrade_status("icl-rekey", KEY_B), 401);
    ch = it_connect(W.sim, "icl-rekey", key);
    sim_disconnect(ch);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icl-rekey' AND security_profile = 1"
                            " AND auth_hash LIKE 'pbkdf2-sha256$%'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM chargers c WHERE strpos(c::text, $1) > 0", key), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log l WHERE strpos(l::text, $1) > 0", key), 0);
    assert_int_equal(db_int("SELECT count(*) FROM audit_log WHERE actor = 'cli' AND action = 'charger.update'"
                            " AND resource = 'icl-rekey'"), 2);
    free(key);
}

static void test_charger_set_key_profile_0_and_3_and_unknown(void **state)
{
    (void)state;
    /* profile 0 gets a key and profile 1: it must authenticate from now on */
    db_add_charger("icl-was-open", NULL, 0);
    struct sim_charger *ch = it_connect_when_known(W.sim, "icl-was-open", NULL);
    const char *args[] = { "charger", "set-key", "icl-was-open", "--auth-key", KEY_A, NULL };
    struct proc_result r;
    cli_expect(true, args, 0, &r);
    expect_in("charger set-key on profile 0", r.err, "security profile went from 0 to 1");
    proc_result_free(&r);
    expect_closed_1008(ch, "set-key on a profile 0 charger");
    assert_int_equal(db_int("SELECT security_profile FROM chargers WHERE id = 'icl-was-open'"), 1);
    assert_int_equal(upgrade_status("icl-was-open", NULL), 401);
    ch = it_connect(W.sim, "icl-was-open", KEY_A);
    sim_disconnect(ch);

    db_add_charger("icl-cert", NULL, 3);
    const char *cert[] = { "charger", "set-key", "icl-cert", NULL };
    cli_expect(true, cert, 1, &r);
    assert_string_equal(r.out, "");
    expect_in("charger set-key on profile 3", r.err, "uses security profile 3");
    proc_result_free(&r);
    assert_int_equal(db_int("SELECT count(*) FROM chargers WHERE id = 'icl-cert' AND auth_hash IS NULL"), 1);

    const char *nobody[] = { "charger", "set-key", "icl-nobody", NULL };
    cli_expect(true, nobody, 1, &r);
    assert_string_equal(r.out, "");
    expect_in("charger set-key icl-nobody", r.err, "no charger 'icl-nobody'");
    proc_result_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, it_test_setup, it_test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_help_per_command),
        T(test_usage_errors_exit_2_with_usage_on_stderr),
        T(test_unknown_scope_lists_the_valid_ones),
        T(test_apikey_create_list_revoke),
        T(test_charger_add_says_what_it_did),
        T(test_charger_list),
        T(test_charger_remove),
        T(test_charger_set_key_closes_the_session),
        T(test_charger_set_key_profile_0_and_3_and_unknown),
    };
#undef T
    return cmocka_run_group_tests_name("it_cli", tests, group_setup, it_group_teardown);
}
