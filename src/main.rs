//! Entry point: installs the panic hook and mounts the app, or, in the file worker
//! (`src/platform/file_worker.rs`), runs that instead. In the service worker
//! (`src/platform/service_worker.rs`) it does nothing: the worker calls `push_preview`.

fn main() {
    if confab::platform::service_worker::in_service_worker() {
        return;
    }
    if confab::platform::file_worker::in_worker() {
        confab::run_file_worker();
    } else {
        confab::mount();
    }
}
