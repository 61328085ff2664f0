/*
 * The command line (docs/operations.md, interfaces.md): flags and words
 * into struct cli, the configuration layered from it, and the
 * administration subcommands (migrate, apikey, charger), which talk to
 * PostgreSQL synchronously: they run before and instead of any event loop.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core.h"
#include "rest.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#ifndef OCPPGW_VERSION
#define OCPPGW_VERSION "0.1.0"
#endif

static void say(const char *fmt, va_list ap)
{
    fputs("ocppgw: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int app_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    return 1;
}

int app_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    return 2;
}

/* The long options, by id; a command's table entry says which it takes. */
enum cli_opt {
    O_CONFIG = 1, O_LISTEN, O_API, O_DB, O_LEVEL, O_FORMAT, O_AUTO, O_NAME, O_SCOPES,
    O_KEY, O_PROFILE, O_JSON, O_VERSION, O_HELP
};
#define OPT(o) (1u << (o))
/* every command takes these: where the configuration and the database are, how to log */
#define OPTS_COMMON (OPT(O_CONFIG) | OPT(O_DB) | OPT(O_LEVEL) | OPT(O_FORMAT) | OPT(O_VERSION) | OPT(O_HELP))

static const struct option long_opts[] = {
    { "config", required_argument, 0, O_CONFIG },   { "listen", required_argument, 0, O_LISTEN },
    { "api-listen", required_argument, 0, O_API }, { "db", required_argument, 0, O_DB },
    { "log-level", required_argument, 0, O_LEVEL }, { "log-format", required_argument, 0, O_FORMAT },
    { "auto-register", no_argument, 0, O_AUTO },    { "name", required_argument, 0, O_NAME },
    { "scopes", required_argument, 0, O_SCOPES },  { "auth-key", required_argument, 0, O_KEY },
    { "security-profile", required_argument, 0, O_PROFILE },
    { "json", no_argument, 0, O_JSON },
    { "version", no_argument, 0, O_VERSION },       { "help", no_argument, 0, O_HELP },
    { 0, 0, 0, 0 },
};

static int check_apikey_create(const struct cli *cli);
static int check_apikey_revoke(const struct cli *cli);
static int check_charger_add(const struct cli *cli);
static int check_charger_set_key(const struct cli *cli);
static int cmd_migrate(const struct cli *cli, const struct config *cfg);
static int cmd_apikey_create(const struct cli *cli, const struct config *cfg);
static int cmd_apikey_list(const struct cli *cli, const struct config *cfg);
static int cmd_apikey_revoke(const struct cli *cli, const struct config *cfg);
static int cmd_charger_list(const struct cli *cli, const struct config *cfg);
static int cmd_charger_add(const struct cli *cli, const struct config *cfg);
static int cmd_charger_remove(const struct cli *cli, const struct config *cfg);
static int cmd_charger_set_key(const struct cli *cli, const struct config *cfg);

/*
 * Every command line the program takes: the words, the one positional
 * argument, the options beyond OPTS_COMMON, and the text of --help. The
 * usage of `ocppgw --help`, of `ocppgw charger --help` and of a usage error
 * are all made from this table.
 */
struct cli_cmd {
    const char *cmd, *sub;          /* sub NULL: a command without subcommands */
    const char *arg;                /* the positional argument ("ID"), NULL = none */
    unsigned opts;                  /* OPT() bits taken besides OPTS_COMMON */
    const char *synopsis;           /* after "ocppgw " */
    const char *about;              /* what it does, for --help */
    int (*check)(const struct cli *cli);   /* the values, before any configuration: 0 or 2 (printed) */
    int (*run)(const struct cli *cli, const struct config *cfg);   /* NULL: serve (app_serve) */
};

