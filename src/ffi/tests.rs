//! The C ABI called from Rust: pointer checks, option validation and one
//! server with a C handler. The C programs in c-tests/ cover the rest.

use super::config::*;
use super::error::flutter_last_error;
use super::handler::flutter_handler_result;
use super::request::*;
use super::response::*;
use super::server::*;
use super::*;
use std::ffi::{c_void, CStr};
use std::io::{Read, Write};
use std::ptr::{null, null_mut};

fn last_error() -> String {
    // SAFETY: flutter_last_error never gives NULL outside a panic.
    unsafe { CStr::from_ptr(flutter_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn version_matches_the_crate() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(flutter_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let minor: u32 = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap();
    let patch: u32 = env!("CARGO_PKG_VERSION_PATCH").parse().unwrap();
    assert_eq!(
        (
            FLUTTER_VERSION_MAJOR,
            FLUTTER_VERSION_MINOR,
            FLUTTER_VERSION_PATCH
        ),
        (major, minor, patch)
    );
}

#[test]
fn null_pointers_give_errors_not_crashes() {
    assert_eq!(
        flutter_config_set(null_mut(), c"workers".as_ptr(), c"2".as_ptr()),
        flutter_result::NullParameter
    );
    assert!(last_error().contains("cfg"), "{}", last_error());
    let cfg = flutter_config_new();
    assert_eq!(
        flutter_config_set(cfg, null(), c"2".as_ptr()),
        flutter_result::NullParameter
    );
    assert_eq!(
        flutter_config_set(cfg, c"workers".as_ptr(), null()),
        flutter_result::NullParameter
    );
    assert_eq!(
        flutter_server_start(cfg, null_mut()),
        flutter_result::NullParameter
    );
    assert_eq!(
        flutter_config_add_lua_module(cfg, c"m".as_ptr(), None),
        flutter_result::NullParameter
    );
    assert_eq!(flutter_server_port(null(), 0), 0);
    assert_eq!(flutter_server_stop(null()), flutter_result::NullParameter);
    assert_eq!(flutter_request_method(null()).len, 0);
    assert_eq!(flutter_request_header_count(null()), 0);
    assert_eq!(
        flutter_response_set_status(null_mut(), 200),
        flutter_result::NullParameter
    );
    flutter_config_free(cfg);
    flutter_config_free(null_mut());
    flutter_server_free(null_mut());
}

#[test]
fn bad_values_name_the_option() {
    let cfg = flutter_config_new();
    assert_eq!(
        flutter_config_set_workers(cfg, 0),
        flutter_result::InvalidOption
    );
    assert!(last_error().contains("workers"), "{}", last_error());
    assert_eq!(
        flutter_config_set_header_timeout(cfg, -1.0),
        flutter_result::InvalidOption
    );
    assert!(last_error().contains("header_timeout"), "{}", last_error());
    assert_eq!(
        flutter_config_set_idle_timeout(cfg, f64::NAN),
        flutter_result::InvalidOption
    );
    assert_eq!(
        flutter_config_set(cfg, c"max-body-bytes".as_ptr(), c"12x".as_ptr()),
        flutter_result::InvalidOption
    );
    let e = last_error();
    assert!(e.contains("max_body_bytes") && e.contains("12x"), "{e}");
    assert_eq!(
        flutter_config_set(cfg, c"no_such_option".as_ptr(), c"1".as_ptr()),
        flutter_result::InvalidOption
    );
    assert_eq!(
        flutter_config_set_max_body_bytes(cfg, 1 << 20),
        flutter_result::Ok
    );
    assert_eq!(
        flutter_config_set_send_timeout(cfg, 0.25),
        flutter_result::Ok
    );
    assert_eq!(flutter_config_set_dev(cfg, true), flutter_result::Ok);
    // SAFETY: cfg is a live handle from flutter_config_new.
    let config = unsafe { cast::as_ref(cfg) }.unwrap();
    assert_eq!(config.max_body_bytes, 1 << 20);
    assert_eq!(config.send_timeout, std::time::Duration::from_millis(250));
    assert!(config.dev);
    flutter_config_free(cfg);
}

#[test]
fn response_builder_refuses_what_cannot_be_sent() {
    let mut builder = ResponseBuilder::default();
    let resp: *mut flutter_response = std::ptr::from_mut(&mut builder).cast();
    assert_eq!(
        flutter_response_set_status(resp, 99),
        flutter_result::InvalidArgument
    );
    assert_eq!(
        flutter_response_add_header(resp, c"bad name".as_ptr(), c"v".as_ptr()),
        flutter_result::InvalidArgument
    );
    assert_eq!(
        flutter_response_add_header(resp, c"x-a".as_ptr(), c"1\r\nx-b: 2".as_ptr()),
        flutter_result::InvalidArgument
    );
    assert_eq!(
        flutter_response_add_header(resp, c"x-a".as_ptr(), c"1".as_ptr()),
        flutter_result::Ok
    );
    assert_eq!(
        flutter_response_set_body(resp, null(), 3),
        flutter_result::NullParameter
    );
    assert_eq!(
        flutter_response_set_body(resp, null(), 0),
        flutter_result::Ok
    );
    let r = builder.into_response();
    assert_eq!(r.status, 200);
    assert_eq!(*r.headers, [("x-a".into(), b"1"[..].into())]);
}

unsafe extern "C" fn answer_c(
    _userdata: *mut c_void,
    req: *const flutter_request,
    resp: *mut flutter_response,
) -> flutter_handler_result {
    let path = flutter_request_path(req);
    // SAFETY: flutter_str points at `len` bytes during the call.
    let path = unsafe { std::slice::from_raw_parts(path.data.cast::<u8>(), path.len) };
    if path != b"/c" {
        return flutter_handler_result::Declined;
    }
    let mut body = null();
    let mut len = 0;
    assert_eq!(
        flutter_request_body(req, &mut body, &mut len),
        flutter_result::Ok
    );
    let text = format!("C saw {len} bytes");
    flutter_response_set_status(resp, 201);
    flutter_response_set_body(resp, text.as_ptr(), text.len());
    flutter_handler_result::Answered
}

fn get(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_c_handler_answers_or_declines_to_lua() {
    let cfg = flutter_config_new();
    let code = "return function(req) return 'lua ' .. req.path end";
    assert_eq!(
        flutter_config_set_script_source(
            cfg,
            c"inline.lua".as_ptr(),
            code.as_ptr().cast(),
            code.len()
        ),
        flutter_result::Ok
    );
    assert_eq!(
        flutter_config_add_listen(cfg, c"127.0.0.1:0".as_ptr()),
        flutter_result::Ok
    );
    assert_eq!(flutter_config_set_workers(cfg, 1), flutter_result::Ok);
    assert_eq!(
        flutter_config_set_access_log(cfg, c"off".as_ptr()),
        flutter_result::Ok
    );
    assert_eq!(
        flutter_config_set_handler(cfg, Some(answer_c), null_mut()),
        flutter_result::Ok
    );
    let mut server = null_mut();
    assert_eq!(
        flutter_server_start(cfg, &mut server),
        flutter_result::Ok,
        "{}",
        last_error()
    );
    flutter_config_free(cfg);
    let port = flutter_server_port(server, 0);
    assert_ne!(port, 0);
    assert_eq!(flutter_server_port(server, 1), 0);
    let c = get(
        port,
        "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(c.starts_with("HTTP/1.1 201 "), "{c}");
    assert!(c.ends_with("C saw 5 bytes"), "{c}");
    let lua = get(
        port,
        "GET /l HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        lua.starts_with("HTTP/1.1 200 ") && lua.ends_with("lua /l"),
        "{lua}"
    );
    assert_eq!(flutter_server_stop(server), flutter_result::Ok);
    assert_eq!(flutter_server_wait(server), flutter_result::Ok);
    flutter_server_free(server);
}

#[test]
fn a_bad_script_fails_the_start_with_file_and_line() {
    let cfg = flutter_config_new();
    let code = "local x = 1\nreturn function(req) return x +* 2 end";
    flutter_config_set_script_source(
        cfg,
        c"broken.lua".as_ptr(),
        code.as_ptr().cast(),
        code.len(),
    );
    flutter_config_add_listen(cfg, c"127.0.0.1:0".as_ptr());
    flutter_config_set_workers(cfg, 1);
    let mut server = null_mut();
    assert_eq!(
        flutter_server_start(cfg, &mut server),
        flutter_result::ScriptError
    );
    assert!(server.is_null());
    assert!(last_error().contains("broken.lua:2:"), "{}", last_error());
    flutter_config_free(cfg);
}
