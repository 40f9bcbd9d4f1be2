//! The `flutter` command: startup errors, listening, signals.
mod common;
use common::*;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

fn flutter(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flutter"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_option_value_names_option_and_value() {
    let (code, _, err) = flutter(&["--max-body-bytes", "lots", "x.lua"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--max-body-bytes") && err.contains("\"lots\""),
        "{err}"
    );
    let (code, _, err) = flutter(&["--workers", "0", "x.lua"]);
    assert_ne!(code, 0);
    assert!(err.contains("workers"), "{err}");
    // A value that begins with '-' is the option's value, not another option.
    let (code, _, err) = flutter(&["--workers", "-1", "x.lua"]);
    assert_ne!(code, 0);
    assert!(err.contains("--workers") && err.contains("\"-1\""), "{err}");
}

#[test]
fn missing_script_is_reported() {
    let (code, _, err) = flutter(&["--listen", "127.0.0.1:0", "/nonexistent/app.lua"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/app.lua"), "{err}");
}

#[test]
fn address_in_use_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = temp_dir("inuse");
    let script = dir.join("app.lua");
    std::fs::write(&script, "return function() return 'x' end").unwrap();
    let (code, _, err) = flutter(&["--listen", &addr, script.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&addr) && err.to_lowercase().contains("in use"),
        "{err}"
    );
}

#[test]
fn serves_several_listeners_and_workers() {
    let dir = temp_dir("multi");
    let script = dir.join("app.lua");
    std::fs::write(&script, "return function(req) return 'ok ' .. req.path end").unwrap();
    let s = Server::start_script(
        &script,
        &dir,
        &["--workers", "2", "--listen", "127.0.0.1:0"],
    )
    .unwrap();
    for _ in 0..20 {
        let (code, body) = curl(&[&s.url("/a")]);
        assert_eq!((code, body.as_slice()), (0, &b"ok /a"[..]));
    }
}

#[test]
fn sigterm_lets_requests_in_flight_finish() {
    let mut s = Server::start(
        "return function(req) flutter.sleep(1) return 'finished' end",
        &[],
    );
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.signal(SIGTERM);
    let r = read_response(&mut c);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"finished");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        std::net::TcpStream::connect(s.addr).is_err(),
        "still accepting after stop"
    );
}

#[test]
fn sighup_reloads_the_script() {
    let mut s = Server::start("return function() return 'one' end", &[]);
    assert_eq!(curl(&[&s.url("/")]).1, b"one");
    std::fs::write(s.dir.join("app.lua"), "return function() return 'two' end").unwrap();
    s.signal(SIGHUP);
    let mut body = Vec::new();
    for _ in 0..50 {
        body = curl(&[&s.url("/")]).1;
        if body == b"two" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(body, b"two");
    // A broken script keeps the old one serving.
    std::fs::write(s.dir.join("app.lua"), "return function( oops").unwrap();
    s.signal(SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(curl(&[&s.url("/")]).1, b"two");
    assert!(s.stderr().contains("app.lua:1"), "{}", s.stderr());
    assert!(s.is_running());
}

#[test]
fn prints_the_url_it_serves() {
    let s = Server::start("return function() return 'x' end", &[]);
    assert!(s.addr.port() > 0);
}

#[test]
fn a_second_flutter_cannot_share_the_port() {
    let first = Server::start("return function() return 'first' end", &[]);
    let dir = temp_dir("second");
    let script = dir.join("app.lua");
    std::fs::write(&script, "return function() return 'second' end").unwrap();
    let addr = first.addr.to_string();
    let (code, _, err) = flutter(&["--listen", &addr, script.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&addr), "{err}");
    assert_eq!(curl(&[&first.url("/")]).1, b"first");
}