static const struct cli_cmd commands[] = {
    { "serve", NULL, NULL, OPT(O_LISTEN) | OPT(O_API) | OPT(O_AUTO),
      "[serve]  [--config FILE] [--listen ADDR:PORT] [--api-listen ADDR:PORT]\n"
      "                  [--db CONNINFO] [--log-level debug|info|warn|error] [--log-format text|json]\n"
      "                  [--auto-register]",
      "Runs the gateway: OCPP websockets and the REST API on one event loop, until\n"
      "SIGTERM or SIGINT. Applies pending migrations first.\n", NULL, NULL },
    { "migrate", NULL, NULL, 0, "migrate  [--config FILE] [--db CONNINFO]",
      "Applies the SQL migrations the database does not have yet, each once, in order.\n", NULL, cmd_migrate },
    { "apikey", "create", NULL, OPT(O_NAME) | OPT(O_SCOPES),
      "apikey create --name NAME --scopes SCOPE[,SCOPE...] [--db CONNINFO]",
      "Creates a REST API key and prints its secret alone on stdout, once (only its\n"
      "SHA-256 is stored). Scopes: %s.\n", check_apikey_create, cmd_apikey_create },
    { "apikey", "list", NULL, 0, "apikey list [--db CONNINFO]",
      "Lists the API keys, one per line, tab-separated: id, name, prefix, scopes,\n"
      "created, state (active, expired or revoked). Never shows a secret.\n", NULL, cmd_apikey_list },
    { "apikey", "revoke", "ID", 0, "apikey revoke ID [--db CONNINFO]",
      "Revokes API key ID (the id `apikey list` shows). Every gateway refuses it as\n"
      "soon as PostgreSQL's notification reaches it.\n", check_apikey_revoke, cmd_apikey_revoke },
    { "charger", "list", NULL, OPT(O_JSON), "charger list [--json] [--db CONNINFO]",
      "Lists the registered chargers: id, security profile, whether it has an\n"
      "AuthorizationKey, registration status, connected, last seen (as the gateways\n"
      "last recorded them), name. --json prints a JSON array instead.\n", NULL, cmd_charger_list },
    { "charger", "add", "ID", OPT(O_KEY) | OPT(O_NAME) | OPT(O_PROFILE),
      "charger add ID [--auth-key KEY | --security-profile 0] [--security-profile N]\n"
      "                  [--name NAME] [--db CONNINFO]",
      "Pre-registers charger ID. Without --auth-key it gets security profile 1 and a\n"
      "new AuthorizationKey (40 hex digits), printed alone on stdout and shown only\n"
      "this once: configure it in the charger. --auth-key KEY (16 to 40 printable\n"
      "characters) sets your own. --security-profile 0 registers it without\n"
      "credentials (anyone can connect as it: development only); 2 also requires\n"
      "TLS; 3 a client certificate whose CN is ID (no key).\n", check_charger_add, cmd_charger_add },
    { "charger", "remove", "ID", 0, "charger remove ID [--db CONNINFO]",
      "Deletes charger ID. Its sessions stay in the database; a gateway holding its\n"
      "connection closes it (websocket close 1008).\n", NULL, cmd_charger_remove },
    { "charger", "set-key", "ID", OPT(O_KEY), "charger set-key ID [--auth-key KEY] [--db CONNINFO]",
      "Gives charger ID a new AuthorizationKey: KEY, or without --auth-key a new one\n"
      "printed alone on stdout and shown only this once (only its hash is stored).\n"
      "A profile 0 charger moves to profile 1. A gateway holding its connection\n"
      "closes it (1008); the charger must reconnect with the new key. Send the\n"
      "charger the key first (docs/operations.md, \"Key rotation\").\n", check_charger_set_key,
      cmd_charger_set_key },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char usage_footer[] =
    "\n"
    "Environment: DATABASE_URL, OCPPGW_LISTEN, OCPPGW_API_LISTEN, OCPPGW_LOG_LEVEL\n"
    "(the config file < environment < flags). See docs/configuration.md.\n"
    "ocppgw COMMAND --help (e.g. ocppgw charger --help, ocppgw charger add --help)\n"
    "describes one command.\n";

static const char db_note[] =
    "\nThe database: --db CONNINFO, else DATABASE_URL, else database.url of --config FILE.\n";

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The valid scopes, sorted, comma-separated: rest_scopes, the list REST checks. */
static void scopes_text(char *buf, size_t cap)
{
    const char *sorted[64];
    size_t k = 0, n = 0;
    for (const char *const *s = rest_scopes; *s && k < 64; s++)
        sorted[k++] = *s;
    qsort(sorted, k, sizeof sorted[0], cmp_str);
    buf[0] = '\0';
    for (size_t i = 0; i < k && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", sorted[i]);
}

static const struct cli_cmd *find_cmd(const char *cmd, const char *sub)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].cmd, cmd) == 0 &&
            (!commands[i].sub || (sub && strcmp(commands[i].sub, sub) == 0)))
            return &commands[i];
    return NULL;
}

