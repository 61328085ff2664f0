/*
 * Private to src/app/, the process's top: main.c reads the command line
 * (cli.c) and runs one command, an administration subcommand (cli.c) or
 * `serve` (serve.c, the composition root that builds the core, the stores,
 * the REST framework and the libwebsockets glue and wires them together).
 */
#ifndef OCPPGW_APP_H
#define OCPPGW_APP_H

#include <stdbool.h>

#include "config.h"

struct store_admin;
struct cli_cmd;

/* The command line: subcommand words and flags (borrowed from argv). */
struct cli {
    const char *cmd, *sub, *arg;
    const char *config_file;
    const char *listen, *api_listen, *db, *log_level, *log_format;
    bool auto_register;
    const char *name, *scopes, *auth_key;
    const char *security_profile;       /* charger add --security-profile N, or NULL */
    bool json;                          /* charger list --json */
    const char *extra;                  /* a word after the argument (a usage error) */
    const struct cli_cmd *entry;        /* the command line's entry (cli.c), set by cli_parse */
};

/* "ocppgw: <message>" on stderr; app_fail returns 1 (a failure), app_usage 2 (a usage error). */
int app_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int app_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 0 ok, 2 usage error (printed), -1 --help/--version handled. cmd defaults to "serve". */
int cli_parse(int argc, char **argv, struct cli *cli);
/* serve, migrate, apikey, charger. */
bool cli_command_known(const char *cmd);
/*
 * Defaults < config file < environment < flags, validated; sets up logging.
 * false (reason printed) on a bad file, key or value; config_free() cfg either way.
 */
bool cli_config(const struct cli *cli, struct config *cfg);
/* migrate, apikey or charger (synchronous libpq, no loop). Exit status. */
int cli_run_admin(const struct cli *cli, const struct config *cfg);
/* Connects for a subcommand or the start-up; NULL after printing why. */
struct store_admin *app_admin_connect(const struct config *cfg);

/* `serve`: runs the gateway until SIGTERM/SIGINT. Exit status. */
int app_serve(const struct config *cfg);

#endif
