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

#include "app.h"
#include "core.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#ifndef OCPPGW_VERSION
#define OCPPGW_VERSION "0.1.0"
#endif

static const char usage[] =
    "usage:\n"
    "  ocppgw [serve]  [--config FILE] [--listen ADDR:PORT] [--api-listen ADDR:PORT]\n"
    "                  [--db CONNINFO] [--log-level debug|info|warn|error] [--log-format text|json]\n"
    "                  [--auto-register]\n"
    "  ocppgw migrate  [--config FILE] [--db CONNINFO]\n"
    "  ocppgw apikey create --name NAME --scopes SCOPE[,SCOPE...] [--db CONNINFO]\n"
    "  ocppgw apikey list [--db CONNINFO]\n"
    "  ocppgw apikey revoke ID [--db CONNINFO]\n"
    "  ocppgw charger add ID [--auth-key KEY | --security-profile 0] [--security-profile N]\n"
    "                  [--name NAME] [--db CONNINFO]\n"
    "  ocppgw --version | --help\n"
    "\n"
    "Environment: DATABASE_URL, OCPPGW_LISTEN, OCPPGW_API_LISTEN, OCPPGW_LOG_LEVEL\n"
    "(the config file < environment < flags). See docs/configuration.md.\n";

static const char *const known_scopes[] = {
    "chargers:read", "chargers:write", "sessions:read", "commands:write", "tokens:read",
    "tokens:write",  "tariffs:read",   "tariffs:write", "reports:read",   "webhooks:write",
    "admin",
};

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