/* True if cmd has subcommands (apikey, charger). */
static bool is_group(const char *cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].cmd, cmd) == 0 && commands[i].sub)
            return true;
    return false;
}

/* "list, add, remove or set-key" */
static void group_subs(const char *cmd, char *buf, size_t cap)
{
    size_t total = 0, k = 0, n = 0;
    for (size_t i = 0; i < NCOMMANDS; i++)
        total += strcmp(commands[i].cmd, cmd) == 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS && n < cap; i++) {
        if (strcmp(commands[i].cmd, cmd) != 0)
            continue;
        k++;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", k == 1 ? "" : k == total ? " or " : ", ",
                              commands[i].sub);
    }
}

static void print_synopses(FILE *f, const char *cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!cmd || strcmp(commands[i].cmd, cmd) == 0)
            fprintf(f, "  ocppgw %s\n", commands[i].synopsis);
}

/* `ocppgw --help`. */
static void print_usage(FILE *f)
{
    fputs("usage:\n", f);
    print_synopses(f, NULL);
    fputs("  ocppgw --version | --help\n", f);
    fputs(usage_footer, f);
}

static void print_about(FILE *f, const struct cli_cmd *c)
{
    char scopes[512];
    scopes_text(scopes, sizeof scopes);
    fprintf(f, c->about, scopes);
}

/* `ocppgw charger --help`: every subcommand with what it does. */
static void print_group_help(FILE *f, const char *cmd)
{
    fprintf(f, "usage:\n");
    print_synopses(f, cmd);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].cmd, cmd) != 0)
            continue;
        fprintf(f, "\nocppgw %s %s:\n", cmd, commands[i].sub);
        print_about(f, &commands[i]);
    }
    fputs(db_note, f);
}

/* `ocppgw charger add --help`. */
static void print_cmd_help(FILE *f, const struct cli_cmd *c)
{
    fprintf(f, "usage: ocppgw %s\n\n", c->synopsis);
    print_about(f, c);
    if (c->run)
        fputs(db_note, f);
    else
        fputs(usage_footer, f);
}

/*
 * A usage error: "ocppgw: <problem>" and, for the administration commands,
 * their usage, all on stderr; exit status 2. serve and the command line as a
 * whole keep to one line (interfaces.md: a bad flag at start is one line).
 */
