//! The committed header agrees with the crate: version macros equal the
//! package version, every result-code macro equals the core's number.

use sliceplane_core::ErrorCode;

const HEADER: &str = include_str!("../../include/sliceplane.h");

fn define(name: &str) -> Option<u32> {
    HEADER.lines().find_map(|l| {
        let rest = l.strip_prefix("#define ")?.strip_prefix(name)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[test]
fn version_macros_match_the_package() {
    let v: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(define("SLICEPLANE_VERSION_MAJOR"), Some(v[0]));
    assert_eq!(define("SLICEPLANE_VERSION_MINOR"), Some(v[1]));
    assert_eq!(define("SLICEPLANE_VERSION_PATCH"), Some(v[2]));
}

#[test]
fn every_core_code_has_its_macro() {
    for c in ErrorCode::ALL {
        let name = format!("SP_{}", c.as_str().to_ascii_uppercase());
        assert_eq!(define(&name), Some(c.number()), "{name}");
    }
    assert_eq!(define("SP_OK"), Some(0));
}