/* 0 ok, 2 usage error (printed), -1 --help/--version handled. */
int cli_parse(int argc, char **argv, struct cli *cli)
{
    enum { O_CONFIG = 1, O_LISTEN, O_API, O_DB, O_LEVEL, O_FORMAT, O_AUTO, O_NAME, O_SCOPES,
           O_KEY, O_VERSION, O_HELP, O_PROFILE };
    static const struct option opts[] = {
        { "config", required_argument, 0, O_CONFIG },   { "listen", required_argument, 0, O_LISTEN },
        { "api-listen", required_argument, 0, O_API }, { "db", required_argument, 0, O_DB },
        { "log-level", required_argument, 0, O_LEVEL }, { "log-format", required_argument, 0, O_FORMAT },
        { "auto-register", no_argument, 0, O_AUTO },    { "name", required_argument, 0, O_NAME },
        { "scopes", required_argument, 0, O_SCOPES },  { "auth-key", required_argument, 0, O_KEY },
        { "version", no_argument, 0, O_VERSION },       { "help", no_argument, 0, O_HELP },
        { "security-profile", required_argument, 0, O_PROFILE },
        { 0, 0, 0, 0 },
    };
    memset(cli, 0, sizeof *cli);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            /* a positional word: subcommand words, then keep parsing flags after it */
            const char *w = argv[optind++];
            if (!cli->cmd)
                cli->cmd = w;
            else if (!cli->sub)
                cli->sub = w;
            else if (!cli->arg)
                cli->arg = w;
            else
                return app_usage("unexpected argument '%s' (see ocppgw --help)", w);
            continue;
        }
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
        case O_VERSION: printf("ocppgw %s\n", OCPPGW_VERSION); return -1;
        case O_HELP: fputs(usage, stdout); return -1;
        case '?':
        default:
            if (optopt)
                app_fail("unknown or incomplete option '-%c' (see ocppgw --help)", optopt);
            else
                app_fail("unknown or incomplete option '%s' (see ocppgw --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (!cli->cmd)
        cli->cmd = "serve";
    return 0;
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

static int cmd_migrate(const struct config *cfg)
{
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

static bool scopes_valid(const char *csv)
{
    char *copy = xstrdup(csv), *save = NULL;
    bool ok = *csv != '\0';
    for (char *s = strtok_r(copy, ",", &save); s && ok; s = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof known_scopes / sizeof known_scopes[0]; i++)
            known |= strcmp(s, known_scopes[i]) == 0;
        if (!known) {
            app_fail("unknown scope '%s'", s);
            ok = false;
        }
    }
    free(copy);
    return ok;
}

static int cmd_apikey(const struct cli *cli, const struct config *cfg)
{
    char err[512];
    if (!cli->sub)
        return app_usage("apikey needs create, list or revoke (see ocppgw --help)");
    bool create = strcmp(cli->sub, "create") == 0, list = strcmp(cli->sub, "list") == 0,
         revoke = strcmp(cli->sub, "revoke") == 0;
    if (!create && !list && !revoke)
        return app_usage("unknown apikey subcommand '%s'", cli->sub);
    if (create && (!cli->name || !cli->scopes))
        return app_usage("apikey create needs --name and --scopes");
    if (create && !scopes_valid(cli->scopes))
        return 2;
    char *end = NULL;
    long long id = revoke && cli->arg ? strtoll(cli->arg, &end, 10) : 0;
    if (revoke && (!cli->arg || *end || id <= 0))
        return app_usage("apikey revoke needs a numeric key ID");

    struct store_admin *a = app_admin_connect(cfg);
    if (!a)
        return 1;
    int rc = 0;
    if (create) {
        char prefix[13], hash[65];
        char *key = secret_new_api_key(prefix);
        secret_sha256_hex(key, strlen(key), hash);
        int64_t new_id;
        if (store_admin_apikey_create(a, cli->name, cli->scopes, prefix, hash, &new_id, err, sizeof err) < 0)
            rc = app_fail("cannot create the key: %s", err);
        else
            printf("%s\n", key);
        memset(key, 0, strlen(key));
        free(key);
    } else if (list) {
        if (store_admin_apikey_list(a, stdout, err, sizeof err) < 0)
            rc = app_fail("cannot list keys: %s", err);
    } else {
        int r = store_admin_apikey_revoke(a, id, err, sizeof err);
        if (r < 0)
            rc = app_fail("cannot revoke: %s", err);
        else if (r == 1)
            rc = app_fail("no active API key with id %lld", id);
        else
            fprintf(stderr, "ocppgw: API key %lld revoked\n", id);
    }
    store_admin_close(a);
    return rc;
}

/*
 * `charger add`: no unauthenticated charger by accident. Without --auth-key
 * the charger gets security profile 1 and a key made here, printed once on
 * stdout (stored only as its hash); profile 0 must be asked for
 * (--security-profile 0) and takes no key; profile 3 (client certificate)
 * gets none.
 */
static int cmd_charger(const struct cli *cli, const struct config *cfg)
{
    char err[512];
    if (!cli->sub || strcmp(cli->sub, "add") != 0 || !cli->arg)
        return app_usage("usage: ocppgw charger add ID [--auth-key KEY | --security-profile 0]"
                         " [--security-profile N] [--name NAME]");
    if (!core_charger_id_valid(cli->arg))
        return app_usage("invalid charge point id '%s': 1 to 48 printable characters, no '/', ',' or space",
                    cli->arg);
    int profile = 1;
    if (cli->security_profile) {
        const char *p = cli->security_profile;
        if (p[0] < '0' || p[0] > '3' || p[1])
            return app_usage("--security-profile must be 0, 1, 2 or 3");
        profile = p[0] - '0';
    }
    if (cli->auth_key) {
        size_t n = strlen(cli->auth_key);
        bool printable = true;
        for (size_t i = 0; i < n; i++)
            printable &= cli->auth_key[i] > 0x20 && cli->auth_key[i] < 0x7f;
        if (n < 16 || n > 40 || !printable)
            return app_usage("--auth-key must be 16 to 40 printable characters (40 hex digits for a 20-byte key)");
        if (profile == 0)
            return app_usage("security profile 0 takes no --auth-key");
    }
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
        rc = app_fail("charger '%s' already exists", cli->arg);
    else {
        if (made)
            printf("%s\n", made);  /* shown once: only its hash is stored */
        fprintf(stderr, "ocppgw: charger %s added (security profile %d%s)\n", cli->arg, profile,
                made ? "; its AuthorizationKey is printed above, once" : "");
        if (profile == 0)
            fprintf(stderr, "ocppgw: warning: %s accepts connections without credentials\n", cli->arg);
    }
    if (made) {
        memset(made, 0, strlen(made));
        free(made);
    }
    return rc;
}

int cli_run_admin(const struct cli *cli, const struct config *cfg)
{
    if (strcmp(cli->cmd, "migrate") == 0)
        return cmd_migrate(cfg);
    if (strcmp(cli->cmd, "apikey") == 0)
        return cmd_apikey(cli, cfg);
    return cmd_charger(cli, cfg);
}

bool cli_command_known(const char *cmd)
{
    static const char *const cmds[] = { "serve", "migrate", "apikey", "charger" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}
