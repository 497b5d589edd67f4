//! Stopping: every long-lived task of the server watches one `watch` channel that `run`
//! sets when the server shuts down.

use tokio::sync::watch;

/// Resolves once the server is stopping (or the stop sender is gone with `run`).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&is_stopping| is_stopping).await;
}
