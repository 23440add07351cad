//! Every invalid ecosystem file in tests/fixtures/invalid gives exactly the error in its `.err`
//! file (with `{DIR}` for the fixture directory), exits 2, and starts nothing.

mod common;

use common::*;

#[test]
fn every_invalid_config_fixture_gives_its_exact_error_and_starts_nothing() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 12, "fixtures missing: {fixtures:?}");
    let t = TempHome::new();
    let mut failures = Vec::new();
    for file in &fixtures {
        let expected = std::fs::read_to_string(file.with_extension("err"))
            .expect("expected .err file")
            .replace("{DIR}", &dir.display().to_string());
        let out = t.run(&["start", file.to_str().expect("utf-8 path")]);
        let stderr = text(&out.stderr);
        if out.status.code() != Some(2) || stderr != expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{expected}--- got\n{stderr}",
                file.display(),
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(t.status().is_empty(), "an invalid file started something");
    t.finish();
}
