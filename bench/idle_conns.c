/* Opens N keep-alive connections to 127.0.0.1:PORT, sends one GET on each,
 * reads its whole response, and then keeps every connection open and idle.
 *
 * Build: gcc -O2 -o idle_conns idle_conns.c
 * Run:   idle_conns PORT N [PATH]
 *
 * Prints "READY ok=<n> failed=<m>" on stdout once every connection has got its
 * response (or failed, or 60 s have passed), then holds them until it is
 * killed (SIGTERM). At most 256 connections are being set up at once, so that
 * the server's listen backlog is not overrun.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_FLIGHT 256
#define BUF 4096

enum state { CONNECTING, READING, DONE, FAILED };

struct conn {
    int fd;
    enum state st;
    size_t sent;
    size_t got;
    char buf[BUF];
};

static char request[512];
static size_t request_len;

/* Whole response in buf? Knows Content-Length and chunked bodies. */
static int response_complete(struct conn *c) {
    c->buf[c->got < BUF ? c->got : BUF - 1] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return 0;
    size_t head = (size_t)(end - c->buf) + 4;
    const char *p = c->buf;
    while ((p = strchr(p, '\n')) != NULL && p < end) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0) {
            size_t len = strtoul(p + 15, NULL, 10);
            return c->got >= head + len;
        }
        if (strncasecmp(p, "transfer-encoding:", 18) == 0) {
            return c->got >= head + 5 && memcmp(c->buf + c->got - 5, "0\r\n\r\n", 5) == 0;
        }
    }
    return 1; /* no body framing: a bodiless answer */
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT N [PATH]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    int n = atoi(argv[2]);
    const char *path = argc > 3 ? argv[3] : "/";
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);

    struct conn *conns = calloc((size_t)n, sizeof *conns);
    if (!conns) return 1;
    int ep = epoll_create1(0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int opened = 0, in_flight = 0, ok = 0, failed = 0;
    double deadline = now() + 60;
    struct epoll_event evs[256];
    const char *why = "?";
    while (ok + failed < n && now() < deadline) {
        while (opened < n && in_flight < IN_FLIGHT) {
            struct conn *c = &conns[opened++];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                perror("socket");
                c->st = FAILED;
                failed++;
                continue;
            }
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
                errno != EINPROGRESS) {
                perror("connect");
                close(c->fd);
                c->st = FAILED;
                failed++;
                continue;
            }
            c->st = CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            in_flight++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->st == CONNECTING && (evs[i].events & EPOLLOUT)) {
                ssize_t w = write(c->fd, request + c->sent, request_len - c->sent);
                if (w > 0) c->sent += (size_t)w;
                if (w < 0 && errno != EAGAIN) {
                why = strerror(errno);
                goto fail;
            }
                if (c->sent == request_len) {
                    c->st = READING;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (c->st != READING) {
                    if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                        int err = 0;
                        socklen_t len = sizeof err;
                        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                        why = err ? strerror(err) : "hang-up while connecting";
                        goto fail;
                    }
                    continue;
                }
                ssize_t r = read(c->fd, c->buf + c->got, BUF - 1 - c->got);
                if (r == 0) why = "closed by the server before a whole response";
                if (r < 0 && errno != EAGAIN) why = strerror(errno);
                if (r == 0 || (r < 0 && errno != EAGAIN)) goto fail;
                if (r > 0) c->got += (size_t)r;
                if (response_complete(c)) {
                    c->st = DONE;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    ok++;
                    in_flight--;
                }
            }
            continue;
        fail:
            if (failed == 0) fprintf(stderr, "idle_conns: first failure: %s\n", why);
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->st = FAILED;
            failed++;
            in_flight--;
        }
    }
    if (ok + failed < n)
        fprintf(stderr, "idle_conns: %d connections unanswered after 60 s\n", n - ok - failed);
    failed += n - ok - failed; /* whatever the deadline cut short */
    printf("READY ok=%d failed=%d\n", ok, failed);
    fflush(stdout);
    /* Hold the connections until killed. */
    for (;;) pause();
}