static int usage_error(const char *cmd, const struct cli_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(const char *cmd, const struct cli_cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    if (c && c->run) {
        fprintf(stderr, "usage: ocppgw %s\n(see ocppgw %s%s%s --help)\n", c->synopsis, c->cmd,
                c->sub ? " " : "", c->sub ? c->sub : "");
    } else if (cmd && is_group(cmd)) {
        fputs("usage:\n", stderr);
        print_synopses(stderr, cmd);
        fprintf(stderr, "(see ocppgw %s --help)\n", cmd);
    }
    return 2;
}

static const char *opt_name(int id)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/*
 * After the words and flags are read: the command they name, its argument
 * and that every option given applies to it. 0, or 2 after printing why.
 */
static int cli_check(struct cli *cli, unsigned seen)
{
    if (!cli_command_known(cli->cmd))
        return app_usage("unknown command '%s' (see ocppgw --help)", cli->cmd);
    const char *word_after = cli->sub;      /* the first word after the command's own words */
    const struct cli_cmd *c;
    if (is_group(cli->cmd)) {
        char subs[128];
        group_subs(cli->cmd, subs, sizeof subs);
        if (!cli->sub)
            return usage_error(cli->cmd, NULL, "%s needs a subcommand: %s", cli->cmd, subs);
        c = find_cmd(cli->cmd, cli->sub);
        if (!c)
            return usage_error(cli->cmd, NULL, "unknown %s subcommand '%s' (expected %s)", cli->cmd, cli->sub,
                               subs);
        if (c->arg && !cli->arg)
            return usage_error(cli->cmd, c, "%s %s needs %s %s", c->cmd, c->sub,
                               strcmp(c->cmd, "charger") == 0 ? "a charger" : "an API key", c->arg);
        word_after = c->arg ? cli->extra : cli->arg;
    } else {
        c = find_cmd(cli->cmd, NULL);
    }
    if (word_after)
        return usage_error(cli->cmd, c, "unexpected argument '%s'", word_after);
    unsigned stray = seen & ~(OPTS_COMMON | c->opts);
    for (int o = O_CONFIG; o <= O_HELP; o++)
        if (stray & OPT(o))
            return usage_error(cli->cmd, c, "option --%s does not apply to %s%s%s", opt_name(o), c->cmd,
                               c->sub ? " " : "", c->sub ? c->sub : "");
    cli->entry = c;
    return c->check ? c->check(cli) : 0;
}

/* --help after the words are read: the most specific help there is, on stdout. */
static void print_help(const struct cli *cli)
{
    const struct cli_cmd *c = NULL;
    if (!cli->cmd)
        print_usage(stdout);
    else if (is_group(cli->cmd) && cli->sub && (c = find_cmd(cli->cmd, cli->sub)) != NULL)
        print_cmd_help(stdout, c);
    else if (is_group(cli->cmd))
        print_group_help(stdout, cli->cmd);
    else if ((c = find_cmd(cli->cmd, NULL)) != NULL && c->run)
        print_cmd_help(stdout, c);
    else
        print_usage(stdout);
}

/* 0 ok, 2 usage error (printed), -1 --help/--version handled. */
int cli_parse(int argc, char **argv, struct cli *cli)
{
    memset(cli, 0, sizeof *cli);
    optind = 0;     /* glibc: start afresh (a second parse, in the unit tests) */
    opterr = 0;
    unsigned seen = 0;
    bool help = false;
    int c;
    while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            /* a positional word: subcommand words, then keep parsing flags after it */
            const char *w = argv[optind++];
            if (!cli->cmd)
                cli->cmd = w;
            else if (!cli->sub)
                cli->sub = w;
            else if (!cli->arg)
                cli->arg = w;
            else if (!cli->extra)
                cli->extra = w;
            continue;
        }
        if (c == 'h')
            c = O_HELP;
        if (c > 0 && c <= O_HELP)
            seen |= OPT(c);
        switch (c) {
        case O_CONFIG: cli->config_file = optarg; break;
        case O_LISTEN: cli->listen = optarg; break;
        case O_API: cli->api_listen = optarg; break;
        case O_DB: cli->db = optarg; break;
        case O_LEVEL: cli->log_level = optarg; break;
        case O_FORMAT: cli->log_format = optarg; break;
        case O_AUTO: cli->auto_register = true; break;
        case O_NAME: cli->name = optarg; break;
        case O_SCOPES: cli->scopes = optarg; break;
        case O_KEY: cli->auth_key = optarg; break;
        case O_PROFILE: cli->security_profile = optarg; break;
        case O_JSON: cli->json = true; break;
        case O_VERSION: printf("ocppgw %s\n", OCPPGW_VERSION); return -1;
        case O_HELP: help = true; break;
        case '?':
        default: {
            const struct cli_cmd *at = cli->cmd && is_group(cli->cmd) && cli->sub
                                           ? find_cmd(cli->cmd, cli->sub) : NULL;
            const char *see = at || (cli->cmd && is_group(cli->cmd)) ? "" : " (see ocppgw --help)";
            if (optopt)
                return usage_error(cli->cmd, at, "unknown or incomplete option '-%c'%s", optopt, see);
            return usage_error(cli->cmd, at, "unknown or incomplete option '%s'%s", argv[optind - 1], see);
        }
        }
    }
    if (help) {
        print_help(cli);
        return -1;
    }
    if (!cli->cmd)
        cli->cmd = "serve";
    return cli_check(cli, seen);
}

