/* HTTPS through the TLS options: a certificate made by the test fixture
 * (argv[1], argv[2]), and curl as the client. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <stdio.h>

static const char script[] = "return function(req) return req.scheme .. ' ' .. req.path end\n";

int main(int argc, char **argv) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    FILE *curl = NULL;
    char command[256], answer[64] = {0};
    uint16_t port;

    CHECK(argc == 3 && cfg != NULL);
    CHECK_OK(flutter_config_set_script_source(cfg, "tls.lua", script, sizeof script - 1));
    CHECK_OK(flutter_config_add_tls_listen(cfg, "127.0.0.1:0"));
    CHECK_OK(flutter_config_add_tls_cert(cfg, argv[1]));
    CHECK_OK(flutter_config_add_tls_key(cfg, argv[2]));
    CHECK_FAILS(flutter_config_add_tls_cert(cfg, "/no/such/cert.pem"),
                FLUTTER_RESULT_INVALID_OPTION, "tls_cert");
    CHECK_OK(flutter_server_start(cfg, &server));
    port = flutter_server_tls_port(server, 0);
    CHECK(port != 0 && port != flutter_server_port(server, 0));
    CHECK(flutter_server_tls_port(server, 1) == 0);

    snprintf(command, sizeof command, "curl -sk --max-time 60 https://127.0.0.1:%u/secure", port);
    curl = popen(command, "r");
    CHECK(curl != NULL);
    CHECK(fgets(answer, sizeof answer, curl) != NULL);
    CHECK(pclose(curl) == 0);
    curl = NULL;
    CHECK(strcmp(answer, "https /secure") == 0);
    status = 0;
cleanup:
    if (curl != NULL)
        pclose(curl);
    if (status != 0)
        fprintf(stderr, "curl answered \"%s\"\n", answer);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
