//! Entry point: installs the panic hook and mounts the app, or, in the file worker
//! (`src/platform/file_worker.rs`), runs that instead.

fn main() {
    if confab::platform::file_worker::in_worker() {
        confab::run_file_worker();
    } else {
        confab::mount();
    }
}