/* Defaults < config file < environment < flags. */
bool cli_config(const struct cli *cli, struct config *cfg)
{
    char err[512];
    config_defaults(cfg);
    if (cli->config_file && !config_load_file(cfg, cli->config_file, err, sizeof err))
        return !app_fail("%s", err);
    config_apply_env(cfg);
    struct { const char *sec, *key, *val; } flags[] = {
        { "server", "listen", cli->listen },     { "server", "api_listen", cli->api_listen },
        { "database", "url", cli->db },          { "log", "level", cli->log_level },
        { "log", "format", cli->log_format },    { "ocpp", "auto_register", cli->auto_register ? "true" : NULL },
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].val && !config_set(cfg, flags[i].sec, flags[i].key, flags[i].val, err, sizeof err))
            return !app_fail("%s", err);
    if (!config_validate(cfg, err, sizeof err))
        return !app_fail("%s", err);
    enum log_level lvl;
    enum log_format fmt;
    log_level_parse(cfg->log_level, &lvl);
    log_format_parse(cfg->log_format, &fmt);
    log_setup(lvl, fmt);
    return true;
}

struct store_admin *app_admin_connect(const struct config *cfg)
{
    char err[512];
    struct store_admin *a = store_admin_connect(cfg->db_url, err, sizeof err);
    if (!a)
        app_fail("cannot connect to the database: %s", err);
    return a;
}

static int cmd_migrate(const struct cli *cli, const struct config *cfg)
{
    (void)cli;
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    int n = store_admin_migrate(a, err, sizeof err);
    store_admin_close(a);
    if (n < 0)
        return app_fail("migration failed: %s", err);
    fprintf(stderr, "ocppgw: %d migration%s applied\n", n, n == 1 ? "" : "s");
    return 0;
}

/* Every scope in the list is one REST knows; else prints the first that is not, and the valid ones. */
static bool scopes_valid(const char *csv)
{
    char valid[512];
    scopes_text(valid, sizeof valid);
    char *copy = xstrdup(csv), *save = NULL;
    bool ok = true, any = false;
    for (char *s = strtok_r(copy, ",", &save); s && ok; s = strtok_r(NULL, ",", &save)) {
        s += strspn(s, " \t");     /* stored trimmed, as the SQL does */
        for (size_t n = strlen(s); n && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--)
            s[n - 1] = '\0';
        if (!*s)
            continue;
        any = true;
        bool known = false;
        for (const char *const *k = rest_scopes; *k && !known; k++)
            known = strcmp(s, *k) == 0;
        if (!known) {
            app_usage("unknown scope '%s'; valid scopes: %s", s, valid);
            ok = false;
        }
    }
    if (ok && !any) {
        app_usage("--scopes needs at least one scope; valid scopes: %s", valid);
        ok = false;
    }
    free(copy);
    return ok;
}

