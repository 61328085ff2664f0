/*
 * ocppgw: the process. Reads the command line (interfaces.md) and runs one
 * command: `serve` (serve.c, the composition root) or an administration
 * subcommand (cli.c). See app.h for how the three files share the work.
 */
#include <string.h>
#include <time.h>

#include "app.h"
#include "config.h"
#include "ocpp.h"

int main(int argc, char **argv)
{
    /*
     * glibc sets up its time zone state on first use; make that happen here,
     * before the store threads exist, so their first gmtime_r() (log lines)
     * never races libwebsockets' localtime() on the loop thread.
     */
    tzset();
    ocpp_json_init();
    struct cli cli;
    int r = cli_parse(argc, argv, &cli);
    if (r == -1)
        return 0;
    if (r)
        return r;
    if (!cli_command_known(cli.cmd))
        return app_usage("unknown command '%s' (see ocppgw --help)", cli.cmd);
    struct config cfg;
    if (!cli_config(&cli, &cfg)) {
        config_free(&cfg);
        return 2;
    }
    r = strcmp(cli.cmd, "serve") == 0 ? app_serve(&cfg) : cli_run_admin(&cli, &cfg);
    config_free(&cfg);
    return r;
}
