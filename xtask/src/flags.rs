//! Command-line grammar of `cargo xtask` (xflags).

use std::{ffi::OsString, path::PathBuf};

xflags::xflags! {
    /// Confab's build, test and tidy automation. Needs only cargo: missing
    /// tools are installed on first use (see `install`).
    cmd xtask {
        /// Install or check the pinned tools: the wasm32 target, trunk,
        /// wasm-bindgen-cli, npm binaryen (into `.tools/`), and node/npm via apt.
        cmd install {
            /// Also install what browser tests need: chromium, chromedriver,
            /// `ip` and `unshare` (apt, as root).
            optional --browser
        }
        /// Release build: `trunk build --release` into `dist/` (then move the
        /// inline boot script into `dist/boot-<hash>.js` with its integrity and
        /// fill in the service worker's shell and the build's fingerprint), then
        /// the server. Reproducible: it prints the fingerprint to compare.
        cmd build {
            /// Where the app goes (default `dist/` in the repository).
            optional --dist dist: PathBuf
            /// Instead: build the committed HEAD twice, from clean checkouts in two
            /// directories under target/reproducible/ with empty target
            /// directories, and fail unless both give the same fingerprint.
            optional --check-reproducible
        }
        /// Draw the app icons of the web app manifest into `assets/icons/`.
        cmd icons {}
        /// Build, then run `target/release/confab-server` on `dist/`.
        cmd serve {
            /// Address to listen on (default 127.0.0.1:8080).
            optional --listen addr: String
            /// Extra arguments for confab-server, after `--`.
            repeated server_args: OsString
        }
        /// Run every test suite: native, core on wasm32, app in the browser,
        /// end-to-end (browser tests run in a loopback-only network namespace).
        cmd test {
            /// Skip the end-to-end step (and the release build it needs).
            optional --fast
        }
        /// Check repository rules (also run by `cargo test -p xtask`).
        cmd tidy {}
        /// Nightly-style sweep of the 50-member history simulation over many seeds
        /// (`cargo xtask test` runs 1,000). A failure prints its seed; replay one with
        /// `CONFAB_SEED=n cargo test -p confab-core --test sim room::`.
        cmd sim {
            /// How many seeds (default 10,000; 1,000 with `--governance`).
            optional --seeds seeds: u64
            /// The governance simulation instead (50 governed members, issue 17), with the
            /// native test step's build, on two threads, a line a seed; every failing seed
            /// is listed with its check (`cargo xtask test` sweeps the first few dozen).
            /// Replay one with `CONFAB_SEED=n cargo test -p confab-core --test sim governance`.
            optional --governance
        }
        /// Run the benchmarks.
        cmd bench {}
        /// Fuzz one target of `fuzz/` (see `fuzz/README.md` for the list) for a bounded
        /// time or number of runs, with cargo-fuzz on nightly (both installed on first
        /// use). New inputs go to `fuzz/target/corpus/<target>/`; the committed corpus
        /// `fuzz/corpus/<target>/` is read, and changed only with `--cmin`.
        cmd fuzz {
            /// The target: a file name in fuzz/fuzz_targets/ without `.rs`.
            required target: String
            /// How long to fuzz, in seconds (default 60).
            optional --secs secs: u32
            /// Stop after this many executions instead (or first, with --secs).
            optional --runs runs: u64
            /// Afterwards, merge what was found into the committed corpus and minimise it
            /// (`cargo fuzz cmin`).
            optional --cmin
            /// Build without AddressSanitizer (about twice the executions a second). Our
            /// crates forbid unsafe code, so ASan watches only dependencies; the long
            /// runs that count executions use this, short runs keep ASan.
            optional --no-sanitizer
        }
    }
}
