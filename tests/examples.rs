//! Every script in examples/ is served and answers.
mod common;
use common::*;

#[test]
fn hello_says_hello_world() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = temp_dir("hello");
    let s = Server::start_script(
        &std::path::Path::new(root).join("examples/hello.lua"),
        &dir,
        &[],
    )
    .unwrap();
    let (code, body) = curl(&[&s.url("/")]);
    assert_eq!(code, 0);
    assert_eq!(body, b"Hello, World!");
}