static int check_apikey_create(const struct cli *cli)
{
    if (!cli->name || !cli->scopes)
        return usage_error(cli->cmd, cli->entry, "apikey create needs --name and --scopes");
    if (!cli->name[0] || strlen(cli->name) > 127)
        return app_usage("--name must be 1 to 127 characters");
    return scopes_valid(cli->scopes) ? 0 : 2;
}

static int cmd_apikey_create(const struct cli *cli, const struct config *cfg)
{
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512], prefix[13], hash[65];
    int rc = 0;
    char *key = secret_new_api_key(prefix);
    secret_sha256_hex(key, strlen(key), hash);
    int64_t new_id;
    if (store_admin_apikey_create(a, cli->name, cli->scopes, prefix, hash, &new_id, err, sizeof err) < 0) {
        rc = app_fail("cannot create the key: %s", err);
    } else {
        printf("%s\n", key);
        /* said only to a person: scripts read the secret alone (`make run` keeps it in a file) */
        if (isatty(STDOUT_FILENO))
            fprintf(stderr, "ocppgw: API key %lld (%s) created; its secret is printed above and shown only"
                            " this once\n", (long long)new_id, prefix);
    }
    secret_wipe(key, strlen(key));
    free(key);
    store_admin_close(a);
    return rc;
}

static int cmd_apikey_list(const struct cli *cli, const struct config *cfg)
{
    (void)cli;
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    int rc = 0;
    if (isatty(STDOUT_FILENO))  /* a header for a person; scripts get the rows alone */
        printf("ID\tNAME\tPREFIX\tSCOPES\tCREATED\tSTATE\n");
    if (store_admin_apikey_list(a, stdout, err, sizeof err) < 0)
        rc = app_fail("cannot list keys: %s", err);
    store_admin_close(a);
    return rc;
}

static int check_apikey_revoke(const struct cli *cli)
{
    char *end = NULL;
    long long id = strtoll(cli->arg, &end, 10);
    if (!cli->arg[0] || *end || id <= 0)
        return usage_error(cli->cmd, cli->entry, "apikey revoke needs a numeric key ID (see ocppgw apikey list),"
                           " got '%s'", cli->arg);
    return 0;
}

static int cmd_apikey_revoke(const struct cli *cli, const struct config *cfg)
{
    long long id = strtoll(cli->arg, NULL, 10);
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    int rc = 0;
    int r = store_admin_apikey_revoke(a, id, err, sizeof err);
    if (r < 0)
        rc = app_fail("cannot revoke: %s", err);
    else if (r == 1)
        rc = app_fail("no active API key with id %lld (see ocppgw apikey list)", id);
    else
        fprintf(stderr, "ocppgw: API key %lld revoked\n", id);
    store_admin_close(a);
    return rc;
}

/* ---- chargers ---- */

static int cmd_charger_list(const struct cli *cli, const struct config *cfg)
{
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    struct store_admin_charger *rows = NULL;
    int n = store_admin_list_chargers(a, &rows, err, sizeof err);
    store_admin_close(a);
    if (n < 0)
        return app_fail("cannot list chargers: %s", err);
    if (cli->json) {
        fputs("[", stdout);
        for (int i = 0; i < n; i++)
            printf("%s\n%s", i ? "," : "", rows[i].json);
        fputs(n ? "\n]\n" : "]\n", stdout);
    } else if (n == 0) {
        fprintf(stderr, "ocppgw: no chargers registered (add one with ocppgw charger add ID)\n");
    } else {
        int w = (int)strlen("ID");
        for (int i = 0; i < n; i++)
            if ((int)strlen(rows[i].id) > w)
                w = (int)strlen(rows[i].id);
        printf("%-*s  %-7s  %-3s  %-12s  %-9s  %-20s  %s\n", w, "ID", "PROFILE", "KEY", "REGISTRATION",
               "CONNECTED", "LAST SEEN", "NAME");
        for (int i = 0; i < n; i++) {
            const struct store_admin_charger *c = &rows[i];
            printf("%-*s  %-7d  %-3s  %-12s  %-9s  %-20s  %s\n", w, c->id, c->security_profile,
                   c->has_key ? "yes" : "no", c->registration, c->connected ? "yes" : "no",
                   c->last_seen[0] ? c->last_seen : "never", c->name[0] ? c->name : "-");
        }
    }
    store_admin_chargers_free(rows, n);
    return 0;
}

