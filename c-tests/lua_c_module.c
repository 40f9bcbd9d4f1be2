/* A Lua C module written here, built against the Lua headers installed with
 * flutter, registered with flutter_config_add_lua_module and `require`d by
 * the script. Built twice: with libflutter.so and with libflutter.a. */
#include "check.h"
#include "http.h"

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM != 504
#error "flutter embeds Lua 5.4"
#endif

static int greet_hello(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_pushfstring(L, "hello, %s, from C", name);
    return 1;
}

static int greet_add(lua_State *L) {
    lua_Integer a = luaL_checkinteger(L, 1), b = luaL_checkinteger(L, 2);
    lua_pushinteger(L, a + b);
    return 1;
}

static int luaopen_greet(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"hello", greet_hello}, {"add", greet_add}, {NULL, NULL}};
    /* Raises an error unless these headers match the Lua inside flutter. */
    luaL_checkversion(L);
    luaL_newlib(L, functions);
    return 1;
}

int main(void) {
    int status = 1;
    flutter_config *cfg = test_config();
    flutter_server *server = NULL;
    struct http_response r = {0};
    uint16_t port;

    CHECK(cfg != NULL);
    CHECK_OK(flutter_config_set_script_path(cfg, FLUTTER_TEST_SCRIPTS "/greet.lua"));
    CHECK_OK(flutter_config_add_lua_module(cfg, "greet", luaopen_greet));
    CHECK_OK(flutter_server_start(cfg, &server));
    port = flutter_server_port(server, 0);

    CHECK(http_get(port, "/?name=lua", &r) == 0);
    CHECK(http_body_is(&r, "hello, lua, from C 42"));
    http_response_free(&r);

    /* An error raised inside the C module is a Lua error: 500, and the worker goes on. */
    CHECK(http_get(port, "/bad", &r) == 0);
    CHECK(r.status == 500);
    http_response_free(&r);

    /* After a reload the new states can require it too. */
    CHECK_OK(flutter_server_reload(server));
    CHECK(http_get(port, "/", &r) == 0);
    CHECK(http_body_is(&r, "hello, world, from C 42"));
    status = 0;
cleanup:
    http_response_free(&r);
    flutter_server_free(server);
    flutter_config_free(cfg);
    return status;
}
