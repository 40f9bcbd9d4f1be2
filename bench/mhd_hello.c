/* A "Hello, World!" server on libmicrohttpd: the C peer of flutter's Lua hello.
 *
 * One internal thread doing epoll (MHD_USE_EPOLL_INTERNAL_THREAD), listening on
 * 127.0.0.1:PORT. The response is built once and reused for every request, the
 * way a tuned C hello server would do it.
 *
 * Build: gcc -O2 -o mhd_hello mhd_hello.c -lmicrohttpd
 * Run:   mhd_hello PORT        (stops on SIGTERM or SIGINT)
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char BODY[] = "Hello, World!";
static struct MHD_Response *hello;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
    static int seen;
    (void)cls; (void)url; (void)method; (void)version; (void)upload_data;
    /* MHD calls this first when the head is in, then again once the (empty) body
     * has been read. A response queued on the first call makes this MHD version
     * close the connection, so the first call only marks the request. */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, hello);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* Blocked here, before MHD's thread starts, so that only sigwait() takes them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);

    hello = MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY,
                                            MHD_RESPMEM_PERSISTENT);
    if (!hello) return 1;
    MHD_add_response_header(hello, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
        &answer, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)30000,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_hello: MHD_start_daemon failed on port %d\n", port);
        return 1;
    }
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(hello);
    return 0;
}
