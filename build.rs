//! Links the snprintf wrapper of src/lua/integer2str.c into builds that
//! compile Lua 5.3/5.4 themselves (the `vendored` feature) on Linux: Lua's
//! integer-to-text conversion then skips glibc's stdio machinery.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=src/lua/integer2str.c");
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(linux && feature("VENDORED") && (feature("LUA54") || feature("LUA53"))) {
        return;
    }
    cc::Build::new()
        .file("src/lua/integer2str.c")
        .cargo_metadata(false)
        .compile("flutter_integer2str");
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rustc-link-search=native={out}");
    // Whole archive: nothing in Rust refers to __wrap_snprintf, only the
    // link's --wrap does, and Lua's archive comes later on the command line.
    println!("cargo:rustc-link-lib=static:+whole-archive=flutter_integer2str");
    println!("cargo:rustc-link-arg=-Wl,--wrap=snprintf");
}