/* An AuthorizationKey as chargers take it (and REST checks it): 16 to 40 printable characters. */
static bool auth_key_valid(const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (k[i] <= 0x20 || k[i] >= 0x7f)
            return false;
    return n >= 16 && n <= 40;
}

static const char auth_key_rule[] =
    "--auth-key must be 16 to 40 printable characters without spaces (40 hex digits for a 20-byte key)";

/* What the charger must present under a profile, for the message after a change. */
static const char *profile_means(int profile)
{
    switch (profile) {
    case 0: return "no credentials";
    case 1: return "HTTP Basic authentication with its AuthorizationKey";
    case 2: return "HTTP Basic authentication with its AuthorizationKey, over TLS only";
    default: return "a client certificate whose CN is its id, over TLS, no key";
    }
}

/* Prints a key the CLI made: alone on stdout, the only time it is ever shown; then wipes it. */
static void show_made_key(char *made)
{
    printf("%s\n", made);
    fflush(stdout);
    secret_wipe(made, strlen(made));
    free(made);
}

/*
 * `charger add`: no unauthenticated charger by accident. Without --auth-key
 * the charger gets security profile 1 and a key made here, printed once on
 * stdout (stored only as its hash); profile 0 must be asked for
 * (--security-profile 0) and takes no key; profile 3 (client certificate)
 * gets none.
 */
static int add_profile(const struct cli *cli)
{
    return cli->security_profile ? cli->security_profile[0] - '0' : 1;
}

static int check_charger_add(const struct cli *cli)
{
    if (!core_charger_id_valid(cli->arg))
        return app_usage("invalid charge point id '%s': 1 to 48 printable characters, no '/', ',' or space",
                         cli->arg);
    const char *p = cli->security_profile;
    if (p && (p[0] < '0' || p[0] > '3' || p[1]))
        return app_usage("--security-profile must be 0, 1, 2 or 3");
    int profile = add_profile(cli);
    if (cli->auth_key) {
        if (!auth_key_valid(cli->auth_key))
            return app_usage("%s", auth_key_rule);
        if (profile == 0)
            return app_usage("security profile 0 takes no --auth-key (a charger with a key is profile 1)");
        if (profile == 3)
            return app_usage("security profile 3 takes no --auth-key (the charger presents a client certificate)");
    }
    return 0;
}

static int cmd_charger_add(const struct cli *cli, const struct config *cfg)
{
    char err[512];
    int profile = add_profile(cli);
    char *made = !cli->auth_key && (profile == 1 || profile == 2) ? secret_new_charger_key() : NULL;
    const char *key = cli->auth_key ? cli->auth_key : made;
    char *hash = key ? secret_hash_password(key, cfg->password_iterations) : NULL;
    struct store_admin *a = app_admin_connect(cfg);
    int r = a ? store_admin_add_charger(a, cli->arg, cli->name, hash ? hash : "", profile, err, sizeof err) : -2;
    if (a)
        store_admin_close(a);
    free(hash);
    int rc = 0;
    if (r == -2)
        rc = 1;
    else if (r < 0)
        rc = app_fail("cannot add charger: %s", err);
    else if (r == 1)
        rc = app_fail("charger '%s' already exists (see ocppgw charger list; a new key: ocppgw charger set-key %s)",
                      cli->arg, cli->arg);
    if (rc) {
        if (made) {
            secret_wipe(made, strlen(made));
            free(made);
        }
        return rc;
    }
    fprintf(stderr, "ocppgw: charger %s added with security profile %d (%s)\n", cli->arg, profile,
            profile_means(profile));
    if (made) {
        show_made_key(made);
        fprintf(stderr, "ocppgw: its new AuthorizationKey is printed on stdout and shown only this once"
                        " (only its hash is stored): configure it in the charger now\n");
    } else if (cli->auth_key) {
        fprintf(stderr, "ocppgw: its AuthorizationKey is the one given with --auth-key\n");
    }
    if (profile == 0)
        fprintf(stderr, "ocppgw: warning: %s connects without credentials (security profile 0): anyone who"
                        " knows its id can connect as it; give it a key with ocppgw charger set-key %s\n",
                cli->arg, cli->arg);
    return 0;
}

