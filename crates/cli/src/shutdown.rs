//! When the server stops: on SIGTERM (systemd, `kill`) or Ctrl-C. Requests already started are
//! finished first (see `kapstone_web::serve_on`).

/// Completes on the first SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    let which = tokio::select! {
        () = ctrl_c => "interrupt",
        () = term => "SIGTERM",
    };
    tracing::info!(
        signal = which,
        "stopping: finishing requests in flight, refusing new ones"
    );
}
