//! Entry point: installs the panic hook and mounts the app.

fn main() {
    confab::mount();
}
