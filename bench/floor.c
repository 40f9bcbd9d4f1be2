/* The kernel's floor for the keep-alive hello workload: a server that does no
 * HTTP at all. Every read on a connection is answered with one prebuilt
 * response, whatever it holds; that is enough for wrk, which sends a request
 * and waits for its answer. Its CPU per request is what loopback TCP, epoll
 * and the two syscalls per request cost on this machine; every real server
 * pays that plus its own work. Not a server for anything else.
 *
 * One thread, edge-triggered epoll, TCP_NODELAY, 127.0.0.1:PORT. A read
 * shorter than the buffer means the socket is drained (a later request
 * raises a new edge), so a request costs one recv and one send, as in flutter.
 *
 * Build: gcc -O2 -o floor floor.c
 * Run:   floor PORT        (stops on SIGTERM)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: floor\r\n"
    "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";

static void watch(int ep, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("floor: epoll_ctl");
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: floor PORT\n");
        return 2;
    }
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) {
        perror("floor: cannot listen");
        return 1;
    }
    int ep = epoll_create1(0);
    watch(ep, listener, EPOLLIN);

    struct epoll_event events[256];
    char buf[16384];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("floor: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int c;
                while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    watch(ep, c, EPOLLIN | EPOLLET);
                }
                continue;
            }
            for (;;) {
                ssize_t got = recv(fd, buf, sizeof buf, 0);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    close(fd);
                    break;
                }
                if (got < 0) break;
                if (send(fd, RESPONSE, sizeof RESPONSE - 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
                    close(fd);
                    break;
                }
                if ((size_t)got < sizeof buf) break;
            }
        }
    }
}
