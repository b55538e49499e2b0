use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::{self, ConfigSource, Overrides};
use crate::service::{self, Listeners, ServeOptions};

pub fn run(source: ConfigSource, overrides: Overrides, options: ServeOptions) -> anyhow::Result<()> {
    let config =
        config::load(&source, &overrides).map_err(|errors| anyhow::anyhow!("invalid config:\n{errors}"))?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("noisegate-io")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listeners = Listeners::bind(&config.server).await?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let options = ServeOptions { config_source: Some((source, overrides)), ..options };
        service::run(config, listeners, options, shutdown).await
    })
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = interrupt => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    shutdown.cancel();
}
