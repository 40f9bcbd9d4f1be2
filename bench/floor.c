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
 * Built with -DFLOOR_LUA it is the floor of a Lua-scripted server instead:
 * each read runs SCRIPT's handler as flutter would, in a coroutine, with a
 * `req` of three fields (method and path cut at the first two spaces, an
 * integer handle), and answers with the string it returns under fixed
 * headers. Still no HTTP: no header is parsed, no limit or timeout kept.
 *
 * Build: gcc -O2 -o floor floor.c
 *        gcc -O2 -DFLOOR_LUA -I/usr/include/lua5.4 -o floor-lua floor.c \
 *            -l:liblua5.4.a -lm
 * Run:   floor PORT, floor-lua PORT SCRIPT       (stop on SIGTERM)
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

#ifdef FLOOR_LUA
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

static lua_State *L;
static lua_State *co;  /* one coroutine, reused: each handler returns before the next read */
static int handler;    /* registry reference */
static lua_Integer handles;
static char out[65536];

static const char HEAD[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: floor\r\n"
    "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: ";

static void load(const char *script) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_gc(L, LUA_GCGEN, 0, 0);  /* flutter's collector mode */
    if (luaL_dofile(L, script) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "floor: %s: %s\n", script,
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "does not return a function");
        exit(1);
    }
    handler = luaL_ref(L, LUA_REGISTRYINDEX);
    co = lua_newthread(L);
    luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs the handler for a read of `len` bytes at `in` and writes the response
 * to `out`. Returns the response's length, 0 to close the connection. */
static size_t respond(const char *in, size_t len) {
    const char *sp1 = memchr(in, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - in)) : NULL;
    if (!sp2) return 0;
    lua_rawgeti(co, LUA_REGISTRYINDEX, handler);
    lua_createtable(co, 0, 3);
    lua_pushlstring(co, in, (size_t)(sp1 - in));
    lua_setfield(co, -2, "method");
    lua_pushlstring(co, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    lua_setfield(co, -2, "path");
    lua_pushinteger(co, ++handles);
    lua_setfield(co, -2, "handle");
    int results;
    size_t body_len;
    const char *body;
    if (lua_resume(co, L, 1, &results) != LUA_OK || !(body = lua_tolstring(co, -1, &body_len))) {
        fprintf(stderr, "floor: the handler failed or returned no string\n");
        exit(1);
    }
    size_t at = sizeof HEAD - 1;
    memcpy(out, HEAD, at);
    at += (size_t)snprintf(out + at, 32, "%zu\r\n\r\n", body_len);
    size_t total = body_len <= sizeof out - at ? at + body_len : 0;
    if (total) memcpy(out + at, body, body_len);
    lua_settop(co, 0);  /* the finished coroutine is empty again for the next read */
    return total;
}
#else
static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: floor\r\n"
    "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, World!";
#endif

static void watch(int ep, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("floor: epoll_ctl");
        exit(1);
    }
}

int main(int argc, char **argv) {
#ifdef FLOOR_LUA
    if (argc != 3) {
        fprintf(stderr, "usage: floor-lua PORT SCRIPT\n");
        return 2;
    }
    load(argv[2]);
#else
    if (argc != 2) {
        fprintf(stderr, "usage: floor PORT\n");
        return 2;
    }
#endif
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
#ifdef FLOOR_LUA
                size_t len = respond(buf, (size_t)got);
                const char *response = out;
                if (len == 0) {
                    close(fd);
                    break;
                }
#else
                size_t len = sizeof RESPONSE - 1;
                const char *response = RESPONSE;
#endif
                if (send(fd, response, len, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
                    close(fd);
                    break;
                }
                if ((size_t)got < sizeof buf) break;
            }
        }
    }
}
