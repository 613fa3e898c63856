//! Calls [`e2e::reference::require`] for the reference named on the command line (its `name`), as a test
//! would, so `tests/reference.rs` can run it with a stripped `PATH` and check that a missing
//! program fails the caller (or, under the opt-out, skips it). Exit status 0: present or
//! skipped (prints `skipped` then); a panic (101): missing.

fn main() {
    let name = std::env::args()
        .nth(1)
        .expect("usage: kvstack-require-probe NAME");
    let reference = e2e::reference::ALL
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no reference is called {name}"));
    if e2e::reference::require(reference) {
        println!("present");
    } else {
        println!("skipped");
    }
}
