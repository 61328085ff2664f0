/*
 * Unit tests for the command line (src/app/cli.c, cli_parse): which words
 * and options make which command, what is a usage error (2, the problem and
 * the usage on stderr, nothing on stdout), --help per command (stdout), and
 * the scope check against rest_scopes. No database: cli_parse decides
 * everything before the configuration is read.
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

#include "../../src/app/app.h"
#include "rest.h"

struct parsed {
    int rc;
    struct cli cli;
    char out[8192], err[8192];
};

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* cli_parse on the words (NULL-terminated, after argv[0]) with stdout and stderr captured. */
static void parse(struct parsed *p, const char *const *words)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"ocppgw";
    for (; *words && argc < 31; words++)
        argv[argc++] = (char *)*words;
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    p->rc = cli_parse(argc, argv, &p->cli);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    slurp(out, p->out, sizeof p->out);
    slurp(err, p->err, sizeof p->err);
}

#define PARSE(p, ...) parse((p), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_usage_error(const char *const *words, const char *problem, const char *usage)
{
    struct parsed p;
    parse(&p, words);
    if (p.rc != 2 || !strstr(p.err, problem) || (usage && !strstr(p.err, usage)) || p.out[0])
        fail_msg("%s ...: rc %d, stderr \"%s\", stdout \"%s\"; expected 2 and \"%s\"", words[0], p.rc, p.err,
                 p.out, problem);
}
#define USAGE_ERROR(problem, usage, ...) \
    expect_usage_error((const char *const[]){ __VA_ARGS__, NULL }, (problem), (usage))

static void test_words_and_options(void **state)
{
    (void)state;
    struct parsed p;
    PARSE(&p, "--db", "host=x", "charger", "list", "--json");
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.cli.cmd, "charger");
    assert_string_equal(p.cli.sub, "list");
    assert_null(p.cli.arg);
    assert_true(p.cli.json);
    assert_string_equal(p.cli.db, "host=x");
    assert_non_null(p.cli.entry);

    PARSE(&p, "charger", "set-key", "CP-1", "--auth-key", "0123456789abcdef0123");
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.cli.arg, "CP-1");
    assert_string_equal(p.cli.auth_key, "0123456789abcdef0123");

    PARSE(&p, "charger", "set-key", "CP-1");
    assert_int_equal(p.rc, 0);
    assert_null(p.cli.auth_key);

    /* remove takes the id as stored, even one today's rule refuses */
    PARSE(&p, "charger", "remove", "..");
    assert_int_equal(p.rc, 0);

    PARSE(&p, "charger", "add", "CP-2", "--security-profile", "0", "--name", "Bay 2");
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.cli.security_profile, "0");
    assert_string_equal(p.cli.name, "Bay 2");

    PARSE(&p, "apikey", "create", "--name", "n", "--scopes", " admin , chargers:read ");
    assert_int_equal(p.rc, 0);
    PARSE(&p, "apikey", "revoke", "7");
    assert_int_equal(p.rc, 0);

    /* no words: serve */
    PARSE(&p, "--listen", "127.0.0.1:1");
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.cli.cmd, "serve");
    assert_string_equal(p.out, "");
    assert_string_equal(p.err, "");
}

static void test_usage_errors(void **state)
{
    (void)state;
    USAGE_ERROR("charger needs a subcommand: list, add, remove or set-key", "ocppgw charger set-key ID", "charger");
    USAGE_ERROR("unknown charger subcommand 'del'", "ocppgw charger remove ID", "charger", "del");
    USAGE_ERROR("charger set-key needs a charger ID", "usage: ocppgw charger set-key", "charger", "set-key");
    USAGE_ERROR("unexpected argument 'b'", "usage: ocppgw charger add", "charger", "add", "a", "b");
    USAGE_ERROR("unexpected argument 'x'", "usage: ocppgw charger list", "charger", "list", "x");
    USAGE_ERROR("option --json does not apply to charger add", "usage: ocppgw charger add", "charger", "add", "a",
                "--json");
    USAGE_ERROR("option --listen does not apply to apikey list", "usage: ocppgw apikey list", "apikey", "list",
                "--listen", "0.0.0.0:1");
    USAGE_ERROR("unknown or incomplete option '--nope'", "usage: ocppgw charger list", "charger", "list", "--nope");
    USAGE_ERROR("apikey revoke needs a numeric key ID", "usage: ocppgw apikey revoke", "apikey", "revoke", "7x");
    USAGE_ERROR("apikey create needs --name and --scopes", "usage: ocppgw apikey create", "apikey", "create",
                "--scopes", "admin");
    USAGE_ERROR("--auth-key must be 16 to 40", NULL, "charger", "set-key", "a", "--auth-key", "has space in it 0123");
    USAGE_ERROR("security profile 0 takes no --auth-key", NULL, "charger", "add", "a", "--security-profile", "0",
                "--auth-key", "0123456789abcdef0123");
    USAGE_ERROR("invalid charge point id", NULL, "charger", "add", "a b");
    /* serve and the command line as a whole: one line */
    struct parsed p;
    PARSE(&p, "no-such-command");
    assert_int_equal(p.rc, 2);
    assert_string_equal(p.err, "ocppgw: unknown command 'no-such-command' (see ocppgw --help)\n");
    PARSE(&p, "serve", "--no-such-flag");
    assert_int_equal(p.rc, 2);
    assert_non_null(strstr(p.err, "unknown or incomplete option '--no-such-flag'"));
    assert_ptr_equal(strchr(p.err, '\n'), p.err + strlen(p.err) - 1);   /* one line */
    PARSE(&p, "serve", "--scopes", "admin");
    assert_int_equal(p.rc, 2);
    assert_non_null(strstr(p.err, "option --scopes does not apply to serve"));
}

/* The scope list of the error is REST's, every one of it. */
static void test_unknown_scope_names_the_valid_ones(void **state)
{
    (void)state;
    struct parsed p;
    PARSE(&p, "apikey", "create", "--name", "n", "--scopes", "sessions:read,sessions:reed");
    assert_int_equal(p.rc, 2);
    assert_non_null(strstr(p.err, "ocppgw: unknown scope 'sessions:reed'; valid scopes: admin, chargers:read, "));
    for (const char *const *s = rest_scopes; *s; s++)
        if (!strstr(p.err, *s))
            fail_msg("the valid scopes miss %s: %s", *s, p.err);
    PARSE(&p, "apikey", "create", "--name", "n", "--scopes", "adm in");
    assert_int_equal(p.rc, 2);
    assert_non_null(strstr(p.err, "unknown scope 'adm in'"));
}

static void test_help_per_command(void **state)
{
    (void)state;
    struct parsed p;
    PARSE(&p, "--help");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "ocppgw charger set-key ID"));
    assert_non_null(strstr(p.out, "ocppgw migrate"));
    PARSE(&p, "charger", "--help");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "ocppgw charger remove:"));
    assert_null(strstr(p.out, "apikey create"));
    PARSE(&p, "charger", "add", "--help");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "usage: ocppgw charger add ID"));
    assert_null(strstr(p.out, "set-key ID ["));
    PARSE(&p, "charger", "set-key", "-h");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "usage: ocppgw charger set-key ID"));
    PARSE(&p, "apikey", "create", "--help");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "Scopes: admin, chargers:read"));
    /* an unknown subcommand's help: the group's */
    PARSE(&p, "charger", "frob", "--help");
    assert_int_equal(p.rc, -1);
    assert_non_null(strstr(p.out, "ocppgw charger list"));
    assert_string_equal(p.err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_options),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_unknown_scope_names_the_valid_ones),
        cmocka_unit_test(test_help_per_command),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
