/* Runs the README example (argv[1]) as its own process on a free port with
 * scripts/app.lua, checks what it serves, stops it with SIGTERM and expects
 * exit status 0: that covers flutter_server_run and its signal handling. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "http.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int status = 1, child_status = 0;
    pid_t pid = -1;
    uint16_t port = http_free_port();
    struct http_response r = {0};
    char address[32];

    CHECK(argc == 2 && port != 0);
    snprintf(address, sizeof address, "127.0.0.1:%u", port);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(argv[1], argv[1], address, FLUTTER_TEST_SCRIPTS "/app.lua", (char *)NULL);
        _exit(127);
    }
    CHECK(http_wait_listening(port, 60) == 0);
    CHECK(http_get(port, "/hello", &r) == 0 && http_body_is(&r, "hello from C"));
    http_response_free(&r);
    CHECK(http_get(port, "/other", &r) == 0 && http_body_is(&r, "lua answered GET /other"));
    CHECK(kill(pid, SIGTERM) == 0);
    CHECK(waitpid(pid, &child_status, 0) == pid);
    pid = -1;
    CHECK(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0);
    status = 0;
cleanup:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    http_response_free(&r);
    return status;
}