/*
 * `charger remove`: the id is taken as given (not checked against today's
 * id rule), so a charger stored under an id the gateway no longer accepts
 * can still be removed.
 */
static int cmd_charger_remove(const struct cli *cli, const struct config *cfg)
{
    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    char err[512];
    int r = store_admin_remove_charger(a, cli->arg, err, sizeof err);
    store_admin_close(a);
    if (r < 0)
        return app_fail("cannot remove charger: %s", err);
    if (r == 1)
        return app_fail("no charger '%s' (see ocppgw charger list)", cli->arg);
    fprintf(stderr, "ocppgw: charger %s removed; its sessions stay in the database, and a gateway holding its"
                    " connection closes it (1008)\n", cli->arg);
    return 0;
}

/*
 * `charger set-key`: the hash (PBKDF2, slow on purpose) is made here, in
 * the CLI's process; only the hash reaches PostgreSQL. The committed change
 * fires the chargers NOTIFY, which makes every gateway close the charger's
 * live connection (1008).
 */
static int check_charger_set_key(const struct cli *cli)
{
    if (cli->auth_key && !auth_key_valid(cli->auth_key))
        return app_usage("%s", auth_key_rule);
    return 0;
}

static int cmd_charger_set_key(const struct cli *cli, const struct config *cfg)
{
    char *made = cli->auth_key ? NULL : secret_new_charger_key();
    char *hash = secret_hash_password(cli->auth_key ? cli->auth_key : made, cfg->password_iterations);
    struct store_admin *a = app_admin_connect(cfg);
    char err[512];
    int before = -1, after = -1;
    int r = a ? store_admin_set_charger_key(a, cli->arg, hash, &before, &after, err, sizeof err) : -2;
    if (a)
        store_admin_close(a);
    free(hash);
    int rc = 0;
    if (r == -2)
        rc = 1;
    else if (r < 0)
        rc = app_fail("cannot set the key: %s", err);
    else if (r == 1)
        rc = app_fail("no charger '%s' (see ocppgw charger list)", cli->arg);
    else if (r == 2)
        rc = app_fail("charger '%s' uses security profile 3 (a client certificate): it has no AuthorizationKey"
                      " to set", cli->arg);
    if (rc) {
        if (made) {
            secret_wipe(made, strlen(made));
            free(made);
        }
        return rc;
    }
    if (made)
        show_made_key(made);
    fprintf(stderr, "ocppgw: charger %s has a new AuthorizationKey%s; a gateway holding its connection closes"
                    " it (1008) and it must reconnect with the new key\n", cli->arg,
            made ? ", printed on stdout and shown only this once (only its hash is stored)" : "");
    if (before == 0)
        fprintf(stderr, "ocppgw: its security profile went from 0 to %d (%s)\n", after, profile_means(after));
    return 0;
}

int cli_run_admin(const struct cli *cli, const struct config *cfg)
{
    const struct cli_cmd *c = cli->entry;
    if (!c || !c->run)
        abort(); /* cli_parse found the command; serve is not administration */
    return c->run(cli, cfg);
}

bool cli_command_known(const char *cmd)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(cmd, commands[i].cmd) == 0)
            return true;
    return false;
}
