//! Checks that tie the C ABI's committed files to the source of truth:
//! the header's version macros to Cargo.toml, every option of
//! `config::OPTIONS` to a typed setter in the header, and the README's C
//! example to the program that c-tests/ compiles and runs. (The header
//! itself is regenerated and compared by `cmake/header.sh --check`.)

use flutter::config::OPTIONS;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn define(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("include/flutter.h has no #define {name}"))
        .trim()
        .to_string()
}

#[test]
fn header_version_macros_match_cargo_toml() {
    let header = read("include/flutter.h");
    assert_eq!(
        define(&header, "FLUTTER_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&header, "FLUTTER_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&header, "FLUTTER_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
}

#[test]
fn every_option_has_a_typed_setter_in_the_header() {
    let header = read("include/flutter.h");
    let missing: Vec<String> = OPTIONS
        .iter()
        .filter(|o| {
            !header.contains(&format!(" flutter_config_set_{}(", o.name))
                && !header.contains(&format!(" flutter_config_add_{}(", o.name))
        })
        .map(|o| format!("{} ({:?})", o.name, o.kind))
        .collect();
    assert!(
        missing.is_empty(),
        "options without a C setter: {missing:?}. Add flutter_config_set_<name> \
         (flutter_config_add_<name> for a repeatable one) to src/ffi/config.rs, \
         following the others, then run cmake/header.sh"
    );
}

#[test]
fn readme_c_example_is_the_tested_program() {
    let readme = read("README.md");
    let section = readme
        .split("## Using flutter from C")
        .nth(1)
        .expect("README.md has a section \"Using flutter from C\"");
    let example = section
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a ```c block");
    assert_eq!(
        example,
        read("c-tests/readme_example.c"),
        "the README's C example differs from c-tests/readme_example.c, which the C tests run"
    );
}
