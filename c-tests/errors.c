/* Error paths: each gives its flutter_result and a message that says what. */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listening socket on 127.0.0.1 without SO_REUSEPORT; its port in *port. */
static int occupy_port(uint16_t *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static const char script[] = "return function() return 'ok' end";
static const char broken[] = "-- line 1\n\nlocal = 1\n";

int main(void) {
    int status = 1, busy = -1;
    flutter_config *cfg = test_config(), *busy_cfg = test_config();
    flutter_server *server = NULL;
    uint16_t port = 0;
    char address[32];

    CHECK(cfg != NULL && busy_cfg != NULL);

    /* Header and library agree. */
    CHECK(strcmp(flutter_version(), FLUTTER_VERSION) == 0);

    /* Neither script nor handler. */
    CHECK_FAILS(flutter_server_start(cfg, &server), FLUTTER_RESULT_NO_SCRIPT, "no script");
    CHECK(server == NULL);

    /* A script that does not compile: file and line. */
    CHECK_OK(flutter_config_set_script_path(cfg, FLUTTER_TEST_SCRIPTS "/bad.lua"));
    CHECK_FAILS(flutter_server_start(cfg, &server), FLUTTER_RESULT_SCRIPT_ERROR, "bad.lua:3:");
    CHECK(server == NULL);
    CHECK_OK(flutter_config_set_script_path(cfg, FLUTTER_TEST_SCRIPTS "/missing.lua"));
    CHECK_FAILS(flutter_server_start(cfg, &server), FLUTTER_RESULT_SCRIPT_ERROR, "missing.lua");
    /* A script given as a string names its chunk the same way. */
    CHECK_OK(flutter_config_set_script_source(cfg, "broken.lua", broken, strlen(broken)));
    CHECK_FAILS(flutter_server_start(cfg, &server), FLUTTER_RESULT_SCRIPT_ERROR, "broken.lua:3:");
    CHECK_OK(flutter_config_set_script_source(cfg, "ok.lua", script, sizeof script - 1));

    /* An address in use. */
    busy = occupy_port(&port);
    CHECK(busy >= 0);
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    CHECK_OK(flutter_config_set_script_source(busy_cfg, "ok.lua", script, sizeof script - 1));
    CHECK_OK(flutter_config_add_listen(busy_cfg, address));
    CHECK_FAILS(flutter_server_start(busy_cfg, &server), FLUTTER_RESULT_CANNOT_LISTEN, "in use");
    CHECK(strstr(flutter_last_error(), address) != NULL);
    CHECK(server == NULL);

    /* NULL arguments: an error code, never a crash. */
    CHECK_FAILS(flutter_config_set(NULL, "workers", "2"), FLUTTER_RESULT_NULL_PARAMETER, "cfg");
    CHECK_FAILS(flutter_config_set(cfg, NULL, "2"), FLUTTER_RESULT_NULL_PARAMETER, "name");
    CHECK_FAILS(flutter_config_set(cfg, "workers", NULL), FLUTTER_RESULT_NULL_PARAMETER, "value");
    CHECK_FAILS(flutter_config_set_workers(NULL, 2), FLUTTER_RESULT_NULL_PARAMETER, "cfg");
    CHECK_FAILS(flutter_config_add_listen(cfg, NULL), FLUTTER_RESULT_NULL_PARAMETER, "address");
    CHECK_FAILS(flutter_config_set_script_path(cfg, NULL), FLUTTER_RESULT_NULL_PARAMETER, "path");
    CHECK_FAILS(flutter_config_set_script_source(cfg, "x", NULL, 3), FLUTTER_RESULT_NULL_PARAMETER,
                "code");
    CHECK_FAILS(flutter_config_add_lua_module(cfg, "m", NULL), FLUTTER_RESULT_NULL_PARAMETER,
                "open");
    CHECK_FAILS(flutter_config_set_handler(NULL, NULL, NULL), FLUTTER_RESULT_NULL_PARAMETER, "cfg");
    CHECK_FAILS(flutter_server_start(NULL, &server), FLUTTER_RESULT_NULL_PARAMETER, "cfg");
    CHECK_FAILS(flutter_server_start(cfg, NULL), FLUTTER_RESULT_NULL_PARAMETER, "server_out");
    CHECK_FAILS(flutter_server_run(NULL), FLUTTER_RESULT_NULL_PARAMETER, "cfg");
    CHECK_FAILS(flutter_server_stop(NULL), FLUTTER_RESULT_NULL_PARAMETER, "server");
    CHECK_FAILS(flutter_server_wait(NULL), FLUTTER_RESULT_NULL_PARAMETER, "server");
    CHECK_FAILS(flutter_server_reload(NULL), FLUTTER_RESULT_NULL_PARAMETER, "server");
    CHECK(flutter_server_port(NULL, 0) == 0);
    CHECK(flutter_request_path(NULL).len == 0 && flutter_request_path(NULL).data != NULL);
    CHECK(flutter_request_header_count(NULL) == 0);
    CHECK_FAILS(flutter_response_set_status(NULL, 200), FLUTTER_RESULT_NULL_PARAMETER, "resp");
    flutter_config_free(NULL);
    flutter_server_free(NULL);

    /* Bad option values: the message names the option and the value. */
    CHECK_FAILS(flutter_config_set_workers(cfg, 0), FLUTTER_RESULT_INVALID_OPTION, "workers");
    CHECK_FAILS(flutter_config_set(cfg, "max_body_bytes", "12x"), FLUTTER_RESULT_INVALID_OPTION,
                "\"12x\" for option max_body_bytes");
    CHECK_FAILS(flutter_config_set(cfg, "max-body-bytes", "-1"), FLUTTER_RESULT_INVALID_OPTION,
                "max_body_bytes");
    CHECK_FAILS(flutter_config_set(cfg, "no_such_option", "1"), FLUTTER_RESULT_INVALID_OPTION,
                "no_such_option");
    CHECK_FAILS(flutter_config_set_header_timeout(cfg, -1.0), FLUTTER_RESULT_INVALID_OPTION,
                "header_timeout");
    CHECK_FAILS(flutter_config_set_idle_timeout(cfg, 0.0), FLUTTER_RESULT_INVALID_OPTION,
                "idle_timeout");
    CHECK_FAILS(flutter_config_set_max_headers(cfg, 1000), FLUTTER_RESULT_INVALID_OPTION,
                "max_headers");
    CHECK_FAILS(flutter_config_set_temp_dir(cfg, "/no/such/dir"), FLUTTER_RESULT_INVALID_OPTION,
                "temp_dir");
    CHECK_FAILS(flutter_config_add_listen(cfg, "nonsense:port"), FLUTTER_RESULT_INVALID_OPTION,
                "listen");
    CHECK_FAILS(flutter_config_set(cfg, "dev", "maybe"), FLUTTER_RESULT_INVALID_OPTION, "maybe");
    CHECK_FAILS(flutter_config_set_script_source(cfg, "x.lua", "\xff", 1),
                FLUTTER_RESULT_INVALID_ARGUMENT, "UTF-8");
    /* Refused values changed nothing: the config still starts. */
    CHECK_OK(flutter_config_set(cfg, "header-timeout", "250ms"));
    CHECK_OK(flutter_server_start(cfg, &server));
    status = 0;
cleanup:
    if (busy >= 0)
        close(busy);
    flutter_server_free(server);
    flutter_config_free(cfg);
    flutter_config_free(busy_cfg);
    return status;
}
