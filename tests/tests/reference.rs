//! A test that needs a reference program fails without it, and is skipped (and counted)
//! only when the run opts out with `KVSTACK_SKIP_MISSING=1`: checked for every reference by
//! running `require` in a process whose `PATH` holds none of them.

use std::path::Path;
use std::process::{Command, Output};

use e2e::reference::{ALL, OPT_OUT};

fn probe(name: &str, path: &Path, bin_dir: &Path, opt_out: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvstack-require-probe"));
    cmd.arg(name)
        .env("PATH", path)
        .env("KVSTACK_BIN_DIR", bin_dir)
        .env_remove(OPT_OUT);
    if opt_out {
        cmd.env(OPT_OUT, "1");
    }
    cmd.output().expect("run the probe")
}

#[test]
fn a_missing_reference_fails_the_test_unless_the_run_opts_out() {
    let empty = tempfile::tempdir().unwrap();
    for reference in ALL {
        // Found without PATH (Debian's nginx in /usr/sbin, kubernetes-validate in the
        // virtualenv under target/): present whatever PATH says.
        let beside = reference
            .also_in
            .is_some_and(|dir| dir().join(reference.program).exists());
        if beside || reference.locate_in(empty.path().as_os_str()).is_some() {
            let out = probe(reference.name, empty.path(), empty.path(), false);
            assert_eq!(String::from_utf8_lossy(&out.stdout), "present\n");
            continue;
        }
        let bin_dir = tempfile::tempdir().unwrap();
        let out = probe(reference.name, empty.path(), bin_dir.path(), false);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {out:?}", reference.name);
        assert!(
            stderr.contains(&reference.missing_message()),
            "{}: {stderr}",
            reference.name
        );

        let out = probe(reference.name, empty.path(), bin_dir.path(), true);
        assert!(out.status.success(), "{}: {out:?}", reference.name);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "skipped\n");
        let log = std::fs::read_to_string(bin_dir.path().join("kvstack-skipped.txt")).unwrap();
        assert_eq!(log, format!("main\t{}\n", reference.name));
    }
}
