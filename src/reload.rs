//! Reloading the configuration (SIGHUP, `POST /-/reload`): the files are read and validated
//! again; a valid config replaces the engine's, keeping its state, and is logged (a restart
//! applies what came before it under the config before it); an invalid one is refused with
//! its errors and the old one stays in force. Bearer tokens and TLS certificates (and the
//! files they are read from) are taken up too. Listeners, limits and PagerDuty settings need a
//! restart.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::auth::Tokens;
use crate::config::{self, ConfigErrors, ConfigSource, FieldError, Overrides};
use crate::inbox::Input;
use crate::metrics::Metrics;
use crate::tls::Tls;

pub struct Reloader {
    source: ConfigSource,
    overrides: Overrides,
    engine: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    live: Live,
}

/// What the listeners read at each request or handshake, swapped in place by a reload: the
/// bearer tokens and TLS settings of the ingest listeners and of the admin listener.
pub struct Live {
    pub tokens: [Tokens; 2],
    pub tls: [Option<Tls>; 2],
    /// The text of the config in force, for the console.
    pub text: Arc<arc_swap::ArcSwap<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("invalid config, the old one stays in force:\n{0}")]
    Invalid(ConfigErrors),
    #[error("noisegate is shutting down")]
    Unavailable,
}

impl Reloader {
    pub fn new(
        source: ConfigSource,
        overrides: Overrides,
        engine: mpsc::Sender<Input>,
        metrics: Arc<Metrics>,
        live: Live,
    ) -> Reloader {
        Reloader { source, overrides, engine, metrics, live }
    }

    /// Reads, validates and applies the config; returns its warnings.
    pub async fn reload(&self) -> Result<Vec<String>, ReloadError> {
        let (source, overrides) = (self.source.clone(), self.overrides.clone());
        let loaded = tokio::task::spawn_blocking(move || config::load(&source, &overrides))
            .await
            .map_err(|_| ReloadError::Unavailable)?;
        let config = match loaded {
            Ok(config) => config,
            Err(errors) => {
                self.metrics.reload(false);
                tracing::error!(errors = %errors, "config reload refused; the old config stays in force");
                return Err(ReloadError::Invalid(errors));
            }
        };
        let recorded = match config.recorded() {
            Ok(recorded) => recorded,
            Err(message) => {
                self.metrics.reload(false);
                let errors = ConfigErrors(vec![FieldError { path: String::new(), message }]);
                tracing::error!(errors = %errors, "config reload refused; the old config stays in force");
                return Err(ReloadError::Invalid(errors));
            }
        };
        let (reply, applied) = oneshot::channel();
        let input = Input::Reconfigure(Box::new(config.engine), Box::new(recorded), reply);
        if self.engine.send(input).await.is_err() {
            return Err(ReloadError::Unavailable);
        }
        applied.await.map_err(|_| ReloadError::Unavailable)?;
        self.live.tokens[0].replace_with(&config.ingest_tokens);
        self.live.tokens[1].replace_with(&config.admin_tokens);
        let mut warnings = config.warnings;
        let new_tls = [&config.server.tls, &config.server.admin_tls];
        for (index, (live, new)) in self.live.tls.iter().zip(new_tls).enumerate() {
            match (live, new) {
                (Some(live), Some(new)) => live.replace_with(new),
                (None, None) => {}
                _ => warnings.push(format!(
                    "turning TLS on or off ({}) takes a restart",
                    ["server.tls", "server.admin_tls"][index]
                )),
            }
        }
        self.live.text.store(Arc::new(config.text.to_string()));
        self.metrics.reload(true);
        tracing::info!("config reloaded");
        Ok(warnings)
    }
}
